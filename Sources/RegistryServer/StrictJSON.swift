import RegistryCore

/// One strict pass over a JSON request body's bytes before a decoder reads it: what `JSONDecoder` lets
/// through but the API document, or PostgreSQL, does not. Every controller's body goes through it (see
/// `Request.decodeJSON`); the usage endpoint's own parser applies the same rules while it reads.
///
/// Refused, each naming the field: bytes that are not JSON or not UTF-8 (a UTF-16 body fails here); a
/// key twice in one object (`{"dailyTokens":5,"dailyTokens":null}`); the NUL character in any string,
/// key or value (PostgreSQL cannot store it in text); a number with a fraction or exponent (`1e3` is
/// not an integer, and no request field is fractional); `null` for a field the document does not mark
/// nullable; nesting deeper than ``maxDepth``. Iterative: no recursion over what the client sent.
struct StrictJSON {
    /// What a body may hold beyond the strict default.
    struct Options: Sendable {
        /// Field names whose value may be `null` (the document's `type: [..., 'null']`).
        var nullable: Set<String> = []
        /// Any field may be `null` and numbers may have fractions: for documents of other standards
        /// (OpenLineage facets) whose free-form parts the registry does not read.
        var foreignDocument = false

        static let strict = Options()
    }

    struct Failure: Error, Equatable {
        /// The field's path, `rules[0].constraints.maxTokens`; empty for the body as a whole.
        var field: String
        var reason: String
    }

    static var maxDepth: Int { Limits.maxJSONDepth }

    private struct Frame {
        var isObject: Bool
        /// The member being read (objects) or the element's index (arrays).
        var key = ""
        var index = 0
        /// Keys seen in this object; a set once there are many (a list is cheaper for the usual few).
        var keys: [String] = []
        var keySet: Set<String>?
    }

    private let bytes: UnsafeRawBufferPointer
    private let options: Options
    private var offset = 0
    private var stack: [Frame] = []

    private init(_ bytes: UnsafeRawBufferPointer, options: Options) {
        self.bytes = bytes
        self.options = options
    }

    /// Checks a whole body: one JSON object and nothing after it.
    static func validate(_ bytes: UnsafeRawBufferPointer, options: Options = .strict) throws(Failure) {
        var parser = StrictJSON(bytes, options: options)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{") else { throw Failure(field: "", reason: "the body must be a JSON object (UTF-8)") }
        try parser.document()
    }

    private func path() -> String {
        var text = ""
        for frame in stack {
            if frame.isObject {
                if !text.isEmpty { text += "." }
                text += frame.key
            } else {
                text += "[\(frame.index)]"
            }
        }
        return text
    }

    private func failure(_ reason: String) -> Failure { Failure(field: path(), reason: reason) }

    private mutating func document() throws(Failure) {
        var expectValue = true
        while true {
            skipWhitespace()
            if expectValue {
                guard let byte = peek() else { throw failure("the body ends before this value") }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard stack.count < Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth) levels") }
                    offset += 1
                    let isObject = byte == UInt8(ascii: "{")
                    stack.append(Frame(isObject: isObject))
                    skipWhitespace()
                    if peek() == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        offset += 1
                        stack.removeLast()
                        if stack.isEmpty { return try end() }
                        expectValue = false
                    } else if isObject {
                        try memberKey()
                    }
                    continue
                case UInt8(ascii: "\""):
                    _ = try string()
                case UInt8(ascii: "t"): try literal("true")
                case UInt8(ascii: "f"): try literal("false")
                case UInt8(ascii: "n"):
                    try literal("null")
                    if !options.foreignDocument, let frame = stack.last, !frame.isObject || !options.nullable.contains(frame.key) {
                        throw failure("must not be null: give a value, or leave the field out where it is optional")
                    }
                default:
                    try number()
                }
                expectValue = false
            } else {
                guard let frame = stack.last else { return try end() }
                switch peek() {
                case UInt8(ascii: ","):
                    offset += 1
                    if frame.isObject {
                        try memberKey()
                    } else {
                        stack[stack.count - 1].index += 1
                    }
                    expectValue = true
                case frame.isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"):
                    offset += 1
                    stack.removeLast()
                    if stack.isEmpty { return try end() }
                default:
                    throw failure(frame.isObject ? "expected ',' or '}' after this field" : "expected ',' or ']' after this element")
                }
            }
        }
    }

    private mutating func end() throws(Failure) {
        skipWhitespace()
        guard offset == bytes.count else { throw Failure(field: "", reason: "unexpected bytes after the JSON object") }
    }

    /// A member's name and its colon; refuses a name the object already has.
    private mutating func memberKey() throws(Failure) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a field name in quotes") }
        let name: String
        do {
            let (text, end) = try JSONStringLiteral.read(bytes, openingQuoteAt: offset)
            offset = end
            name = text
        } catch {
            let parent = path()
            throw Failure(field: parent.isEmpty ? "(field name)" : "\(parent) (field name)", reason: error.reason)
        }
        var frame = stack.removeLast()
        frame.key = name
        if frame.keySet == nil, frame.keys.count >= 16 { frame.keySet = Set(frame.keys) }
        let seen = frame.keySet.map { $0.contains(name) } ?? frame.keys.contains(name)
        if frame.keySet != nil { frame.keySet!.insert(name) } else { frame.keys.append(name) }
        stack.append(frame)
        guard !seen else { throw failure("appears twice in one object") }
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw failure("expected ':' after the field name") }
        offset += 1
    }

    private mutating func string() throws(Failure) -> String {
        do {
            let (text, end) = try JSONStringLiteral.read(bytes, openingQuoteAt: offset)
            offset = end
            return text
        } catch {
            throw failure(error.reason)
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count,
            UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]).elementsEqual(UnsafeRawBufferPointer(start: word.utf8Start, count: count))
        else { throw failure("is not a JSON value") }
        offset += count
    }

    /// RFC 8259's number grammar; a fraction or exponent only in foreign documents.
    private mutating func number() throws(Failure) {
        let negative = peek() == UInt8(ascii: "-")
        if negative { offset += 1 }
        let start = offset
        func digits() -> Int {
            let from = offset
            while let byte = peek(), byte >= 0x30, byte <= 0x39 { offset += 1 }
            return offset - from
        }
        let whole = digits()
        guard whole > 0 else { throw failure("is not a JSON value") }
        guard whole == 1 || bytes[offset - whole] != UInt8(ascii: "0") else { throw failure("a number must not have leading zeros") }
        var plain = true
        if peek() == UInt8(ascii: ".") {
            offset += 1
            plain = false
            guard digits() > 0 else { throw failure("is not a JSON number") }
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            offset += 1
            plain = false
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw failure("is not a JSON number") }
        }
        guard plain || options.foreignDocument else { throw failure("must be a whole number, written without a fraction or exponent") }
        // Whole numbers fit in 64 bits: the decoder's own message for one that does not names Swift.
        if plain, whole >= 19, Int64(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(negative ? start - 1 : start)..<offset]), as: UTF8.self)) == nil {
            throw failure("is out of range: a whole number from -9223372036854775808 to 9223372036854775807")
        }
    }

    private func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
    }
}
