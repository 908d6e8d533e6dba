public import Hummingbird
import HummingbirdCore
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
        // HTTP/1.1 with guards against slow and malformed clients; at most `maxConnections` open at once.
        server: .guardedHTTP1(limits: configuration.edge),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: configuration.serverName,
            availableConnectionsDelegate: MaximumAvailableConnections(configuration.edge.maxConnections, logger: logger)),
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
    let routes = RouteTable()
    // One layer for what every request goes through (id, body limit, query, problems, metrics, access
    // log): each async middleware costs every request, and the decision route sits in labs' serving paths.
    router.add(middleware: RequestEnvelopeMiddleware(maxRequestBodyBytes: configuration.limits.maxRequestBodyBytes, routes: routes))
    // The operational endpoints, outside the versioned API.
    SystemController(database: database, metrics: metrics).publicRoutes(router.group())

    // Every controller, mounted the one way: its public routes under /v1, its authenticated ones under /v1
    // behind the API key, with the party in the handler's context.
    let controllers: [any APIController] = [
        RegistryController(service: registry), RulesController(), OversightController(service: registry, sandbox: configuration.sandbox),
        LineageController(service: registry), OpenLineageController(service: registry), AccessController(service: registry),
        UsageController(service: registry), ComplianceUseController(service: registry),
        ComplianceRecordsController(service: registry), StatisticsController(service: registry),
        CatalogController(service: registry, settings: configuration.catalog),
    ]
    let open = router.group("v1")
    let authenticated = router.group("v1")
        .add(middleware: AuthenticationMiddleware(service: registry, limiter: KeyRateLimiter(limits: configuration.edge)))
        .group(context: AuthenticatedContext.self)
    for controller in controllers {
        controller.publicRoutes(open)
        controller.routes(authenticated)
    }
    // The web console, outside /v1: HTML pages made from the API's own answers, in process.
    let console = ConsoleController(session: ConsoleSession(alwaysSecure: configuration.consoleSecureCookies))
    console.routes(router)
    routes.load(router.routes.map { (path: $0.path.description, method: $0.method) })
    console.slot.set(InProcessRequest(router: router, logger: Logger(label: "datarights.console")))
    return router
}
