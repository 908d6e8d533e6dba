import PostgresClient

/// How the layers above should read errors from the store, without importing the PostgreSQL client.
public enum StoreErrors {
    /// A sentence for a client when `error` means the database is overloaded or unreachable right now
    /// (retrying later may succeed); nil for every other error.
    public static func overloadDescription(_ error: any Error) -> String? {
        switch error {
        case let poolError as PostgresPoolError:
            switch poolError {
            case .tooManyWaiters, .acquireTimeout: return "the database is busy; retry shortly"
            case .shutDown: return "the server is shutting down"
            }
        case let postgresError as PostgresError where postgresError.kind == .connection:
            return "the database is unreachable; retry shortly"
        case let postgresError as PostgresError where postgresError.isResourceOrOperatorError:
            return "the database cannot take writes right now (\(postgresError.sqlState ?? "")); retry later"
        case let serviceError as RegistryServiceError:
            switch serviceError {
            case .fenced, .commitOutcomeUnknown, .chainMoved, .turnTimedOut: return serviceError.description
            case .chainDiverged: return nil
            }
        default:
            return nil
        }
    }
}
