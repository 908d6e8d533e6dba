/// An exact PostgreSQL `numeric`, kept as its decimal text so that no digit is ever lost.
///
/// Use it for money and quantities where `Double` would round; convert to `Decimal` when arithmetic is
/// needed. Accepts plain positional notation: an optional sign, digits, an optional fraction
/// (`"-1234.5600"`), and `NaN`.
public struct PostgresNumeric: PostgresArrayElement, Hashable, CustomStringConvertible {
    public static var postgresType: PostgresType { .numeric }
    public static var postgresArrayType: PostgresType { .numericArray }

    /// The canonical text: no leading zeros, scale as given.
    public let description: String

    public init?(_ text: some StringProtocol) {
        guard let canonical = Self.canonicalize(text) else { return nil }
        self.description = canonical
    }

    // Binary format: ndigits, weight (of the first base-10000 digit), sign, display scale, digits.
    private static let signPositive: UInt16 = 0x0000
    private static let signNegative: UInt16 = 0x4000
    private static let signNaN: UInt16 = 0xC000

    public func encode(into bytes: inout [UInt8]) {
        if description == "NaN" {
            for value in [Int16(0), 0] { WireFormat.append(value, to: &bytes) }
            WireFormat.append(Self.signNaN, to: &bytes)
            WireFormat.append(Int16(0), to: &bytes)
            return
        }
        var text = Substring(description)
        let negative = text.first == "-"
        if negative { text = text.dropFirst() }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerDigits = Array(parts[0].utf8).map { Int16($0 - 48) }
        let fractionDigits = parts.count > 1 ? Array(parts[1].utf8).map { Int16($0 - 48) } : []

        // Pad the integer part on the left and the fraction on the right to whole base-10000 digits.
        let integerPadding = (4 - integerDigits.count % 4) % 4
        let fractionPadding = (4 - fractionDigits.count % 4) % 4
        let padded = Array(repeating: Int16(0), count: integerPadding) + integerDigits
            + fractionDigits + Array(repeating: Int16(0), count: fractionPadding)
        var groups: [Int16] = stride(from: 0, to: padded.count, by: 4).map { start in
            padded[start] * 1000 + padded[start + 1] * 100 + padded[start + 2] * 10 + padded[start + 3]
        }
        var weight = (integerDigits.count + integerPadding) / 4 - 1
        while let first = groups.first, first == 0 {
            groups.removeFirst()
            weight -= 1
        }
        while let last = groups.last, last == 0 { groups.removeLast() }
        if groups.isEmpty { weight = 0 }

        WireFormat.append(Int16(groups.count), to: &bytes)
        WireFormat.append(Int16(weight), to: &bytes)
        WireFormat.append(negative && !groups.isEmpty ? Self.signNegative : Self.signPositive, to: &bytes)
        WireFormat.append(Int16(fractionDigits.count), to: &bytes)
        for group in groups { WireFormat.append(group, to: &bytes) }
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> PostgresNumeric {
        guard type == .numeric else { throw mismatch(type) }
        var offset = 0
        let count = Int(try WireFormat.read(Int16.self, from: bytes, at: &offset))
        let weight = Int(try WireFormat.read(Int16.self, from: bytes, at: &offset))
        let sign = try WireFormat.read(UInt16.self, from: bytes, at: &offset)
        let scale = Int(try WireFormat.read(Int16.self, from: bytes, at: &offset))
        var groups: [Int] = []
        for _ in 0..<count { groups.append(Int(try WireFormat.read(Int16.self, from: bytes, at: &offset))) }
        switch sign {
        case signNaN: return PostgresNumeric(trusted: "NaN")
        case 0xD000: return PostgresNumeric(trusted: "Infinity")
        case 0xF000: return PostgresNumeric(trusted: "-Infinity")
        default: break
        }
        func group(_ index: Int) -> Int { index >= 0 && index < groups.count ? groups[index] : 0 }

        var text = sign == signNegative ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            text += String(group(0))
            if weight >= 1 {
                for index in 1...weight { text += Self.fourDigits(group(index)) }
            }
        }
        if scale > 0 {
            var fraction = ""
            var index = weight + 1
            while fraction.count < scale {
                fraction += Self.fourDigits(group(index))
                index += 1
            }
            text += "." + fraction.prefix(scale)
        }
        return PostgresNumeric(trusted: text)
    }

    private init(trusted: String) { self.description = trusted }

    private static func fourDigits(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    private static func canonicalize(_ text: some StringProtocol) -> String? {
        if text == "NaN" { return "NaN" }
        var body = Substring(text)
        var negative = false
        if body.first == "-" || body.first == "+" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !(parts[0].isEmpty && (parts.count == 1 || parts[1].isEmpty)) else { return nil }
        guard parts.allSatisfy({ $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }) else { return nil }
        var integer = parts[0].drop { $0 == "0" }
        if integer.isEmpty { integer = "0" }
        let fraction = parts.count == 2 ? parts[1] : ""
        let isZero = integer == "0" && fraction.allSatisfy { $0 == "0" }
        var result = (negative && !isZero ? "-" : "") + integer
        if !fraction.isEmpty { result += "." + fraction }
        return result
    }
}

/// A `json` or `jsonb` value as UTF-8 JSON text. Sent as `jsonb`; decodes from either.
public struct PostgresJSONB: PostgresArrayElement, Hashable {
    public static var postgresType: PostgresType { .jsonb }
    public static var postgresArrayType: PostgresType { .jsonbArray }

    /// The JSON text, UTF-8.
    public var utf8: [UInt8]

    public init(utf8: [UInt8]) { self.utf8 = utf8 }
    public init(_ text: String) { self.utf8 = Array(text.utf8) }

    /// The JSON text.
    public var text: String { String(decoding: utf8, as: UTF8.self) }

    public func encode(into bytes: inout [UInt8]) {
        bytes.append(1)  // jsonb binary format version
        bytes.append(contentsOf: utf8)
    }

    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresType) throws -> PostgresJSONB {
        switch type {
        case .jsonb:
            guard bytes.first == 1 else { throw mismatch(type) }
            return PostgresJSONB(utf8: Array(bytes.dropFirst()))
        case .json, .text:
            return PostgresJSONB(utf8: Array(bytes))
        default:
            throw mismatch(type)
        }
    }
}
