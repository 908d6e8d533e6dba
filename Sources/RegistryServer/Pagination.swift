import Hummingbird
import RegistryCore

/// `?cursor=…&limit=…`, validated: a bad value is a 400 naming the parameter.
struct PageRequest {
    let after: Int64
    let limit: Int

    init(_ request: Request) throws {
        try self.init(QueryParameters(request))
    }

    init(_ query: QueryParameters, cursor: String = "cursor") throws {
        after = try query.integer(cursor, in: 0...Int64.max) ?? 0
        limit = try query.integer("limit", in: 1...Limits.maxPageSize) ?? Limits.defaultPageSize
    }

    static func cursor(_ next: Int64?) -> String? { next.map(String.init) }
}

/// A page of a list, with the cursor to ask for the next one.
struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    let items: [Item]
    let nextCursor: String?
}

/// The console reads the pages it shows as the API wrote them.
extension Page: Decodable where Item: Decodable {}
