/// A Swift value that can travel to PostgreSQL as a bind parameter or a binary COPY field.
///
/// Values are always sent in PostgreSQL's binary format with an explicit type OID, so the server never
/// has to guess and a value can never be mistaken for SQL.
public protocol PostgresEncodable: Sendable {
    /// The type OID the value is sent as.
    static var postgresType: PostgresType { get }
    /// Appends the binary wire representation (without the length prefix).
    func encode(into bytes: inout [UInt8])
    /// True when the value is SQL NULL. Only `Optional.none` says yes.
    var isPostgresNull: Bool { get }
}

extension PostgresEncodable {
    public var isPostgresNull: Bool { false }
}

/// A value that can also be an element of a PostgreSQL array.
public protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {
    /// The OID of the one-dimensional array type of this element (`text[]` for `text`).
    static var postgresArrayType: PostgresType { get }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresType: PostgresType { Wrapped.postgresType }
    public func encode(into bytes: inout [UInt8]) {
        if let value = self { value.encode(into: &bytes) }
    }
    public var isPostgresNull: Bool {
        switch self {
        case .none: true
        case .some(let value): value.isPostgresNull
        }
    }
}

extension String: PostgresArrayElement {
    public static var postgresType: PostgresType { .text }
    public static var postgresArrayType: PostgresType { .textArray }
    public func encode(into bytes: inout [UInt8]) { bytes.append(contentsOf: utf8) }
}

extension Substring: PostgresEncodable {
    public static var postgresType: PostgresType { .text }
    public func encode(into bytes: inout [UInt8]) { bytes.append(contentsOf: utf8) }
}

extension Int64: PostgresArrayElement {
    public static var postgresType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
    public func encode(into bytes: inout [UInt8]) { WireFormat.append(self, to: &bytes) }
}

extension Int: PostgresArrayElement {
    public static var postgresType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
    public func encode(into bytes: inout [UInt8]) { WireFormat.append(Int64(self), to: &bytes) }
}

extension Int32: PostgresArrayElement {
    public static var postgresType: PostgresType { .int4 }
    public static var postgresArrayType: PostgresType { .int4Array }
    public func encode(into bytes: inout [UInt8]) { WireFormat.append(self, to: &bytes) }
}

extension Int16: PostgresArrayElement {
    public static var postgresType: PostgresType { .int2 }
    public static var postgresArrayType: PostgresType { .int2Array }
    public func encode(into bytes: inout [UInt8]) { WireFormat.append(self, to: &bytes) }
}

extension Bool: PostgresArrayElement {
    public static var postgresType: PostgresType { .bool }
    public static var postgresArrayType: PostgresType { .boolArray }
    public func encode(into bytes: inout [UInt8]) { bytes.append(self ? 1 : 0) }
}

extension Double: PostgresArrayElement {
    public static var postgresType: PostgresType { .float8 }
    public static var postgresArrayType: PostgresType { .float8Array }
    public func encode(into bytes: inout [UInt8]) { WireFormat.append(bitPattern, to: &bytes) }
}

/// Raw bytes travel as `bytea`.
extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresType: PostgresType {
        // `[UInt8]` is bytea, every other element type is a one-dimensional array.
        Element.self == UInt8.self ? .bytea : Element.postgresArrayType
    }

    public func encode(into bytes: inout [UInt8]) {
        // Decided by the element type, not by a cast: an empty [String] casts to [UInt8] too.
        if Element.self == UInt8.self, let raw = self as? [UInt8] {
            bytes.append(contentsOf: raw)
            return
        }
        // One-dimensional array: ndim, has-null flag, element OID, then (length, lower bound), then elements.
        WireFormat.append(Int32(isEmpty ? 0 : 1), to: &bytes)
        WireFormat.append(Int32(contains { $0.isPostgresNull } ? 1 : 0), to: &bytes)
        WireFormat.append(Element.postgresType.rawValue, to: &bytes)
        guard !isEmpty else { return }
        WireFormat.append(Int32(count), to: &bytes)
        WireFormat.append(Int32(1), to: &bytes)
        for element in self {
            if element.isPostgresNull {
                WireFormat.append(Int32(-1), to: &bytes)
                continue
            }
            let lengthOffset = bytes.count
            WireFormat.append(Int32(0), to: &bytes)
            element.encode(into: &bytes)
            let length = Int32(bytes.count - lengthOffset - 4)
            Swift.withUnsafeBytes(of: length.bigEndian) { lengthBytes in
                for index in 0..<4 { bytes[lengthOffset + index] = lengthBytes[index] }
            }
        }
    }
}

/// `UInt8` exists as an element only so that `[UInt8]` can be bytea; a PostgreSQL array of single bytes
/// is not supported.
extension UInt8: PostgresArrayElement {
    public static var postgresType: PostgresType { .bytea }
    public static var postgresArrayType: PostgresType { .bytea }
    public func encode(into bytes: inout [UInt8]) { bytes.append(self) }
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> UInt8 {
        throw PostgresError(kind: .decoding, message: "a single UInt8 cannot be decoded; decode [UInt8] from bytea")
    }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresArrayType: PostgresType { Wrapped.postgresArrayType }
}
