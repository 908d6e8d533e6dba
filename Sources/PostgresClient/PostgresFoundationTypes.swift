#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension UUID: PostgresArrayElement {
    public static var postgresType: PostgresType { .uuid }
    public static var postgresArrayType: PostgresType { .uuidArray }

    public func encode(into bytes: inout [UInt8]) {
        withUnsafeBytes(of: uuid) { bytes.append(contentsOf: $0) }
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> UUID {
        switch type {
        case .uuid:
            guard bytes.count == 16 else { throw mismatch(type) }
            var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: bytes) }
            return UUID(uuid: raw)
        case .text, .varchar:
            guard let uuid = UUID(uuidString: String(decoding: bytes, as: UTF8.self)) else { throw mismatch(type) }
            return uuid
        default:
            throw mismatch(type)
        }
    }
}

/// `timestamptz` travels as microseconds since 2000-01-01 00:00:00 UTC; `Date` is rounded to the microsecond.
extension Date: PostgresArrayElement {
    public static var postgresType: PostgresType { .timestamptz }
    public static var postgresArrayType: PostgresType { .timestamptzArray }

    /// Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
    static let postgresEpochOffsetSeconds: Double = 946_684_800

    public func encode(into bytes: inout [UInt8]) {
        let micros = ((timeIntervalSince1970 - Self.postgresEpochOffsetSeconds) * 1_000_000).rounded()
        WireFormat.append(Int64(micros), to: &bytes)
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Date {
        guard type == .timestamptz || type == .timestamp else { throw mismatch(type) }
        var offset = 0
        let micros = try WireFormat.read(Int64.self, from: bytes, at: &offset)
        if micros == .max { return .distantFuture }  // 'infinity'
        if micros == .min { return .distantPast }  // '-infinity'
        // Split to keep full microsecond precision for dates far from the epoch.
        let (seconds, remainder) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        return Date(timeIntervalSince1970: Double(seconds) + postgresEpochOffsetSeconds + Double(remainder) / 1_000_000)
    }
}

extension Decimal: PostgresArrayElement {
    public static var postgresType: PostgresType { .numeric }
    public static var postgresArrayType: PostgresType { .numericArray }

    public func encode(into bytes: inout [UInt8]) {
        // Decimal's description is plain positional notation ("-12.5"), which PostgresNumeric accepts.
        guard let numeric = PostgresNumeric(description) else {
            preconditionFailure("Decimal produced a description that is not a number: \(description)")
        }
        numeric.encode(into: &bytes)
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Decimal {
        let numeric = try PostgresNumeric.decode(from: bytes, type: type)
        guard let decimal = Decimal(string: numeric.description) else {
            throw PostgresError(kind: .decoding, message: "numeric \(numeric) does not fit in Decimal")
        }
        return decimal
    }
}
