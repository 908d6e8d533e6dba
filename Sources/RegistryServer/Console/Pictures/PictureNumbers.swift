/// Numbers as the pictures write them: coordinates, figures with thousands separators, and compact
/// axis labels. Nothing here traps: every `Int64` (including `.min` and `.max`) has a spelling.
enum PictureNumbers {
    /// A coordinate with at most one decimal ("12", "12.5"); a value that is not finite becomes 0, so a
    /// picture never carries "nan" or "inf".
    static func coordinate(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = (value * 10).rounded()
        // Coordinates are bounded by the layouts (a few thousand units), far inside Int's range.
        guard abs(tenths) < 1e15 else { return "0" }
        let whole = Int(tenths)
        let sign = whole < 0 ? "-" : ""
        let magnitude = whole.magnitude
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    /// `value` with a comma every three digits: "1,204", "-9,223,372,036,854,775,808".
    static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }

    /// A short label for an axis tick: "0", "950", "1.5k", "20M", "9.2E". At most three significant figures.
    static func compact(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let magnitude = abs(value)
        let sign = value < 0 ? "-" : ""
        let units: [(Double, String)] = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, suffix) in units where magnitude >= scale {
            return sign + shortDecimal(magnitude / scale) + suffix
        }
        return sign + shortDecimal(magnitude)
    }

    /// A non-negative number below 10^4 (or so) with one decimal when it has one: "1.5", "20", "999".
    private static func shortDecimal(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        guard tenths < 1e15 else { return "0" }
        let whole = Int(tenths)
        return whole % 10 == 0 || value >= 100 ? "\(Int((value).rounded()))" : "\(whole / 10).\(whole % 10)"
    }
}
