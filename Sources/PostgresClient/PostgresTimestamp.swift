/// A `timestamptz` as whole microseconds since 1970-01-01 UTC: exact, with none of `Date`'s floating
/// point. Use it where a value must come back bit for bit (hashes, digests).
public struct PostgresTimestamp: PostgresArrayElement, Hashable {
    public static var postgresType: PostgresType { .timestamptz }
    public static var postgresArrayType: PostgresType { .timestamptzArray }

    /// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
    static let epochOffsetMicroseconds: Int64 = 946_684_800 * 1_000_000

    public var microsecondsSince1970: Int64

    public init(microsecondsSince1970: Int64) { self.microsecondsSince1970 = microsecondsSince1970 }

    public func encode(into bytes: inout [UInt8]) {
        WireFormat.append(microsecondsSince1970 - Self.epochOffsetMicroseconds, to: &bytes)
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> PostgresTimestamp {
        guard type == .timestamptz || type == .timestamp else { throw mismatch(type) }
        var offset = 0
        return PostgresTimestamp(microsecondsSince1970: try WireFormat.read(Int64.self, from: bytes, at: &offset) + epochOffsetMicroseconds)
    }
}

/// A `date` as days since 1970-01-01.
public struct PostgresDate: PostgresArrayElement, Hashable {
    public static var postgresType: PostgresType { .date }
    public static var postgresArrayType: PostgresType { .dateArray }

    /// Days from 1970-01-01 to 2000-01-01.
    static let epochOffsetDays: Int32 = 10_957

    public var daysSince1970: Int32

    public init(daysSince1970: Int32) { self.daysSince1970 = daysSince1970 }

    public func encode(into bytes: inout [UInt8]) {
        WireFormat.append(daysSince1970 - Self.epochOffsetDays, to: &bytes)
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> PostgresDate {
        guard type == .date else { throw mismatch(type) }
        var offset = 0
        return PostgresDate(daysSince1970: try WireFormat.read(Int32.self, from: bytes, at: &offset) + epochOffsetDays)
    }
}
