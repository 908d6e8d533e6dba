/// A JSON string literal read straight from bytes (RFC 8259): the two-character escapes, `\u` escapes
/// with surrogate pairs joined, control characters and NUL (`\u0000`, which PostgreSQL cannot store)
/// refused, and the result valid UTF-8 — shared by the strict parsers (ODRL policies, usage bodies,
/// every request body's pre-pass).
public enum JSONStringLiteral {
    /// Why the bytes are not a string literal, and the offset where it was found.
    public struct Failure: Error, Equatable, Sendable {
        public var reason: String
        public var offset: Int
    }

    /// Reads the string whose opening quote is at `start`; returns it and the offset just past its
    /// closing quote. Strings without escapes are copied whole.
    public static func read(_ bytes: UnsafeRawBufferPointer, openingQuoteAt start: Int) throws(Failure) -> (text: String, end: Int) {
        precondition(start < bytes.count && bytes[start] == UInt8(ascii: "\""), "a string literal starts at its quote")
        var offset = start + 1
        let first = offset
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[first..<offset]), as: UTF8.self) else {
                    throw Failure(reason: "is not valid UTF-8", offset: first)
                }
                return (text, offset + 1)
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw Failure(reason: "control character in a string", offset: offset) }
            offset += 1
        }
        var decoded = Array(UnsafeRawBufferPointer(rebasing: bytes[first..<offset]))
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: decoded, as: UTF8.self) else { throw Failure(reason: "is not valid UTF-8", offset: first) }
                return (text, offset)
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { throw Failure(reason: "unterminated string", offset: offset) }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var value = try hex4(bytes, at: &offset)
                    // PostgreSQL stores no NUL in text or jsonb: refused here, where it costs one compare.
                    guard value != 0 else { throw Failure(reason: "must not contain the NUL character (\\u0000)", offset: offset - 6) }
                    if (0xD800..<0xDC00).contains(value) {
                        guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                            throw Failure(reason: "unpaired surrogate in a string", offset: offset)
                        }
                        offset += 2
                        let low = try hex4(bytes, at: &offset)
                        guard (0xDC00..<0xE000).contains(low) else { throw Failure(reason: "unpaired surrogate in a string", offset: offset) }
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(value) {
                        throw Failure(reason: "unpaired surrogate in a string", offset: offset)
                    }
                    guard let scalar = Unicode.Scalar(value) else { throw Failure(reason: "invalid \\u escape", offset: offset) }
                    UTF8.encode(scalar) { decoded.append($0) }
                default:
                    throw Failure(reason: "invalid escape in a string", offset: offset - 1)
                }
            default:
                guard byte >= 0x20 else { throw Failure(reason: "control character in a string", offset: offset - 1) }
                decoded.append(byte)
            }
        }
        throw Failure(reason: "unterminated string", offset: offset)
    }

    private static func hex4(_ bytes: UnsafeRawBufferPointer, at offset: inout Int) throws(Failure) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw Failure(reason: "invalid \\u escape", offset: offset) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - 0x57)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - 0x37)
            default: throw Failure(reason: "invalid \\u escape", offset: offset)
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }
}
