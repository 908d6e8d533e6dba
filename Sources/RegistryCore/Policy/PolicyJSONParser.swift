/// A strict RFC 8259 parser without recursion: containers live on an explicit stack at most
/// ``ODRL/maxDepth`` deep; duplicate keys are refused.
struct PolicyJSONParser {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    /// Why a document is not JSON, and where.
    struct SyntaxError: Error {
        var message: String
        var line: Int
        var column: Int
    }

    private struct Frame {
        var isObject: Bool
        var valueStart: Int
        var keyStart: Int
    }

    mutating func parse() throws(SyntaxError) -> PolicyJSON {
        var frames: [Frame] = []
        // Members of the open containers, innermost last; closing a container takes its tail.
        var values: [PolicyJSON] = []
        var keys: [String] = []
        next: while true {
            skipWhitespace()
            var value: PolicyJSON
            guard offset < bytes.count else { throw error("expected a value") }
            switch bytes[offset] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = bytes[offset] == UInt8(ascii: "{")
                offset += 1
                skipWhitespace()
                if consume(isObject ? "}" : "]") {
                    value = isObject ? .object([]) : .array([])
                } else {
                    guard frames.count < ODRL.maxDepth else { throw error("nested deeper than \(ODRL.maxDepth) levels") }
                    frames.append(Frame(isObject: isObject, valueStart: values.count, keyStart: keys.count))
                    if isObject { keys.append(try parseKey()) }
                    continue next
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try literal("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            default:
                throw error("expected a value")
            }
            // Give the finished value to its container; close containers that end here.
            while let frame = frames.last {
                values.append(value)
                skipWhitespace()
                if consume(",") {
                    if frame.isObject {
                        skipWhitespace()
                        keys.append(try parseKey())
                    }
                    continue next
                }
                guard consume(frame.isObject ? "}" : "]") else { throw error(frame.isObject ? "expected ',' or '}'" : "expected ',' or ']'") }
                frames.removeLast()
                if frame.isObject {
                    var members: [PolicyJSON.Member] = []
                    var seen: Set<String> = []
                    for (key, member) in zip(keys[frame.keyStart...], values[frame.valueStart...]) {
                        guard seen.insert(key).inserted else { throw error("duplicate key \"\(key)\" in the object ending here") }
                        members.append(PolicyJSON.Member(key, member))
                    }
                    keys.removeSubrange(frame.keyStart...)
                    value = .object(members)
                } else {
                    value = .array(Array(values[frame.valueStart...]))
                }
                values.removeSubrange(frame.valueStart...)
            }
            skipWhitespace()
            guard offset == bytes.count else { throw error("unexpected text after the document") }
            return value
        }
    }

    private mutating func parseKey() throws(SyntaxError) -> String {
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
        let key = try parseString()
        skipWhitespace()
        guard consume(":") else { throw error("expected ':'") }
        return key
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        let start = offset
        let read = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONStringLiteral.Failure) in try JSONStringLiteral.read(buffer, openingQuoteAt: start) }
        }
        switch read {
        case .success(let (text, end)):
            offset = end
            return text
        case .failure(let failure):
            offset = min(failure.offset, bytes.count)
            throw error(failure.reason)
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as text.
    private mutating func parseNumber() throws(SyntaxError) -> String {
        let start = offset
        _ = consume("-")
        if consume("0") {
            if offset < bytes.count, isDigit(bytes[offset]) { throw error("a number must not start with 0") }
        } else {
            guard digits() > 0 else { throw error("expected a digit") }
        }
        if consume(".") { guard digits() > 0 else { throw error("expected a digit after '.'") } }
        if consume("e") || consume("E") {
            if !consume("+") { _ = consume("-") }
            guard digits() > 0 else { throw error("expected a digit in the exponent") }
        }
        return String(decoding: bytes[start..<offset], as: UTF8.self)
    }

    private mutating func digits() -> Int {
        let start = offset
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        return offset - start
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        let matches = offset + count <= bytes.count && word.withUTF8Buffer { Array($0) } == Array(bytes[offset..<offset + count])
        guard matches else { throw error("expected a value") }
        offset += count
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x0A || bytes[offset] == 0x0D || bytes[offset] == 0x09 {
            offset += 1
        }
    }

    private mutating func consume(_ character: Unicode.Scalar) -> Bool {
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: character) else { return false }
        offset += 1
        return true
    }

    private func error(_ message: String) -> SyntaxError {
        var line = 1
        var column = 1
        for byte in bytes[..<min(offset, bytes.count)] {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SyntaxError(message: message, line: line, column: column)
    }
}
