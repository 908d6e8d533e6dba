import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus
import RegistryStore

/// The operational endpoints: liveness, readiness, metrics and the API description. None needs a key.
struct SystemController: APIController {
    let database: RegistryDatabase
    let metrics: PrometheusCollectorRegistry

    /// Mounted at the root, outside the versioned API.
    func publicRoutes(_ routes: RouterGroup<AppRequestContext>) {
        routes.get("healthz") { _, _ in Liveness(status: "alive") }
        routes.get("readyz") { _, _ in try await readiness() }
        routes.get("metrics") { _, _ in metricsResponse() }
        routes.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
    }

    func readiness() async throws -> ReadinessBody {
        switch await database.readiness() {
        case .ready(let applied):
            return ReadinessBody(
                status: "ready", database: "reachable",
                schema: .init(applied: applied, expected: database.migrations.migrations.count))
        case .notReady(let reason):
            throw Problem(.serviceUnavailable, kind: "not-ready", title: "Not ready", detail: reason)
        }
    }

    func metricsResponse() -> Response {
        let statistics = database.poolStatistics
        Gauge(label: "datarights_db_pool_connections").record(statistics.connections)
        Gauge(label: "datarights_db_pool_idle_connections").record(statistics.idle)
        Gauge(label: "datarights_db_pool_waiting_requests").record(statistics.waiting)
        // Replicas (issue 18): how this one keeps up with the others' writes.
        let following = database.following
        Gauge(label: "datarights_follow_trouble_seconds").record(following.troubleSeconds)
        Gauge(label: "datarights_follow_applied_entries").record(following.appliedEntries)
        Gauge(label: "datarights_core_rebuilds").record(following.rebuilds)
        Gauge(label: "datarights_turn_timeouts").record(following.turnTimeouts)
        // Quota leases (schema 0015): reservations made, leases lost to expiry, usage groups planned again.
        Gauge(label: "datarights_quota_reservations").record(following.quotaReservations)
        Gauge(label: "datarights_quota_leases_lost").record(following.quotaLeasesLost)
        Gauge(label: "datarights_usage_replans").record(following.usageReplans)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
    }
}

/// The OpenAPI document (`docs/openapi.yaml`), embedded at build time.
enum OpenAPIDocument {
    static let bytes: [UInt8] = {
        guard let file = EmbeddedDocuments.files.first(where: { $0.name == "openapi.yaml" }),
            let data = Data(base64Encoded: file.base64)
        else { preconditionFailure("docs/openapi.yaml was not embedded") }
        return [UInt8](data)
    }()
}
