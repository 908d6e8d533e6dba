import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where an import sends its requests: `http://HOST:PORT` and the API key.
public struct ImportEndpoint: Sendable {
    public var host: String
    public var port: Int
    public var key: String

    /// Reads `http://host[:port]` (no path, no TLS: the registry is reached directly or through a proxy
    /// on the same network); nil for anything else.
    public init?(url: String, key: String) {
        guard url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
            host = String(rest[..<colon])
            self.port = port
        } else {
            host = String(rest)
            port = 80
        }
        guard !host.isEmpty else { return nil }
        self.key = key
    }
}

/// An HTTP answer: status, the headers an import reads, the body.
struct HTTPAnswer: Sendable {
    var status: Int
    var retryAfterSeconds: Int?
    var replayed: Bool
    var body: [UInt8]
}

enum ImportHTTPError: Error, CustomStringConvertible {
    case connectionClosed
    case timedOut

    var description: String {
        switch self {
        case .connectionClosed: "the server closed the connection"
        case .timedOut: "the server did not answer in time"
        }
    }
}

/// A request handed to a connection's pipeline together with the promise its answer completes.
struct PendingExchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var promise: EventLoopPromise<HTTPAnswer>
}

/// One request at a time on a keep-alive connection: writes the request, collects the response.
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var promise: EventLoopPromise<HTTPAnswer>?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise writePromise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        promise = exchange.promise
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: writePromise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
            body.removeAll(keepingCapacity: true)
        case .body(let buffer):
            body += buffer.readableBytesView
        case .end:
            guard let head, let promise else { return }
            let retryAfter = head.headers.first(name: "retry-after").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let answer = HTTPAnswer(
                status: Int(head.status.code), retryAfterSeconds: retryAfter,
                replayed: head.headers.first(name: "idempotency-replayed") == "true", body: body)
            self.promise = nil
            self.head = nil
            promise.succeed(answer)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ImportHTTPError.connectionClosed)
        promise = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }
}

/// A keep-alive HTTP/1.1 connection to the registry, opened when first needed and again after it broke.
/// One task uses it, one request at a time.
final class ImportConnection {
    let endpoint: ImportEndpoint
    private var channel: (any Channel)?
    static let answerTimeout: TimeAmount = .seconds(120)

    init(endpoint: ImportEndpoint) {
        self.endpoint = endpoint
    }

    /// Sends one request and waits for its answer; on any failure the connection is closed (the next
    /// request opens a new one) and the error thrown.
    func send(method: HTTPMethod, path: String, body: [UInt8], idempotencyKey: String?) async throws -> HTTPAnswer {
        let channel = try await openChannel()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        headers.add(name: "Authorization", value: "Bearer \(endpoint.key)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "User-Agent", value: "datarights-import")
        if let idempotencyKey { headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let promise = channel.eventLoop.makePromise(of: HTTPAnswer.self)
        let timeout = channel.eventLoop.scheduleTask(in: Self.answerTimeout) {
            promise.fail(ImportHTTPError.timedOut)
            channel.close(promise: nil)
        }
        channel.writeAndFlush(PendingExchange(head: head, body: ByteBuffer(bytes: body), promise: promise), promise: nil)
        do {
            let answer = try await promise.futureResult.get()
            timeout.cancel()
            return answer
        } catch {
            timeout.cancel()
            self.channel = nil
            try? await channel.close()
            throw error
        }
    }

    private func openChannel() async throws -> any Channel {
        if let channel, channel.isActive { return channel }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPExchangeHandler())
                }
            }
            .connect(host: endpoint.host, port: endpoint.port).get()
        self.channel = channel
        return channel
    }

    func close() async {
        if let channel { try? await channel.close() }
        channel = nil
    }
}
