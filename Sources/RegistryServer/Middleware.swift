import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization
import RegistryCore
import RegistryStore

/// Everything every request goes through, in one layer (each async middleware costs every request):
/// its id (the client's `X-Request-Id` when sane, else a new one) on the response and in the log lines
/// that concern it; the body limit (a body declared larger is refused before any of it is read; bodies
/// without a declared length are cut off at the same limit when collected); every error turned into an
/// RFC 9457 problem+json answer, the server's faults logged with the request id; query parameters the
/// operation does not read refused (``RouteTable``); a known path with another method answered 405 with
/// `Allow`; the route's metrics; and the access log line.
struct RequestEnvelopeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let header = HTTPField.Name("X-Request-Id")!
    let maxRequestBodyBytes: Int
    let routes: RouteTable
    private let metrics = RequestMetrics()

    init(maxRequestBodyBytes: Int, routes: RouteTable) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.routes = routes
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let offered = request.headers[Self.header]
        let id = offered.flatMap(Self.isAcceptable) == true ? offered! : RequestIDs.next()
        context.requestID = id
        context.maxRequestBodyBytes = maxRequestBodyBytes
        let started = ContinuousClock.now
        metrics.active.increment()
        defer { metrics.active.decrement() }
        var response: Response
        do {
            if let declared = request.headers[.contentLength].flatMap(Int.init), declared > maxRequestBodyBytes {
                throw Problem.payloadTooLarge(limit: maxRequestBodyBytes)
            }
            if let endpoint = context.endpointPath, endpoint != "NotFound" {
                try routes.checkQuery(request, endpointPath: endpoint)
            }
            response = try await next(request, context)
            metrics.record(route: context.endpointPath ?? "unknown", request.method, status: Int(response.status.code), since: started, failed: false)
        } catch {
            let problem = Self.problem(for: error, request: request, context: context, routes: routes)
            metrics.record(route: context.endpointPath ?? "not found", request.method, status: problem.statusCode, since: started, failed: true)
            if problem.statusCode >= 500 {
                context.logger.error(
                    "Request failed",
                    metadata: ["error": "\(error)", "http.status": "\(problem.statusCode)", "request.id": .string(id)])
            }
            response = try problem.response(from: request, context: context)
            if problem.statusCode == 503 && response.headers[.retryAfter] == nil { response.headers[.retryAfter] = "1" }
            if problem.statusCode == 401 { response.headers[.wwwAuthenticate] = "Bearer" }
        }
        response.headers[Self.header] = id
        AccessLog.record(request, response, context: context, since: started)
        return response
    }

    /// 1–128 characters of letters, digits, `.`, `_`, `-`: enough for UUIDs and trace ids, nothing that
    /// could forge a log line.
    static func isAcceptable(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x2E || byte == 0x5F
            }
    }

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
                return .serviceUnavailable(overload)
            }
            return .internalError
        }
    }
}

/// One log line per request, after it is answered (errors included, as their problem answers): request
/// id, method, path, status, duration.
enum AccessLog {
    static func record(_ request: Request, _ response: Response, context: AppRequestContext, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "Request",
            metadata: [
                "request.id": .string(context.requestID),
                "http.method": .string(request.method.rawValue),
                "http.path": .string(request.uri.path),
                "http.status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)),
            ])
    }
}

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
            let party = service.authenticate(token: header.utf8.dropFirst("Bearer ".utf8.count))
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

/// Request ids made without a system call: a random prefix per process and a counter.
enum RequestIDs {
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }()
    private static let counter = Atomic<UInt64>(0)

    /// `3f9c0a…-1a2b`: unique within a process, and across processes with overwhelming likelihood.
    static func next() -> String {
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return prefix + "-" + String(number, radix: 16)
    }
}

/// Counts requests and times them per route, method and status, after the route has answered — leaving
/// the response body one buffer, which NIO writes with the head in one call (a middleware that wraps the
/// body to time its writing makes every response two writes).
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }

    private struct Instruments: Sendable {
        var requests: Counter
        var errors: Counter
        var duration: Timer
    }

    private let instruments = Mutex<[Key: Instruments]>([:])
    let active = Meter(label: "http.server.active_requests")

    private func instruments(for key: Key) -> Instruments {
        instruments.withLock { table in
            if let known = table[key] { return known }
            let dimensions = [
                ("http.route", key.route), ("http.request.method", key.method.rawValue), ("http.response.status_code", String(key.status)),
            ]
            let made = Instruments(
                requests: Counter(label: "hb.requests", dimensions: dimensions),
                errors: Counter(label: "hb.request.errors", dimensions: dimensions),
                duration: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds))
            table[key] = made
            return made
        }
    }

    func record(route: String, _ method: HTTPRequest.Method, status: Int, since started: ContinuousClock.Instant, failed: Bool) {
        let instruments = instruments(for: Key(route: route, method: method, status: status))
        instruments.requests.increment()
        if failed { instruments.errors.increment() }
        let elapsed = ContinuousClock.now - started
        instruments.duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
