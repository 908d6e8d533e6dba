import RegistryCore
import Synchronization

/// Per-API-key request limits: a token bucket for each key and class of route (usage, decisions, the
/// rest), and a count of the key's requests in flight.
///
/// Cheap enough for the decision route (labs' serving path): one lock of 64 a request to admit it and one
/// to release it, keys spread over the locks by hash, no allocation for keys of up to 15 bytes (the
/// prefix of `drk_<prefix>_<secret>` is 12). Memory is bounded: a bucket exists only for a key that
/// authenticated, and past ``maxTrackedKeys`` the idle ones are forgotten (a forgotten key starts again
/// with a full bucket, which errs toward the client).
final class KeyRateLimiter: Sendable {
    enum RouteClass: Int, Sendable {
        case general = 0, usage, decisions

        var name: String { ["general", "usage", "decisions"][rawValue] }
    }

    enum Admission: Equatable {
        case admitted
        /// Over the rate: retry after this many seconds.
        case limited(retryAfterSeconds: Int, rate: Int, routeClass: String)
        /// Over the key's requests in flight.
        case busy(limit: Int)
    }

    struct Rate: Sendable {
        /// Tokens added a second; 0 means no limit.
        var perSecond: Double
        var burst: Double
    }

    private struct Bucket {
        var tokens: Double
        var updatedNanoseconds: Int64
    }

    /// One bucket a class, stored inline: no array to copy on write under the lock.
    private struct KeyState {
        var general: Bucket
        var usage: Bucket
        var decisions: Bucket
        var inFlight = 0

        subscript(routeClass: RouteClass) -> Bucket {
            get {
                switch routeClass {
                case .general: general
                case .usage: usage
                case .decisions: decisions
                }
            }
            set {
                switch routeClass {
                case .general: general = newValue
                case .usage: usage = newValue
                case .decisions: decisions = newValue
                }
            }
        }
    }

    private final class Stripe: Sendable {
        let keys = Mutex<[String: KeyState]>([:])
    }

    static let stripeCount = 64
    static var maxTrackedKeys: Int { Limits.maxRateLimitedKeys }

    private let stripes: [Stripe]
    private let rates: [Rate]
    private let maxInFlight: Int
    private let start = ContinuousClock.now

    /// Off when every rate is 0 and there is no cap on requests in flight: then nothing is counted.
    let isOff: Bool

    init(limits: EdgeLimits) {
        rates = [
            Rate(perSecond: Double(limits.requestsPerSecondPerKey), burst: Double(limits.requestBurstPerKey)),
            Rate(perSecond: Double(limits.usageRequestsPerSecondPerKey), burst: Double(limits.usageRequestBurstPerKey)),
            Rate(perSecond: Double(limits.decisionRequestsPerSecondPerKey), burst: Double(limits.decisionRequestBurstPerKey)),
        ]
        maxInFlight = limits.maxConcurrentRequestsPerKey
        isOff = rates.allSatisfy { $0.perSecond == 0 } && maxInFlight == 0
        stripes = (0..<Self.stripeCount).map { _ in Stripe() }
    }

    private func stripe(_ key: String) -> Stripe {
        stripes[Int(UInt(bitPattern: key.hashValue) % UInt(Self.stripeCount))]
    }

    private func nanosecondsNow() -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }

    /// Takes a token from the key's bucket of this class and counts the request in flight, or says why not.
    /// Every admitted request must be ``release(_:)``d.
    func admit(_ key: String, _ routeClass: RouteClass) -> Admission {
        let now = nanosecondsNow()
        let rate = rates[routeClass.rawValue]
        let maxInFlight = self.maxInFlight
        return stripe(key).keys.withLock { keys in
            if keys.count >= Self.maxTrackedKeys / Self.stripeCount, keys[key] == nil {
                keys = keys.filter { $0.value.inFlight > 0 }
            }
            var state = keys[key] ?? KeyState(
                general: Bucket(tokens: rates[0].burst, updatedNanoseconds: now), usage: Bucket(tokens: rates[1].burst, updatedNanoseconds: now),
                decisions: Bucket(tokens: rates[2].burst, updatedNanoseconds: now))
            defer { keys[key] = state }
            if maxInFlight > 0, state.inFlight >= maxInFlight { return .busy(limit: maxInFlight) }
            if rate.perSecond > 0 {
                var bucket = state[routeClass]
                let refill = Double(now - bucket.updatedNanoseconds) / 1e9 * rate.perSecond
                bucket.tokens = min(rate.burst, bucket.tokens + refill)
                bucket.updatedNanoseconds = now
                guard bucket.tokens >= 1 else {
                    state[routeClass] = bucket
                    let wait = ((1 - bucket.tokens) / rate.perSecond).rounded(.up)
                    return .limited(retryAfterSeconds: max(1, Int(wait)), rate: Int(rate.perSecond), routeClass: routeClass.name)
                }
                bucket.tokens -= 1
                state[routeClass] = bucket
            }
            state.inFlight += 1
            return .admitted
        }
    }

    /// The request admitted for this key has been answered.
    func release(_ key: String) {
        stripe(key).keys.withLock { keys in
            keys[key]?.inFlight -= 1
        }
    }
}
