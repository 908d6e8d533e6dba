import HTTPTypes
import Metrics
import Synchronization

/// Counts requests and times them per route, method and status, after the route has answered — leaving
/// the response body one buffer, which NIO writes with the head in one call (a middleware that wraps the
/// body to time its writing makes every response two writes).
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }

    private struct Instruments: Sendable {
        var requests: Counter
        var errors: Counter
        var duration: Timer
    }

    private let instruments = Mutex<[Key: Instruments]>([:])
    let active = Meter(label: "http.server.active_requests")

    private func instruments(for key: Key) -> Instruments {
        instruments.withLock { table in
            if let known = table[key] { return known }
            let dimensions = [
                ("http.route", key.route), ("http.request.method", key.method.rawValue), ("http.response.status_code", String(key.status)),
            ]
            let made = Instruments(
                requests: Counter(label: "hb.requests", dimensions: dimensions),
                errors: Counter(label: "hb.request.errors", dimensions: dimensions),
                duration: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds))
            table[key] = made
            return made
        }
    }

    func record(route: String, _ method: HTTPRequest.Method, status: Int, since started: ContinuousClock.Instant, failed: Bool) {
        let instruments = instruments(for: Key(route: route, method: method, status: status))
        instruments.requests.increment()
        if failed { instruments.errors.increment() }
        let elapsed = ContinuousClock.now - started
        instruments.duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
