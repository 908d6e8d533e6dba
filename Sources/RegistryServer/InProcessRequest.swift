public import HTTPTypes
public import Hummingbird
import HummingbirdCore
public import Logging
public import NIOCore
import NIOEmbedded

/// One GET served by the router without a network: what `datarights report` uses, so that a report is
/// the API's own answer by construction — the same authentication, parameters, problems, rows and CSV.
/// The request goes through every middleware of the router (but not the HTTP server's connection guards:
/// there is no connection).
public struct InProcessRequest: Sendable {
    private let responder: RouterResponder<AppRequestContext>
    private let logger: Logger

    public init(router: Router<AppRequestContext>, logger: Logger) {
        responder = router.buildResponder()
        self.logger = logger
    }

    /// Sends `GET pathAndQuery` with `headers`; calls `body` with each part of the response body as it
    /// is written, and returns the response head.
    public func get(
        _ pathAndQuery: String, headers: HTTPFields, body: @escaping @Sendable (ByteBuffer) async throws -> Void
    ) async throws -> HTTPResponse {
        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: pathAndQuery, headerFields: headers),
            body: RequestBody(buffer: ByteBuffer()))
        let context = AppRequestContext(source: .init(channel: EmbeddedChannel(), logger: logger))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        try await response.body.write(Writer(sink: body))
        return response.head
    }

    private struct Writer: ResponseBodyWriter {
        let sink: @Sendable (ByteBuffer) async throws -> Void

        mutating func write(_ buffer: ByteBuffer) async throws { try await sink(buffer) }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
