extension Timestamp {
    /// Parses `YYYY-MM-DDThh:mm:ss[.f…]` with `Z` or `±hh:mm`, up to six fraction digits: what
    /// ``description`` writes, and the usual variants. Nil for anything else, including leap seconds.
    public init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        func number(_ width: Int) -> Int? {
            guard offset + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[offset..<offset + width] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            offset += width
            return value
        }
        func expect(_ character: Unicode.Scalar) -> Bool {
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: character) else { return false }
            offset += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            offset < bytes.count, bytes[offset] == UInt8(ascii: "T") || bytes[offset] == UInt8(ascii: "t")
        else { return nil }
        offset += 1
        guard let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2),
            hour < 24, minute < 60, second < 60, let date = CivilDate(year: year, month: month, day: day)
        else { return nil }
        var micros: Int64 = 0
        if expect(".") {
            var digits = 0
            while offset < bytes.count, bytes[offset] >= 0x30 && bytes[offset] <= 0x39 {
                guard digits < 6 else { return nil }
                micros = micros * 10 + Int64(bytes[offset] - 0x30)
                digits += 1
                offset += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { micros *= 10 }
        }
        var offsetSeconds = 0
        if expect("Z") || expect("z") {
            offsetSeconds = 0
        } else if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
            let sign = bytes[offset] == UInt8(ascii: "-") ? -1 : 1
            offset += 1
            guard let zoneHours = number(2), expect(":"), let zoneMinutes = number(2), zoneHours < 24, zoneMinutes < 60 else { return nil }
            offsetSeconds = sign * (zoneHours * 3600 + zoneMinutes * 60)
        } else {
            return nil
        }
        guard offset == bytes.count else { return nil }
        let seconds = Int64(date.daysSince1970) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        self.init(rawValue: seconds * 1_000_000 + micros)
    }
}
