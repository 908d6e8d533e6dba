public import HTTPTypes
public import Hummingbird
import HummingbirdCore
public import Logging
public import NIOCore
import NIOEmbedded

/// A request served by the router without a network: what `datarights report` and the console use, so
/// that what they show is the API's own answer by construction — the same authentication, authorization,
/// parameters, limits, problems, rows and CSV. The request goes through every middleware of the router
/// (but not the HTTP server's connection guards: there is no connection).
///
/// Build it from the router once every route is added (the responder is a snapshot of the routes).
public struct InProcessRequest: Sendable {
    private let responder: RouterResponder<AppRequestContext>
    private let logger: Logger

    public init(router: Router<AppRequestContext>, logger: Logger) {
        responder = router.buildResponder()
        self.logger = logger
    }

    /// The router's answer to `method pathAndQuery` with `headers` and `body`: its head, and its body
    /// still to be written (`Response.body`), so that a caller can stream it on or collect it. Errors the
    /// router throws become the response the envelope would have sent.
    public func send(_ method: HTTPRequest.Method, _ pathAndQuery: String, headers: HTTPFields, body: ByteBuffer = ByteBuffer()) async throws -> Response {
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: pathAndQuery, headerFields: headers),
            body: RequestBody(buffer: body))
        let context = AppRequestContext(source: .init(channel: EmbeddedChannel(), logger: logger))
        do {
            return try await responder.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        }
    }

    /// Sends `method pathAndQuery` and collects the body, refusing one larger than `maxBodyBytes`
    /// (the caller's bound on what it holds in memory).
    public func collect(
        _ method: HTTPRequest.Method, _ pathAndQuery: String, headers: HTTPFields, body: ByteBuffer = ByteBuffer(), maxBodyBytes: Int
    ) async throws -> (head: HTTPResponse, body: ByteBuffer) {
        let response = try await send(method, pathAndQuery, headers: headers, body: body)
        let collector = Collector(limit: maxBodyBytes)
        try await response.body.write(Writer(sink: { try await collector.append($0) }))
        return (response.head, await collector.buffer)
    }

    /// Sends `GET pathAndQuery` with `headers`; calls `body` with each part of the response body as it
    /// is written, and returns the response head.
    public func get(
        _ pathAndQuery: String, headers: HTTPFields, body: @escaping @Sendable (ByteBuffer) async throws -> Void
    ) async throws -> HTTPResponse {
        let response = try await send(.get, pathAndQuery, headers: headers)
        try await response.body.write(Writer(sink: body))
        return response.head
    }

    /// An in-process answer whose body passed the caller's bound.
    public struct BodyTooLarge: Error, Sendable {
        public let limit: Int
    }

    private actor Collector {
        let limit: Int
        var buffer = ByteBuffer()

        init(limit: Int) { self.limit = limit }

        func append(_ part: ByteBuffer) throws {
            guard buffer.readableBytes + part.readableBytes <= limit else { throw BodyTooLarge(limit: limit) }
            var part = part
            buffer.writeBuffer(&part)
        }
    }

    private struct Writer: ResponseBodyWriter {
        let sink: @Sendable (ByteBuffer) async throws -> Void

        mutating func write(_ buffer: ByteBuffer) async throws { try await sink(buffer) }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
