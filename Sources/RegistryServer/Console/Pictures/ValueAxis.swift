/// A value axis with round ticks (1, 2 or 5 × 10^k, at least 1: the charts count whole things), spanning
/// zero and every value given. All in `Double`, so `Int64.min` and `Int64.max` scale without a trap.
struct ValueAxis {
    let lower: Double
    let upper: Double
    let step: Double

    /// An axis for values between `minimum` and `maximum` with about `tickCount` intervals.
    init(minimum: Int64, maximum: Int64, tickCount: Int = 5) {
        let low = min(Double(minimum), 0)
        var high = max(Double(maximum), 0)
        if high <= low { high = low + 1 }
        let rough = (high - low) / Double(max(tickCount, 1))
        var power = 1.0
        while power * 10 <= rough { power *= 10 }
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? power * 10
        self.step = step
        lower = (low / step).rounded(.down) * step
        upper = (high / step).rounded(.up) * step
    }

    /// The tick values from `lower` to `upper`; a dozen at most by construction.
    var ticks: [Double] {
        let count = Int(((upper - lower) / step).rounded())
        return (0...max(count, 0)).map { lower + Double($0) * step }
    }

    /// Where `value` falls between 0 (`lower`) and 1 (`upper`).
    func fraction(_ value: Double) -> Double {
        let span = upper - lower
        guard span > 0, value.isFinite else { return 0 }
        return min(max((value - lower) / span, 0), 1)
    }
}
