public import Hummingbird
import Logging
import NIOCore
public import RegistryCore

/// The request context of every DataRights route: Hummingbird's core storage plus the request id and
/// the body limit of this deployment.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The id of this request: the client's `X-Request-Id` when it sent a sane one, else a new one.
    public var requestID: String
    /// The deployment's request-body limit in bytes (``RegistryCore/Limits/maxRequestBodyBytes``).
    public var maxRequestBodyBytes: Int
    /// The party whose API key authenticated this request, set by ``AuthenticationMiddleware``; nil on
    /// public endpoints. Authenticated handlers read it from ``AuthenticatedContext/party``.
    public var party: Party?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.maxRequestBodyBytes = Limits().maxRequestBodyBytes  // the envelope middleware sets the deployment's
        self.party = nil
    }

    /// Bodies larger than this are refused with 413 when collected.
    public var maxUploadSize: Int { maxRequestBodyBytes }
}
