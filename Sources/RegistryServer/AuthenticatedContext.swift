public import Hummingbird
import Logging
public import RegistryCore

/// What every route handler's context carries, on public and authenticated routes alike.
public protocol RegistryRequestContext: RequestContext {
    /// The id of this request (echoed in `X-Request-Id` and in problems).
    var requestID: String { get }
    /// The deployment's request-body limit in bytes.
    var maxRequestBodyBytes: Int { get }
}

extension AppRequestContext: RegistryRequestContext {}

/// The context of every authenticated route: the party is known, not optional. Made from the request's
/// ``AppRequestContext`` after ``AuthenticationMiddleware`` has resolved the API key; a context without a
/// party cannot be made (401), so a handler never checks again.
public struct AuthenticatedContext: ChildRequestContext, RegistryRequestContext {
    public typealias ParentContext = AppRequestContext
    public var coreContext: CoreRequestContextStorage
    public let requestID: String
    public let maxRequestBodyBytes: Int
    /// The party whose API key authenticated this request.
    public let party: Party

    public init(context: AppRequestContext) throws {
        guard let party = context.party else { throw Problem.unauthenticated() }
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.maxRequestBodyBytes = context.maxRequestBodyBytes
        self.party = party
    }

    /// Bodies larger than this are refused with 413 when collected.
    public var maxUploadSize: Int { maxRequestBodyBytes }
}

/// How every controller exposes its routes — the one way to add an endpoint (docs/ARCHITECTURE.md, "To add
/// an endpoint"). `buildRouter` mounts each controller's public routes under `/v1` without a key and its
/// authenticated routes under `/v1` behind the API key; a controller declares the ones it has.
protocol APIController: Sendable {
    /// Routes anyone may call, without an API key.
    func publicRoutes(_ routes: RouterGroup<AppRequestContext>)
    /// Routes of an authenticated party: the handler's context names it.
    func routes(_ routes: RouterGroup<AuthenticatedContext>)
}

extension APIController {
    func publicRoutes(_ routes: RouterGroup<AppRequestContext>) {}
    func routes(_ routes: RouterGroup<AuthenticatedContext>) {}
}
