import Hummingbird
import Logging
import Metrics
import PostgresClient
import Prometheus
import RegistryCore
import RegistryServer
import RegistryStore
import TestSupport

/// Builds the real application on a fresh database of the test cluster.
enum TestApp {
    /// swift-metrics can be bootstrapped once per process; every test app shares this registry.
    static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(MetricsBootstrap.factory(for: registry))
        return registry
    }()

    static func make(
        limits: Limits = Limits(), migrate: Bool = true, connection: PostgresConfiguration? = nil, function: String = #function
    ) async throws -> (app: some ApplicationProtocol, database: RegistryDatabase) {
        let configuration: PostgresConfiguration
        if let connection {
            configuration = connection
        } else {
            configuration = try await TestCluster.makeDatabase(function: function)
        }
        let database = try RegistryDatabase(configuration: configuration, limits: limits, logger: Logger(label: "test.server"))
        if migrate { try await database.migrate() }
        let app = buildApplication(
            configuration: ServerConfiguration(port: 0, limits: limits), database: database, metrics: metrics,
            logger: Logger(label: "test.server"))
        return (app, database)
    }
}
