public import Hummingbird
public import Logging
public import Prometheus
import RegistryCore
public import RegistryStore

/// Builds the DataRights HTTP application. `main` and the tests call this same function.
///
/// - Parameters:
///   - configuration: address, mode and limits.
///   - database: the durable store (its pool must be running).
///   - metrics: the Prometheus registry that `GET /metrics` exposes; the process's metrics factory
///     must write into it.
public func buildApplication(
    configuration: ServerConfiguration,
    database: RegistryDatabase,
    registry: RegistryService,
    metrics: PrometheusCollectorRegistry,
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, database: database, registry: registry, metrics: metrics)
    return Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: configuration.serverName),
        services: [RegistryClockService(service: registry, logger: logger)],
        logger: logger)
}

/// The router with every middleware and route; exposed for in-process tests.
public func buildRouter(
    configuration: ServerConfiguration,
    database: RegistryDatabase,
    registry: RegistryService,
    metrics: PrometheusCollectorRegistry
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    // Order matters: the identity is set first so that every later layer (and every error) has it, and
    // it writes the access log after the problem mapping has turned every error into an answer; metrics
    // sit inside, counting each route's answers. Few layers: each async middleware costs every request.
    router.add(middleware: RequestIdentityMiddleware(maxRequestBodyBytes: configuration.limits.maxRequestBodyBytes))
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: RequestMetricsMiddleware())
    router.addRoutes(SystemController(database: database, metrics: metrics).endpoints)

    let registryController = RegistryController(service: registry)
    registryController.publicRoutes(router.group("v1"))
    let authenticated = router.group("v1").add(middleware: AuthenticationMiddleware(service: registry))
    registryController.authenticatedRoutes(authenticated)
    OversightController(service: registry).routes(authenticated, sandbox: configuration.sandbox)
    LineageController(service: registry).routes(authenticated)
    OpenLineageController(service: registry).routes(authenticated)
    AccessController(service: registry).routes(authenticated)
    return router
}
