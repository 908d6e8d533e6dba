import Foundation

/// The limits of the HTTP edge: connections, request heads, slow clients and per-key request rates.
/// The service's other limits are in `RegistryCore.Limits`; `docs/SECURITY.md` lists both with their
/// defaults and where each is set (`datarights serve` flags and `DATARIGHTS_*` environment variables).
public struct EdgeLimits: Sendable, Equatable {
    /// Open connections the server accepts at once; further ones wait in the listen backlog.
    public var maxConnections: Int = 4_096
    /// Longest request target (path and query), in bytes; longer is 414.
    public var maxURLBytes: Int = 8 * 1_024
    /// Largest header field, and all header fields together, in bytes; larger is 431.
    public var maxHeaderFieldBytes: Int = 16 * 1_024
    public var maxHeaderBytes: Int = 64 * 1_024
    /// Most header fields in one request; more is 431.
    public var maxHeaderFields: Int = 100
    /// From a request's first byte to the end of its head, in seconds: slower is cut off (408).
    public var requestHeadTimeoutSeconds: Int = 10
    /// From a request's head to the end of its body, in seconds: slower is cut off.
    public var requestBodyTimeoutSeconds: Int = 60
    /// A keep-alive connection with no request for this long is closed, in seconds.
    public var idleTimeoutSeconds: Int = 75

    /// Requests a second each API key may make, sustained, and in a burst, on routes other than usage
    /// and decisions; 0 turns the limit off.
    public var requestsPerSecondPerKey: Int = 200
    public var requestBurstPerKey: Int = 400
    /// `POST /v1/usage` has its own bucket per key (each request carries up to 4,096 events).
    public var usageRequestsPerSecondPerKey: Int = 1_000
    public var usageRequestBurstPerKey: Int = 2_000
    /// `GET` and `POST /v1/decisions` have their own bucket per key: they sit in labs' serving paths.
    public var decisionRequestsPerSecondPerKey: Int = 100_000
    public var decisionRequestBurstPerKey: Int = 200_000
    /// Requests of one API key in flight at once; more get 429. 0 turns the cap off.
    public var maxConcurrentRequestsPerKey: Int = 256

    public init() {}

    /// Problems with these limits, in words; empty when they are consistent.
    public func validate() -> [String] {
        var problems: [String] = []
        func check(_ name: String, _ value: Int, _ range: ClosedRange<Int>) {
            if !range.contains(value) { problems.append("\(name) must be between \(range.lowerBound) and \(range.upperBound), is \(value)") }
        }
        check("maxConnections", maxConnections, 1...1_000_000)
        check("maxURLBytes", maxURLBytes, 256...1 << 20)
        check("maxHeaderFieldBytes", maxHeaderFieldBytes, 256...1 << 20)
        check("maxHeaderBytes", maxHeaderBytes, 1_024...4 << 20)
        check("maxHeaderFields", maxHeaderFields, 8...10_000)
        check("requestHeadTimeoutSeconds", requestHeadTimeoutSeconds, 1...3_600)
        check("requestBodyTimeoutSeconds", requestBodyTimeoutSeconds, 1...3_600)
        check("idleTimeoutSeconds", idleTimeoutSeconds, 1...86_400)
        for (name, rate, burst) in [
            ("requests", requestsPerSecondPerKey, requestBurstPerKey), ("usageRequests", usageRequestsPerSecondPerKey, usageRequestBurstPerKey),
            ("decisionRequests", decisionRequestsPerSecondPerKey, decisionRequestBurstPerKey),
        ] {
            check("\(name)PerSecondPerKey", rate, 0...10_000_000)
            if rate > 0 && burst < 1 { problems.append("\(name)BurstPerKey must be at least 1 when the rate is on") }
        }
        check("maxConcurrentRequestsPerKey", maxConcurrentRequestsPerKey, 0...1_000_000)
        // The HTTP decoder holds the request target to the header field limit as well.
        if maxURLBytes > maxHeaderFieldBytes { problems.append("maxURLBytes must not exceed maxHeaderFieldBytes") }
        if maxHeaderFieldBytes > maxHeaderBytes { problems.append("maxHeaderFieldBytes must not exceed maxHeaderBytes") }
        return problems
    }
}

extension EdgeLimits {
    /// Every limit by its name, for `--edge-limit name=value` and `DATARIGHTS_EDGE_LIMITS`.
    public static var names: [String: WritableKeyPath<EdgeLimits, Int>] {
        [
        "maxConnections": \.maxConnections, "maxURLBytes": \.maxURLBytes, "maxHeaderFieldBytes": \.maxHeaderFieldBytes,
        "maxHeaderBytes": \.maxHeaderBytes, "maxHeaderFields": \.maxHeaderFields,
        "requestHeadTimeoutSeconds": \.requestHeadTimeoutSeconds, "requestBodyTimeoutSeconds": \.requestBodyTimeoutSeconds,
        "idleTimeoutSeconds": \.idleTimeoutSeconds,
        "requestsPerSecondPerKey": \.requestsPerSecondPerKey, "requestBurstPerKey": \.requestBurstPerKey,
        "usageRequestsPerSecondPerKey": \.usageRequestsPerSecondPerKey, "usageRequestBurstPerKey": \.usageRequestBurstPerKey,
        "decisionRequestsPerSecondPerKey": \.decisionRequestsPerSecondPerKey, "decisionRequestBurstPerKey": \.decisionRequestBurstPerKey,
        "maxConcurrentRequestsPerKey": \.maxConcurrentRequestsPerKey,
        ]
    }

    /// Applies `name=value` settings, separated by commas or given one by one; a problem in words for
    /// an unknown name or a value that is not a whole number.
    public mutating func apply(_ settings: [String]) throws(EdgeLimitsError) {
        for item in settings.flatMap({ $0.split(separator: ",") }) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let path = Self.names[parts[0]] else {
                throw EdgeLimitsError(description: "unknown edge limit '\(item)': one of \(Self.names.keys.sorted().joined(separator: ", "))")
            }
            guard let value = Int(parts[1]) else { throw EdgeLimitsError(description: "edge limit \(parts[0]) must be a whole number, is '\(parts[1])'") }
            self[keyPath: path] = value
        }
    }
}

public struct EdgeLimitsError: Error, CustomStringConvertible {
    public var description: String
}
