import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresClient
import RegistryCore
import RegistryServer
import RegistryStore
import Testing

/// The operational endpoints and the error contract, driven through the real router.
@Suite struct SystemEndpointTests {
    static let requestID = HTTPField.Name("X-Request-Id")!

    @Test func healthzAnswersAlive() async throws {
        let (app, database) = try await TestApp.make()
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"alive"}"#)
                #expect(response.headers[Self.requestID] != nil)
            }
        }
    }

    @Test func readyzIsReadyWhenTheDatabaseAnswersAndIsMigrated() async throws {
        let (app, database) = try await TestApp.make()
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                #expect(body?["status"] as? String == "ready")
                let schema = body?["schema"] as? [String: Int]
                #expect(schema?["applied"] == schema?["expected"])
            }
        }
    }

    @Test func readyzIs503WhileMigrationsArePending() async throws {
        let (app, database) = try await TestApp.make(migrate: false)
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains("migration(s) pending"))
            }
        }
    }

    @Test func readyzIs503WhenTheDatabaseIsUnreachable() async throws {
        var limits = Limits()
        limits.readinessTimeoutMilliseconds = 1_000
        // A socket directory where no server listens.
        let nowhere = PostgresConfiguration(host: "/tmp/datarights-no-server-here", port: 5999, user: "x", database: "x")
        let (app, database) = try await TestApp.make(limits: limits, migrate: false, connection: nowhere)
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = String(buffer: response.body)
                #expect(body.contains("database unreachable"))
                // The public answer does not name the database server, its database or its user.
                #expect(!body.contains("datarights-no-server-here") && !body.contains("5999") && !body.contains("user="), "\(body)")
                #expect(body.contains(#""type":"https:\/\/datarights.example\/problems\/not-ready""#) || body.contains("problems/not-ready"))
            }
        }
    }

    @Test func unknownPathsAnswerProblemJSONWithTheRequestID() async throws {
        let (app, database) = try await TestApp.make()
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/v1/nothing-here", method: .get, headers: [Self.requestID: "trace-123.abc"]) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[Self.requestID] == "trace-123.abc")
                let problem = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                #expect(problem?["status"] as? Int == 404)
                #expect(problem?["title"] as? String == "Not found")
                #expect(problem?["instance"] as? String == "/v1/nothing-here")
                #expect(problem?["requestId"] as? String == "trace-123.abc")
                #expect((problem?["type"] as? String)?.hasSuffix("/not-found") == true)
            }
            // An id that could forge a log line is replaced, not echoed.
            try await client.checkingContract.execute(uri: "/healthz", method: .get, headers: [Self.requestID: "evil\nline"]) { response in
                let id = response.headers[Self.requestID] ?? ""
                #expect(!id.isEmpty && !id.contains("evil"))
            }
        }
    }

    @Test func bodiesOverTheLimitAreRefusedWith413() async throws {
        var limits = Limits()
        limits.maxRequestBodyBytes = 4_096
        let (app, database) = try await TestApp.make(limits: limits)
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 10_000)
            try await client.checkingContract.execute(uri: "/v1/datasets", method: .post, body: body) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains("request body exceeds 4096 bytes"))
            }
        }
    }

    @Test func metricsExposePrometheusTextIncludingRequestCounts() async throws {
        let (app, database) = try await TestApp.make()
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/healthz", method: .get)
            try await client.checkingContract.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"http_server_requests_total{http_route="/healthz""#))
                #expect(text.contains("# TYPE http_server_request_duration_seconds histogram"))
                #expect(text.contains("datarights_db_pool_connections"))
                for replicaGauge in [
                    "datarights_follow_trouble_seconds", "datarights_follow_applied_entries", "datarights_core_rebuilds", "datarights_turn_timeouts",
                    "datarights_quota_reservations", "datarights_quota_leases_lost", "datarights_usage_replans",
                ] {
                    #expect(text.contains("# TYPE \(replicaGauge) gauge"), "\(replicaGauge)")
                }
            }
        }
    }

    @Test func theOpenAPIDocumentIsServedAndDescribesEveryRoute() async throws {
        let (app, database) = try await TestApp.make()
        defer { Task { await database.shutdown() } }
        try await app.test(.router) { client in
            try await client.checkingContract.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/yaml") == true)
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("openapi: 3.1"))
                for path in ["/healthz:", "/readyz:", "/metrics:", "/openapi.yaml:"] {
                    #expect(text.contains("\n  \(path)"), "document lists \(path)")
                }
            }
        }
    }
}
