import Metrics
public import Prometheus

/// Metrics plumbing: one Prometheus registry per process, fed by swift-metrics.
public enum MetricsBootstrap {
    /// Makes a metrics factory writing into `registry`, with names and labels made Prometheus-safe
    /// (`http.server.request.duration` → `http_server_request_duration`).
    public static func factory(for registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (conventionalNames[name] ?? sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        return factory
    }

    /// Prometheus naming conventions for the metrics Hummingbird emits: units and `_total` in names.
    static let conventionalNames: [String: String] = [
        "hb.requests": "http_server_requests_total",
        "hb.request.errors": "http_server_request_errors_total",
        "http.server.request.duration": "http_server_request_duration_seconds",
        "http.server.active_requests": "http_server_active_requests",
    ]

    static func sanitize(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            let isSafe = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") || scalar == "_"
            result.unicodeScalars.append(isSafe ? scalar : "_")
        }
        return result
    }
}
