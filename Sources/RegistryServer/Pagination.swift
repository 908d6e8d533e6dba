import Hummingbird
import RegistryCore

/// `?cursor=…&limit=…`, validated: a bad value is a 400 naming the parameter.
struct PageRequest {
    let after: Int64
    let limit: Int

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        if let cursor = query["cursor"] {
            guard let value = Int64(String(cursor)), value >= 0 else {
                throw Problem.badRequest("cursor is not one this API gave out", errors: [.init(field: "cursor", reason: "invalid")])
            }
            after = value
        } else {
            after = 0
        }
        if let limitText = query["limit"] {
            guard let value = Int(String(limitText)), (1...Limits.maxPageSize).contains(value) else {
                throw Problem.badRequest("limit must be 1 to \(Limits.maxPageSize)", errors: [.init(field: "limit", reason: "1 to \(Limits.maxPageSize)")])
            }
            limit = value
        } else {
            limit = Limits.defaultPageSize
        }
    }

    static func cursor(_ next: Int64?) -> String? { next.map(String.init) }
}

/// An optional enum query parameter, or a 400 naming it and the values it takes.
func queryEnum<T: RawRepresentable & CaseIterable>(_ request: Request, _ name: String, _: T.Type) throws -> T? where T.RawValue == String {
    guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
    guard let value = T(rawValue: String(text)) else {
        throw Problem.invalidField(name, "must be one of: " + T.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return value
}

/// An optional id query parameter, or a 400 naming it.
func queryID(_ request: Request, _ name: String) throws -> Int64? {
    guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
    guard let id = StrictID.parse(text) else { throw Problem.invalidField(name, StrictID.reason) }
    return id
}
