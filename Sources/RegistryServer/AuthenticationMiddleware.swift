import HTTPTypes
import Hummingbird
import RegistryCore
import RegistryStore

/// Authenticates `Authorization: Bearer …` against the core's API keys (no database round trip), holds
/// the key to its request limits (``KeyRateLimiter``: 429 with `Retry-After` over its rate or its requests
/// in flight) and puts the party in the context. Routes decide what the party may do; public routes skip
/// this middleware.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let service: RegistryService
    let limiter: KeyRateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The first Authorization field as sent (the subscript would join repeated fields into a new string).
        guard let header = request.headers.first(where: { $0.name == .authorization })?.value, header.hasPrefix("Bearer "),
            let party = service.registry.authenticate(token: header.utf8.dropFirst("Bearer ".utf8.count))
        else {
            throw Problem.unauthenticated()
        }
        var context = context
        context.party = party
        guard !limiter.isOff else { return try await next(request, context) }
        // `Bearer drk_<prefix>_<secret>`, already checked: the prefix names the key.
        let afterScheme = header.dropFirst("Bearer drk_".count)
        let key = String(afterScheme.prefix { $0 != "_" })
        let routeClass: KeyRateLimiter.RouteClass
        switch context.endpointPath {
        case "/v1/usage": routeClass = .usage
        case "/v1/decisions": routeClass = .decisions
        default: routeClass = .general
        }
        switch limiter.admit(key, routeClass) {
        case .admitted:
            break
        case .limited(let retryAfter, let rate, let name):
            throw Problem.tooManyRequests(
                "this API key may make \(rate) \(name) requests a second; retry after \(retryAfter) s", retryAfterSeconds: retryAfter)
        case .busy(let limit):
            throw Problem.tooManyRequests("this API key has \(limit) requests in flight, its most at once", retryAfterSeconds: 1)
        }
        defer { limiter.release(key) }
        return try await next(request, context)
    }
}
