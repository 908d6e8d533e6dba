/// A Swift type that a binary result value can be decoded into.
public protocol PostgresDecodable {
    /// Decodes a non-NULL value of the given type OID; throws ``PostgresError/Kind/decoding`` when the type
    /// does not fit.
    static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Self
    /// The value for SQL NULL. Only `Optional` has one; everything else throws.
    static func decodeNull() throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws -> Self {
        throw PostgresError(kind: .decoding, message: "NULL cannot be decoded as non-optional \(Self.self)")
    }

    static func mismatch(_ type: PostgresType) -> PostgresError {
        PostgresError(kind: .decoding, message: "cannot decode PostgreSQL \(type) as \(Self.self)")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Wrapped? {
        try Wrapped.decode(from: bytes, type: type)
    }
    public static func decodeNull() throws -> Wrapped? { nil }
}

extension String: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> String {
        switch type {
        case .text, .varchar, .bpchar, .name, .json, .unknown:
            return String(decoding: bytes, as: UTF8.self)
        case .jsonb:
            // jsonb's binary form is a version byte (1) followed by the JSON text.
            guard let version = bytes.first, version == 1 else { throw mismatch(type) }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), as: UTF8.self)
        case .numeric:
            return try PostgresNumeric.decode(from: bytes, type: type).description
        default:
            throw mismatch(type)
        }
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Int64 {
        var offset = 0
        switch type {
        case .int8: return try WireFormat.read(Int64.self, from: bytes, at: &offset)
        case .int4: return Int64(try WireFormat.read(Int32.self, from: bytes, at: &offset))
        case .int2: return Int64(try WireFormat.read(Int16.self, from: bytes, at: &offset))
        case .oid: return Int64(try WireFormat.read(UInt32.self, from: bytes, at: &offset))
        default: throw mismatch(type)
        }
    }
}

extension Int: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Int {
        Int(try Int64.decode(from: bytes, type: type))
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Int32 {
        let wide = try Int64.decode(from: bytes, type: type)
        guard let narrow = Int32(exactly: wide) else {
            throw PostgresError(kind: .decoding, message: "\(wide) does not fit in Int32")
        }
        return narrow
    }
}

extension Int16: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Int16 {
        let wide = try Int64.decode(from: bytes, type: type)
        guard let narrow = Int16(exactly: wide) else {
            throw PostgresError(kind: .decoding, message: "\(wide) does not fit in Int16")
        }
        return narrow
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Bool {
        guard type == .bool, bytes.count == 1 else { throw mismatch(type) }
        return bytes[0] != 0
    }
}

extension Double: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> Double {
        var offset = 0
        switch type {
        case .float8: return Double(bitPattern: try WireFormat.read(UInt64.self, from: bytes, at: &offset))
        case .float4: return Double(Float(bitPattern: try WireFormat.read(UInt32.self, from: bytes, at: &offset)))
        case .int8, .int4, .int2: return Double(try Int64.decode(from: bytes, type: type))
        default: throw mismatch(type)
        }
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> [Element] {
        if Element.self == UInt8.self {
            guard type == .bytea else { throw mismatch(type) }
            return Array<UInt8>(bytes) as! [Element]  // The branch above proves Element is UInt8.
        }
        var offset = 0
        let dimensions = try WireFormat.read(Int32.self, from: bytes, at: &offset)
        _ = try WireFormat.read(Int32.self, from: bytes, at: &offset)  // has-null flag; each element says
        let elementType = PostgresType(rawValue: try WireFormat.read(UInt32.self, from: bytes, at: &offset))
        guard dimensions > 0 else { return [] }
        guard dimensions == 1 else {
            throw PostgresError(kind: .decoding, message: "only one-dimensional arrays are supported, got \(dimensions)")
        }
        let count = Int(try WireFormat.read(Int32.self, from: bytes, at: &offset))
        _ = try WireFormat.read(Int32.self, from: bytes, at: &offset)  // lower bound
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try WireFormat.read(Int32.self, from: bytes, at: &offset))
            if length < 0 {
                elements.append(try Element.decodeNull())
                continue
            }
            guard offset + length <= bytes.count else {
                throw PostgresError(kind: .decoding, message: "array element overruns its value")
            }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
            elements.append(try Element.decode(from: slice, type: elementType))
            offset += length
        }
        return elements
    }
}
