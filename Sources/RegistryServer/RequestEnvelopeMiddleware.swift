import HTTPTypes
import Hummingbird
import Logging
import Metrics

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
            // The console's pages read their own query (and send what the API reads on to it, checked there).
            if let endpoint = context.endpointPath, endpoint != "NotFound", !endpoint.hasPrefix("/console") {
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
}
