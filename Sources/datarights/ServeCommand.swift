import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import Metrics
import Prometheus
import RegistryCore
import RegistryServer
import RegistryStore
import UnixSignals

/// `datarights serve`: runs the HTTP API until SIGTERM or SIGINT, then shuts down gracefully (requests
/// in flight finish, the pool closes, an embedded cluster this process started is stopped).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the DataRights HTTP API.")

    @Option(help: "Address to listen on. (env: DATARIGHTS_HOST, default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. (env: DATARIGHTS_PORT, default: 8080)")
    var port: Int?

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Sandbox mode: enables the test-clock endpoints. Never in production. (env: DATARIGHTS_SANDBOX)")
    var sandbox = false

    @Flag(help: "Mark the web console's cookies Secure always (behind a TLS proxy that sends no X-Forwarded-Proto). (env: DATARIGHTS_CONSOLE_SECURE_COOKIES)")
    var consoleSecureCookies = false

    @Flag(help: "Do not apply pending migrations at start; readiness stays 503 until `datarights migrate` runs. (env: DATARIGHTS_NO_MIGRATE)")
    var noMigrate = false

    @Flag(help: "Log the state digest once the core is loaded (seconds at a million datasets). (env: DATARIGHTS_DIGEST_AT_START)")
    var digestAtStart = false

    @Flag(help: "On an empty database, load a synthetic demo registry first and print demo API keys. (env: DATARIGHTS_DEMO)")
    var demo = false

    @Option(help: "Datasets in the demo registry.")
    var demoDatasets = 5_000

    @Option(help: "trace, debug, info, notice, warning, error or critical. (env: DATARIGHTS_LOG_LEVEL, default: info)")
    var logLevel: String?

    @Option(help: "PostgreSQL connections in the pool. (env: DATARIGHTS_POOL_SIZE, default: 8)")
    var poolSize: Int?

    @Option(help: "Largest request body accepted, in bytes. (env: DATARIGHTS_MAX_BODY_BYTES, default: 1048576)")
    var maxBodyBytes: Int?

    @Option(help: ArgumentHelp(
        "How old a usage event may be when reported, in seconds; idempotency keys are kept in memory this long. "
            + "(env: DATARIGHTS_USAGE_REPORT_WINDOW, default: 86400)"))
    var usageReportWindow: Int?

    @Option(help: ArgumentHelp(
        "Most idempotency keys kept in memory (about 57 bytes each); older keys are checked in PostgreSQL. "
            + "(env: DATARIGHTS_USAGE_KEY_MEMORY, default: 4000000)"))
    var usageKeyMemory: Int?

    @Option(help: ArgumentHelp(
        "The URL the API is reached at from outside, which the public DCAT-AP catalog's links start with. "
            + "(env: DATARIGHTS_PUBLIC_URL, default: http://<host>:<port>)"))
    var publicURL: String?

    @Option(help: "The public catalog's publisher, by name. (env: DATARIGHTS_CATALOG_PUBLISHER, default: the registry's operator party)")
    var catalogPublisher: String?

    @Option(help: ArgumentHelp(
        "An edge limit as name=value, repeatable or comma-separated: connections, request heads, slow clients, per-key rates "
            + "(docs/SECURITY.md lists each with its default). (env: DATARIGHTS_EDGE_LIMITS, e.g. requestsPerSecondPerKey=500,maxConnections=8192)"))
    var edgeLimit: [String] = []

    func run() async throws {
        let logger = LoggingSetup.bootstrap(level: try Setting.logLevel(logLevel))
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(MetricsBootstrap.factory(for: metrics))

        var limits = Limits()
        limits.databasePoolConnections = try Setting.int(poolSize, env: "DATARIGHTS_POOL_SIZE", default: limits.databasePoolConnections)
        limits.maxRequestBodyBytes = try Setting.int(maxBodyBytes, env: "DATARIGHTS_MAX_BODY_BYTES", default: limits.maxRequestBodyBytes)
        limits.usageReportWindowSeconds = Int64(
            try Setting.int(usageReportWindow, env: "DATARIGHTS_USAGE_REPORT_WINDOW", default: Int(limits.usageReportWindowSeconds)))
        limits.usageKeyMemory = try Setting.int(usageKeyMemory, env: "DATARIGHTS_USAGE_KEY_MEMORY", default: limits.usageKeyMemory)
        // A benchmark switch (Benchmarks/usage-http.sh): measure the durable usage rate without the rollups.
        limits.usageRollups = !(try Setting.bool(false, env: "DATARIGHTS_BENCH_NO_USAGE_ROLLUPS"))
        let problems = limits.validate()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        var edge = EdgeLimits()
        do {
            try edge.apply(Setting.optionalString(nil, env: "DATARIGHTS_EDGE_LIMITS").map { [$0] } ?? [])
            try edge.apply(edgeLimit)
        } catch {
            throw ValidationError(error.description)
        }
        let edgeProblems = edge.validate()
        guard edgeProblems.isEmpty else { throw ValidationError(edgeProblems.joined(separator: "; ")) }
        let listenHost = Setting.string(host, env: "DATARIGHTS_HOST", default: "127.0.0.1")
        let listenPort = try Setting.int(port, env: "DATARIGHTS_PORT", default: 8080)
        let catalogURL = Setting.string(publicURL, env: "DATARIGHTS_PUBLIC_URL", default: "http://\(listenHost):\(listenPort)")
        let publisher = Setting.optionalString(catalogPublisher, env: "DATARIGHTS_CATALOG_PUBLISHER")
        guard let catalog = PublicCatalogSettings(publicURL: catalogURL, publisherName: publisher) else {
            throw ValidationError(
                "--public-url must be an http or https URL without a query or fragment (got \(catalogURL)), "
                    + "and --catalog-publisher a name of 1 to \(Limits.maxShortTextLength) characters")
        }
        let configuration = ServerConfiguration(
            host: listenHost, port: listenPort, sandbox: try Setting.bool(sandbox, env: "DATARIGHTS_SANDBOX"), limits: limits, edge: edge,
            catalog: catalog,
            consoleSecureCookies: try Setting.bool(consoleSecureCookies, env: "DATARIGHTS_CONSOLE_SECURE_COOKIES"))

        let migrateAtStart = try !Setting.bool(noMigrate, env: "DATARIGHTS_NO_MIGRATE")
        let loadDemo = try Setting.bool(demo, env: "DATARIGHTS_DEMO")
        let logDigest = try Setting.bool(digestAtStart, env: "DATARIGHTS_DIGEST_AT_START")

        // Start-up opens in order; if a step fails, what it opened is closed, newest first. Then the
        // service group runs it all with the app and closes it when it shuts down.
        let startup = await Startup.begin(logger: logger)
        let (app, store) = try await startup.run {
            let store = try await startup.openStore(database, limits: limits, migrate: migrateAtStart)
            var demoLoaded = false
            if loadDemo {
                do {
                    print(try await DemoLoad.load(datasets: demoDatasets, seed: 2_026, into: store, logger: logger))
                    demoLoaded = true
                } catch BulkLoader.Failure.notEmpty {
                    logger.notice("Demo requested, but the database already holds a registry: serving it as it is")
                } catch BulkLoader.Failure.replicaWriting {
                    // Replicas started together: one loads the demo, the others follow what it commits.
                    logger.notice("Demo requested, but another replica is writing this database: serving what it holds")
                }
            }
            let registry = try await RegistryService.open(
                database: store, sandbox: configuration.sandbox, logger: logger, logDigest: logDigest)
            startup.opened(RegistryCoreService(registry: registry))
            if demoLoaded {
                print(try await DemoLoad.issueKeys(registry))
                fflush(nil)  // shown at once even when stdout is a file or a pipe
            }
            return (buildApplication(configuration: configuration, database: store, registry: registry, metrics: metrics, logger: logger), store)
        }
        logger.notice(
            "DataRights serving",
            metadata: ["address": "http://\(configuration.host):\(configuration.port)", "sandbox": "\(configuration.sandbox)"])
        try await Serving.run(app, startup: startup, database: store, limits: limits, logger: logger)
        logger.notice("DataRights stopped")
    }
}
