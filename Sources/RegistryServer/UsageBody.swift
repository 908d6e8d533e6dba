import RegistryCore

/// Reads the body of `POST /v1/usage` straight from its bytes: the market's hot write path, where a
/// general JSON decoder would cost more than the metering itself.
///
/// `{"events": [{"grant": "GR-…", "tokens": 1200, "at": "2026-11-29T10:00:00Z", "key": "…", "metadata": {…}}]}`
/// Strict: unknown fields, duplicate fields, wrong types, trailing bytes and nesting deeper than
/// ``maxDepth`` are refused, each with the path of the field.
struct UsageBodyParser {
    struct Failure: Error, Equatable {
        var field: String
        var reason: String
    }

    static var maxDepth: Int { Limits.maxUsageBodyDepth }

    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    /// The last `at` read, and its time: events of one request are mostly stamped alike.
    private var lastAt: [UInt8]?
    private var lastTime = Timestamp(microsecondsSince1970: 0)

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> [UsageEvent] {
        var parser = UsageBodyParser(bytes)
        let events = try parser.document()
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw Failure(field: "", reason: "unexpected bytes after the JSON object") }
        return events
    }

    private mutating func document() throws(Failure) -> [UsageEvent] {
        try expect(UInt8(ascii: "{"), at: "", what: "a JSON object")
        var events: [UsageEvent]?
        if try !consumeClose(UInt8(ascii: "}")) {
            repeat {
                let name = try key(at: "")
                guard name == "events" else { throw Failure(field: name, reason: "unknown field") }
                guard events == nil else { throw Failure(field: "events", reason: "appears twice") }
                events = try eventList()
            } while try nextMember(closing: UInt8(ascii: "}"), at: "")
        }
        guard let events else { throw Failure(field: "events", reason: "required: an array of usage events") }
        return events
    }

    private mutating func eventList() throws(Failure) -> [UsageEvent] {
        try expect(UInt8(ascii: "["), at: "events", what: "an array")
        var events: [UsageEvent] = []
        if try consumeClose(UInt8(ascii: "]")) { return events }
        repeat {
            guard events.count < Limits.maxUsageEventsPerRequest else {
                throw Failure(field: "events", reason: "at most \(Limits.maxUsageEventsPerRequest) events a request")
            }
            events.append(try event(at: events.count))
        } while try nextMember(closing: UInt8(ascii: "]"), at: "events")
        return events
    }

    private mutating func event(at index: Int) throws(Failure) -> UsageEvent {
        // Paths are spelled out only for an error.
        func path() -> String { "events[\(index)]" }
        try expect(UInt8(ascii: "{"), at: path(), what: "an object")
        var grant: String?
        var tokens: Int64?
        var at: Timestamp?
        var key: String?
        var metadata: String?
        if try !consumeClose(UInt8(ascii: "}")) {
            repeat {
                let name = try self.key(at: path())
                func field() -> String { "\(path()).\(name)" }
                func once<T>(_ value: T?) throws(Failure) {
                    if value != nil { throw Failure(field: field(), reason: "appears twice") }
                }
                switch name {
                case "grant":
                    try once(grant)
                    grant = try string(at: field())
                case "tokens":
                    try once(tokens)
                    tokens = try integer(at: field())
                case "at":
                    try once(at)
                    at = try time(at: field())
                case "key":
                    try once(key)
                    key = try string(at: field())
                case "metadata":
                    try once(metadata)
                    skipWhitespace()
                    let start = offset
                    guard peek() == UInt8(ascii: "{") else { throw Failure(field: field(), reason: "must be a JSON object") }
                    try skipValue(at: field())
                    guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self) else {
                        throw Failure(field: field(), reason: "is not valid UTF-8")
                    }
                    metadata = text
                default:
                    throw Failure(field: field(), reason: "unknown field (grant, tokens, at, key, metadata)")
                }
            } while try nextMember(closing: UInt8(ascii: "}"), at: path())
        }
        guard let grant else { throw Failure(field: "\(path()).grant", reason: "required: the grant's number") }
        guard let tokens else { throw Failure(field: "\(path()).tokens", reason: "required: tokens used") }
        guard let at else { throw Failure(field: "\(path()).at", reason: "required: when the use happened") }
        guard let key else { throw Failure(field: "\(path()).key", reason: "required: an idempotency key") }
        return UsageEvent(grant: grant, tokens: tokens, usedAt: at, key: key, metadata: metadata)
    }

    /// An `at`: the same bytes as the event before are the same time, read without making a string.
    private mutating func time(at field: @autoclosure () -> String) throws(Failure) -> Timestamp {
        skipWhitespace()
        var bytesOfText: [UInt8]
        if peek() == UInt8(ascii: "\""), let end = bytes[(offset + 1)...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
            bytes[end] == UInt8(ascii: "\"")
        {
            let raw = UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<end])
            if let lastAt, raw.elementsEqual(lastAt) {
                offset = end + 1
                return lastTime
            }
            bytesOfText = Array(raw)
        } else {
            bytesOfText = []
        }
        let text = try string(at: field())
        guard let value = Timestamp(iso8601: text) else {
            throw Failure(field: field(), reason: "must be an ISO 8601 time with its offset, e.g. 2026-11-29T10:00:00Z")
        }
        if bytesOfText.isEmpty { bytesOfText = Array(text.utf8) }
        lastAt = bytesOfText
        lastTime = value
        return value
    }

    // MARK: Tokens

    private func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, at path: @autoclosure () -> String, what: String) throws(Failure) {
        skipWhitespace()
        guard peek() == byte else { throw Failure(field: path(), reason: "must be \(what)") }
        offset += 1
    }

    /// Consumes `byte` (an empty object's or array's end) when it comes next.
    private mutating func consumeClose(_ byte: UInt8) throws(Failure) -> Bool {
        skipWhitespace()
        guard peek() == byte else { return false }
        offset += 1
        return true
    }

    /// After a member: true at a comma (another follows), false at `closing`.
    private mutating func nextMember(closing: UInt8, at path: @autoclosure () -> String) throws(Failure) -> Bool {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: ","):
            offset += 1
            return true
        case closing:
            offset += 1
            return false
        default:
            throw Failure(field: path(), reason: "expected ',' or '\(Character(Unicode.Scalar(closing)))' at byte \(offset)")
        }
    }

    private mutating func key(at path: @autoclosure () -> String) throws(Failure) -> String {
        let name = try string(at: path().isEmpty ? "(field name)" : "\(path()) (field name)")
        try expect(UInt8(ascii: ":"), at: path().isEmpty ? name : "\(path()).\(name)", what: "followed by ':'")
        return name
    }

    private mutating func string(at field: @autoclosure () -> String) throws(Failure) -> String {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw Failure(field: field(), reason: "must be a string") }
        do {
            let (text, end) = try JSONStringLiteral.read(bytes, openingQuoteAt: offset)
            offset = end
            return text
        } catch {
            throw Failure(field: field(), reason: error.reason)
        }
    }

    /// A JSON integer that fits in 64 bits (no fraction, no exponent).
    private mutating func integer(at field: @autoclosure () -> String) throws(Failure) -> Int64 {
        skipWhitespace()
        let negative = peek() == UInt8(ascii: "-")
        if negative { offset += 1 }
        let start = offset
        var value: Int64 = 0
        while let byte = peek(), byte >= 0x30, byte <= 0x39 {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = shifted.addingReportingOverflow(Int64(byte - 0x30))
            guard !overflow1, !overflow2 else { throw Failure(field: field(), reason: "too large") }
            value = added
            offset += 1
        }
        guard offset > start else { throw Failure(field: field(), reason: "must be an integer") }
        guard offset - start == 1 || bytes[start] != UInt8(ascii: "0") else { throw Failure(field: field(), reason: "leading zeros are not JSON") }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw Failure(field: field(), reason: "must be a whole number")
        }
        return negative ? -value : value
    }

    /// Skips one JSON value, checking its grammar, iteratively (no recursion) and at most ``maxDepth`` deep.
    private mutating func skipValue(at field: @autoclosure () -> String) throws(Failure) {
        var closers: [UInt8] = []
        var expectValue = true
        while true {
            skipWhitespace()
            if expectValue {
                guard let byte = peek() else { throw Failure(field: field(), reason: "unexpected end of JSON") }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard closers.count < Self.maxDepth else { throw Failure(field: field(), reason: "nested deeper than \(Self.maxDepth)") }
                    offset += 1
                    let closer = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    closers.append(closer)
                    skipWhitespace()
                    if peek() == closer {
                        offset += 1
                        closers.removeLast()
                        if closers.isEmpty { return }
                        expectValue = false
                    } else if closer == UInt8(ascii: "}") {
                        _ = try key(at: field())
                    }
                    continue
                case UInt8(ascii: "\""):
                    _ = try string(at: field())
                case UInt8(ascii: "t"): try literal("true", at: field())
                case UInt8(ascii: "f"): try literal("false", at: field())
                case UInt8(ascii: "n"): try literal("null", at: field())
                default:
                    try number(at: field())
                }
                expectValue = false
            } else {
                guard let closer = closers.last else { return }
                switch peek() {
                case UInt8(ascii: ","):
                    offset += 1
                    if closer == UInt8(ascii: "}") { _ = try key(at: field()) }
                    expectValue = true
                case closer:
                    offset += 1
                    closers.removeLast()
                    if closers.isEmpty { return }
                default:
                    throw Failure(field: field(), reason: "malformed JSON at byte \(offset)")
                }
            }
        }
    }

    private mutating func literal(_ word: StaticString, at field: @autoclosure () -> String) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count,
            UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]).elementsEqual(UnsafeRawBufferPointer(start: word.utf8Start, count: count))
        else { throw Failure(field: field(), reason: "malformed JSON at byte \(offset)") }
        offset += count
    }

    private mutating func number(at field: @autoclosure () -> String) throws(Failure) {
        let start = offset
        if peek() == UInt8(ascii: "-") { offset += 1 }
        func digits() -> Int {
            let from = offset
            while let byte = peek(), byte >= 0x30, byte <= 0x39 { offset += 1 }
            return offset - from
        }
        let whole = digits()
        guard whole > 0, whole == 1 || bytes[offset - whole] != UInt8(ascii: "0") else {
            offset = start
            throw Failure(field: field(), reason: "malformed JSON at byte \(start)")
        }
        if peek() == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw Failure(field: field(), reason: "malformed number at byte \(start)") }
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            offset += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw Failure(field: field(), reason: "malformed number at byte \(start)") }
        }
    }
}
