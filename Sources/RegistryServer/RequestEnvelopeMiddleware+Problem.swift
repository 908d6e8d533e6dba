import Hummingbird
import NIOCore
import NIOHTTP1
import RegistryCore
import RegistryStore

extension RequestEnvelopeMiddleware {
    /// The problem+json answer for an error thrown by a route or by the envelope itself: problems as
    /// they are, HTTP/1.1 and body-size failures as 400 and 413, a known path with another method as 405
    /// with `Allow`, the core's refusals by their rule, an overloaded store as 503, anything else as 500.
    static func problem(for error: any Error, request: Request, context: Context, routes: RouteTable) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case is HTTPParserError:
            // The body broke HTTP/1.1's grammar while the route read it (an invalid chunk size).
            return .badRequest("the request body is not well-formed HTTP/1.1 (chunked encoding)")
        case is NIOTooManyBytesError:
            // A body without a declared length (chunked) that ran past the limit while collected.
            return .payloadTooLarge(limit: context.maxRequestBodyBytes)
        case let httpError as HTTPError:
            switch httpError.status {
            case .notFound:
                let methods = routes.methods(at: request.uri.path)
                if !methods.isEmpty, !methods.contains(request.method) {
                    var problem = Problem(
                        .methodNotAllowed, kind: "method-not-allowed", title: "Method not allowed",
                        detail: "\(request.method.rawValue) is not an operation of this path")
                    problem.allow = methods.map(\.rawValue).joined(separator: ", ")
                    return problem
                }
                return .notFound(httpError.body ?? "no resource at this path")
            case .contentTooLarge:
                return .payloadTooLarge(limit: context.maxRequestBodyBytes)
            case .methodNotAllowed:
                return Problem(.methodNotAllowed, kind: "method-not-allowed", title: "Method not allowed", detail: httpError.body)
            default:
                let kind = httpError.status.code < 500 ? "invalid-request" : "internal-error"
                return Problem(httpError.status, kind: kind, title: httpError.status.reasonPhrase, detail: httpError.body)
            }
        case let decoding as DecodingError:
            return RequestDecoding.problem(for: decoding)
        case let registryError as RegistryError:
            return .from(registryError)
        default:
            if let overload = StoreErrors.overloadDescription(error) {
                var problem = Problem.serviceUnavailable(overload)
                problem.retryAfterSeconds = 1
                return problem
            }
            return .internalError
        }
    }
}
