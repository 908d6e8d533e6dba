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
        let (app, database, _) = try await makeWithRegistry(limits: limits, migrate: migrate, connection: connection, function: function)
        return (app, database)
    }

    /// The router of a sandbox server (every route), for checks of the routes themselves.
    static func makeRouter(function: String = #function) async throws -> (Router<AppRequestContext>, RegistryService, RegistryDatabase) {
        let configuration = try await TestCluster.makeDatabase(function: function)
        let database = try RegistryDatabase(configuration: configuration, limits: Limits(), logger: Logger(label: "test.server"))
        try await database.migrate()
        let registry = try await RegistryService.open(database: database, sandbox: true, logger: Logger(label: "test.server"))
        let router = buildRouter(
            configuration: ServerConfiguration(port: 0, sandbox: true), database: database, registry: registry, metrics: metrics)
        return (router, registry, database)
    }

    static func makeWithRegistry(
        limits: Limits = Limits(), edge: EdgeLimits = EdgeLimits(), migrate: Bool = true, sandbox: Bool = true,
        connection: PostgresConfiguration? = nil, function: String = #function
    ) async throws -> (app: some ApplicationProtocol, database: RegistryDatabase, registry: RegistryService) {
        let configuration: PostgresConfiguration
        if let connection {
            configuration = connection
        } else {
            configuration = try await TestCluster.makeDatabase(function: function)
        }
        let database = try RegistryDatabase(configuration: configuration, limits: limits, logger: Logger(label: "test.server"))
        if migrate { try await database.migrate() }
        // Without the schema the core cannot load; readiness tests then run on an empty core.
        let registry = try await RegistryService.open(database: database, sandbox: sandbox, logger: Logger(label: "test.server"), loadState: migrate)
        let app = buildApplication(
            configuration: ServerConfiguration(port: 0, sandbox: sandbox, limits: limits, edge: edge), database: database, registry: registry,
            metrics: metrics, logger: Logger(label: "test.server"))
        return (app, database, registry)
    }
}
