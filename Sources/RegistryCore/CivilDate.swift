/// A calendar date with no time zone: the unit of notice periods and deadlines.
///
/// Stored as days since 1970-01-01 (proleptic Gregorian). Conversions use Howard Hinnant's
/// days-from-civil algorithms, exact for every date this service will see.
public struct CivilDate: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var daysSince1970: Int32

    public init(daysSince1970: Int32) { self.daysSince1970 = daysSince1970 }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= Self.daysInMonth(year: year, month: month) else { return nil }
        let adjustedYear = month <= 2 ? year - 1 : year
        let era = (adjustedYear >= 0 ? adjustedYear : adjustedYear - 399) / 400
        let yearOfEra = adjustedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        daysSince1970 = Int32(era * 146_097 + dayOfEra - 719_468)
    }

    /// The first and last dates the registry reads or writes: every date is `YYYY-MM-DD` with a four-digit
    /// year, so it reads back as it was written.
    public static let earliest = CivilDate(year: 1900, month: 1, day: 1)!
    public static let latest = CivilDate(year: 9999, month: 12, day: 31)!
    /// The range in words, for answers that refuse a date.
    public static let rangeDescription = "a date YYYY-MM-DD between 1900-01-01 and 9999-12-31"

    /// Parses `YYYY-MM-DD`: ten ASCII characters, digits and two hyphens, a real calendar date between
    /// ``earliest`` and ``latest``.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), year >= 1900 else { return nil }
        self.init(year: year, month: month, day: day)
    }

    public var components: (year: Int, month: Int, day: Int) {
        let z = Int(daysSince1970) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// ISO weekday: 1 Monday … 7 Sunday.
    public var isoWeekday: Int {
        // 1970-01-01 was a Thursday (4).
        let weekday = (Int(daysSince1970) % 7 + 7 + 3) % 7 + 1
        return weekday
    }

    public var isWeekend: Bool { isoWeekday >= 6 }

    public func adding(days: Int) -> CivilDate { CivilDate(daysSince1970: daysSince1970 + Int32(days)) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.daysSince1970 < rhs.daysSince1970 }

    public var description: String {
        let (year, month, day) = components
        let yearDigits = String(year)
        let yearText = year >= 0 && yearDigits.count < 4 ? String(repeating: "0", count: 4 - yearDigits.count) + yearDigits : yearDigits
        let monthText = month < 10 ? "0\(month)" : "\(month)"
        let dayText = day < 10 ? "0\(day)" : "\(day)"
        return "\(yearText)-\(monthText)-\(dayText)"
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Codable as "YYYY-MM-DD".
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = CivilDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected \(Self.rangeDescription)"))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Which days are working days: Monday to Friday, less listed public holidays, plus listed make-up
/// working days (weekend days worked in exchange for a holiday, as China's calendar does).
public struct WorkingCalendar: Sendable, Equatable, Codable {
    public var holidays: Set<CivilDate>
    public var workingWeekendDays: Set<CivilDate>
    /// The calendar's offset from UTC in seconds; dates change at local midnight (default UTC+8).
    /// Within ``utcOffsetRange``, the offsets in use on Earth.
    public var utcOffsetSeconds: Int

    /// UTC−12:00 to UTC+14:00.
    public static let utcOffsetRange = -12 * 3_600...14 * 3_600

    public init(holidays: Set<CivilDate> = [], workingWeekendDays: Set<CivilDate> = [], utcOffsetSeconds: Int = 8 * 3600) {
        self.holidays = holidays
        self.workingWeekendDays = workingWeekendDays
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case holidays, workingWeekendDays, utcOffsetSeconds
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        holidays = Set(try container.decode([CivilDate].self, forKey: .holidays))
        workingWeekendDays = Set(try container.decode([CivilDate].self, forKey: .workingWeekendDays))
        utcOffsetSeconds = try container.decode(Int.self, forKey: .utcOffsetSeconds)
    }

    /// The listed days in date order: a set's own order changes from process to process (seeded
    /// hashing), and the state digest and the audit chain hash this encoding.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(holidays.sorted(), forKey: .holidays)
        try container.encode(workingWeekendDays.sorted(), forKey: .workingWeekendDays)
        try container.encode(utcOffsetSeconds, forKey: .utcOffsetSeconds)
    }

    public func isWorkingDay(_ date: CivilDate) -> Bool {
        if workingWeekendDays.contains(date) { return true }
        return !date.isWeekend && !holidays.contains(date)
    }

    /// The date `count` working days after `date` (not counting `date` itself). A notice accepted on a
    /// Friday with `count` 1 ends on the following Monday, if that is a working day.
    public func adding(workingDays count: Int, to date: CivilDate) -> CivilDate {
        precondition(count >= 0, "working days to add must not be negative")
        var current = date
        var remaining = count
        // Bounded: even a calendar of nothing but holidays stops after ten years of searching.
        var guardDays = 3_660 + count * 7
        while remaining > 0 && guardDays > 0 {
            current = current.adding(days: 1)
            if isWorkingDay(current) { remaining -= 1 }
            guardDays -= 1
        }
        precondition(remaining == 0, "the calendar has no working days left within ten years of \(date)")
        return current
    }

    /// The working days strictly after `start` up to and including `end`.
    public func workingDays(after start: CivilDate, through end: CivilDate) -> Int {
        guard end > start else { return 0 }
        var count = 0
        var day = start.adding(days: 1)
        while day <= end {
            if isWorkingDay(day) { count += 1 }
            day = day.adding(days: 1)
        }
        return count
    }

    /// The local calendar date at `timestamp`.
    public func date(at timestamp: Timestamp) -> CivilDate {
        let localSeconds = timestamp.microsecondsSince1970 / 1_000_000 + Int64(utcOffsetSeconds)
        let days = localSeconds >= 0 ? localSeconds / 86_400 : (localSeconds - 86_399) / 86_400
        return CivilDate(daysSince1970: Int32(days))
    }
}
