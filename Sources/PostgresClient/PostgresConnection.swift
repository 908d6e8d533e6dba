private import CLibPQ
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libpq connection. Every call blocks the calling thread until the server answers.
///
/// Use it only on a thread you own: ``PostgresPool`` hands a connection to a closure running on one of
/// the pool's own threads. Never call it from an event loop or from Swift's cooperative pool. It is not
/// `Sendable`; do not let it escape the closure it was handed to.
public final class PostgresConnection {
    let handle: OpaquePointer
    public let logger: Logger
    /// Statements prepared on this connection, keyed by SQL text and parameter types.
    private var preparedStatements: [String: String] = [:]

    /// Connects with `PQconnectdbParams`; throws a ``PostgresError/Kind/connection`` error on failure.
    public init(configuration: PostgresConfiguration, logger: Logger) throws {
        let keywords = configuration.parameters.map { strdup($0.keyword) } + [nil]
        let values = configuration.parameters.map { strdup($0.value) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let connection = keywords.withUnsafeBufferPointer { keywordPointers in
            values.withUnsafeBufferPointer { valuePointers in
                keywordPointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keywordArray in
                    valuePointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { valueArray in
                        PQconnectdbParams(keywordArray.baseAddress, valueArray.baseAddress, 1)
                    }
                }
            }
        }
        guard let connection else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(
                kind: .connection, message: "could not connect to PostgreSQL (\(configuration)): \(message)")
        }
        self.handle = connection
        var logger = logger
        logger[metadataKey: "db.backend_pid"] = "\(PQbackendPID(connection))"
        self.logger = logger
        // Server notices (and the FATAL a terminated backend sends) go to the logger, not to stderr.
        PQsetNoticeProcessor(
            connection,
            { context, message in
                guard let context, let message else { return }
                let connection = Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue()
                connection.logger.debug("PostgreSQL notice", metadata: ["db.notice": "\(PostgresConnection.trimmed(message))"])
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { PQfinish(handle) }

    /// The server process serving this connection (`pg_backend_pid()`).
    public var backendPID: Int32 { PQbackendPID(handle) }

    /// The server's version as an integer, e.g. 150018 for 15.18.
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// True once libpq has seen the connection break.
    public var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// True when no transaction is open.
    public var isIdle: Bool { PQtransactionStatus(handle) == PQTRANS_IDLE }

    // MARK: Statements

    /// Runs one statement with its bind parameters and returns its rows (binary format).
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> PostgresResult {
        let result = Self.withParameterArrays(query.bindings) { count, types, values, lengths, formats in
            PQexecParams(handle, query.sql, count, types, values, lengths, formats, 1)
        }
        return try check(result, context: query.sql)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) throws -> Int {
        try self.query(query).affectedRows
    }

    /// Runs a script of one or more statements with no parameters (simple query protocol), such as a
    /// migration file. Never build `sql` from values.
    public func executeScript(_ sql: String) throws {
        var failure: PostgresError?
        guard PQsendQuery(handle, sql) == 1 else { throw connectionError(context: "sending script") }
        // A script yields one result per statement; drain all of them and report the first failure.
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            if status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY && failure == nil {
                failure = makeError(result, context: "script")
            }
            PQclear(result)
        }
        if let failure { throw failure }
        if isBroken { throw connectionError(context: "script") }
    }

    // MARK: Errors

    func check(_ result: OpaquePointer?, context: String) throws -> PostgresResult {
        guard let result else { throw connectionError(context: context) }
        let status = PQresultStatus(result)
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY {
            return PostgresResult(taking: result)
        }
        let error = makeError(result, context: context)
        PQclear(result)
        throw error
    }

    func makeError(_ result: OpaquePointer, context: String) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        if let sqlState = field(CLibPQ_DIAG_SQLSTATE) {
            return PostgresError(
                kind: .server, sqlState: sqlState, message: field(CLibPQ_DIAG_MESSAGE_PRIMARY) ?? "unknown error",
                detail: field(CLibPQ_DIAG_MESSAGE_DETAIL), hint: field(CLibPQ_DIAG_MESSAGE_HINT),
                constraint: field(CLibPQ_DIAG_CONSTRAINT_NAME))
        }
        if isBroken { return connectionError(context: context) }
        let message = Self.trimmed(PQresultErrorMessage(result))
        if PQresultStatus(result) == PGRES_FATAL_ERROR {
            // An error libpq made itself (no SQLSTATE): the server went away ("server closed the connection
            // unexpectedly") before libpq marked the connection bad.
            return PostgresError(kind: .connection, message: "connection failed during \(context): \(message)")
        }
        return PostgresError(kind: .protocolViolation, message: message.isEmpty ? "unexpected result status for \(context)" : message)
    }

    func connectionError(context: String) -> PostgresError {
        PostgresError(kind: .connection, message: "connection failed during \(context): \(Self.trimmed(PQerrorMessage(handle)))")
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }

    // MARK: Parameters

    /// Lays out bind parameters as the parallel C arrays libpq wants: one contiguous buffer of values,
    /// their lengths, their type OIDs, and all formats binary.
    static func withParameterArrays<R>(
        _ bindings: PostgresBindings,
        _ body: (
            Int32, UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?,
            UnsafePointer<Int32>?
        ) -> R
    ) -> R {
        let binds = bindings.binds
        if binds.isEmpty { return body(0, nil, nil, nil, nil) }
        var types: [UInt32] = []
        var lengths: [Int32] = []
        var offsets: [Int] = []
        var buffer: [UInt8] = []
        types.reserveCapacity(binds.count)
        lengths.reserveCapacity(binds.count)
        offsets.reserveCapacity(binds.count)
        for bind in binds {
            types.append(bind.type.rawValue)
            if let bytes = bind.bytes {
                offsets.append(buffer.count)
                lengths.append(Int32(bytes.count))
                buffer.append(contentsOf: bytes)
            } else {
                offsets.append(-1)
                lengths.append(0)
            }
        }
        buffer.append(0)  // Keeps the base address non-nil when every value is empty.
        let formats = [Int32](repeating: 1, count: binds.count)
        return buffer.withUnsafeBufferPointer { raw in
            let base = UnsafeRawPointer(raw.baseAddress!).assumingMemoryBound(to: CChar.self)
            let values: [UnsafePointer<CChar>?] = offsets.map { $0 < 0 ? nil : base + $0 }
            return body(Int32(binds.count), types, values, lengths, formats)
        }
    }

    /// The name of a server-side prepared statement for `sql` with these parameter types, preparing it
    /// on first use.
    func preparedStatementName(for sql: String, types: [PostgresType]) throws -> String {
        let key = sql + "\u{0}" + types.map { String($0.rawValue) }.joined(separator: ",")
        if let name = preparedStatements[key] { return name }
        let name = "dr_stmt_\(preparedStatements.count + 1)"
        let oids = types.map { $0.rawValue }
        let result = PQprepare(handle, name, sql, Int32(oids.count), oids)
        _ = try check(result, context: "prepare \(sql)")
        preparedStatements[key] = name
        return name
    }
}
