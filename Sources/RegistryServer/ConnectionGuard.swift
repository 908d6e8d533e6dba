import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import RegistryCore

/// The HTTP/1.1 child channel of the server: Hummingbird's, with two handlers around its decoder that
/// keep slow and malformed clients from holding the server:
///
/// - ``RequestBytesGuard`` sits before the decoder and sees the raw bytes: it notes when a request's first
///   byte arrives, refuses a request line longer than ``EdgeLimits/maxURLBytes`` (414), and once a second
///   cuts off a request whose head has not arrived within ``EdgeLimits/requestHeadTimeoutSeconds`` (408)
///   or whose body has not within ``EdgeLimits/requestBodyTimeoutSeconds`` (slowloris).
/// - ``RequestPartsGuard`` sits after it and sees the request's parts, telling the first where each
///   request is; a head the decoder refuses gets problem+json (431 for header fields over the limits,
///   414 for a target over them, 400 for anything else) rather than Hummingbird's bare 400.
///
/// One timer per connection, not per request: the decision route sits in labs' serving paths.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let limits: EdgeLimits

    init(responder: @escaping HTTPChannelHandler.Responder, limits: EdgeLimits) {
        self.limits = limits
        self.inner = HTTP1Channel(
            responder: responder,
            configuration: .init(
                additionalChannelHandlers: [RequestPartsGuard(limits: limits)],
                idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds)),
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: limits.maxHeaderFieldBytes, maxHeaderListSize: limits.maxHeaderBytes,
                    maxHeaderFieldCount: limits.maxHeaderFields)))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            // First in the pipeline: ahead of the decoder that `inner` adds.
            try channel.pipeline.syncOperations.addHandler(RequestBytesGuard(limits: limits))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the edge's guards (``GuardedHTTP1Channel``).
    static func guardedHTTP1(limits: EdgeLimits) -> HTTPServerBuilder {
        .init { responder in GuardedHTTP1Channel(responder: responder, limits: limits) }
    }
}

/// Before the HTTP decoder: the raw bytes, the connection's timer, and answers written as bytes.
final class RequestBytesGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase { case idle, head, body }

    let limits: EdgeLimits
    /// Where the current request is, and since when.
    var phase = Phase.idle
    var since = NIODeadline.now()
    /// Bytes of the request line read so far, until its line feed; -1 once it is complete.
    var requestLineBytes = 0
    /// Requests whose answer has not been written yet (pipelining): an answer of ours would interleave.
    var requestsAnswering = 0
    private var context: ChannelHandlerContext?
    private var timer: RepeatedTask?
    private var finished = false

    init(limits: EdgeLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let interval = TimeAmount.milliseconds(Int64(min(limits.requestHeadTimeoutSeconds, limits.requestBodyTimeoutSeconds, 4)) * 250)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in bound.value.checkDeadlines() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func stop() {
        finished = true
        timer?.cancel()
        timer = nil
        context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        let buffer = unwrapInboundIn(data)
        if phase == .idle {
            phase = .head
            since = .now()
            requestLineBytes = 0
        }
        if phase == .head, requestLineBytes >= 0 {
            // The method and version around the target take at most a few dozen bytes.
            if let lineFeed = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                requestLineBytes += lineFeed - buffer.readerIndex
                if requestLineBytes > limits.maxURLBytes + 32 { return answer(uriTooLong) }
                requestLineBytes = -1
            } else {
                requestLineBytes += buffer.readableBytes
                if requestLineBytes > limits.maxURLBytes + 32 { return answer(uriTooLong) }
            }
        }
        context.fireChannelRead(data)
    }

    var uriTooLong: Problem {
        Problem(.uriTooLong, kind: "uri-too-long", title: "URI too long", detail: "the request target exceeds \(limits.maxURLBytes) bytes")
    }

    /// Cuts off a request slower than its deadline: 408 for a head, a closed connection for a body (the
    /// route reading it may be answering).
    private func checkDeadlines() {
        guard !finished, let context else { return }
        let elapsed = NIODeadline.now() - since
        switch phase {
        case .head where elapsed > .seconds(Int64(limits.requestHeadTimeoutSeconds)):
            answer(Problem(
                .requestTimeout, kind: "request-timeout", title: "Request timeout",
                detail: "the request's head did not arrive within \(limits.requestHeadTimeoutSeconds) s"))
        case .body where elapsed > .seconds(Int64(limits.requestBodyTimeoutSeconds)):
            finished = true
            context.close(promise: nil)
        default:
            break
        }
    }

    /// Answers with a problem written as bytes, straight to the socket, and closes the connection; only
    /// closes it when a route's answer may still be coming. The answer carries a request id of its own, in
    /// `X-Request-Id` and `requestId`, as every response does (the request's own never got read).
    func answer(_ problem: Problem) {
        guard !finished, let context else { return }
        finished = true
        guard requestsAnswering == 0 else {
            context.close(promise: nil)
            return
        }
        var problem = problem
        let requestID = RequestIDs.next()
        problem.requestID = requestID
        let body = problem.encoded()
        var text = "HTTP/1.1 \(problem.statusCode) \(problem.status.reasonPhrase)\r\n"
        text += "Content-Type: application/problem+json\r\nContent-Length: \(body.count)\r\nX-Request-Id: \(requestID)\r\n"
        text += "Connection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count + body.count)
        buffer.writeString(text)
        buffer.writeBytes(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// After the HTTP decoder: tells the bytes guard where each request is, and answers a head the decoder
/// refused with problem+json.
final class RequestPartsGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limits: EdgeLimits
    private var bytesGuard: RequestBytesGuard?

    init(limits: EdgeLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        bytesGuard = try? context.pipeline.syncOperations.handler(type: RequestBytesGuard.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        bytesGuard = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let bytesGuard {
            switch unwrapInboundIn(data) {
            case .head:
                bytesGuard.phase = .body
                bytesGuard.since = .now()
                bytesGuard.requestsAnswering += 1
            case .end:
                bytesGuard.phase = .idle
            case .body:
                break
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), let bytesGuard { bytesGuard.requestsAnswering -= 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A body that breaks the grammar reaches the route reading it (400 there); a head never does.
        guard let bytesGuard, bytesGuard.phase != .body, let parserError = error as? HTTPParserError else {
            return context.fireErrorCaught(error)
        }
        if case .headerOverflow = parserError {
            bytesGuard.answer(
                bytesGuard.requestLineBytes >= 0
                    ? bytesGuard.uriTooLong
                    : Problem(
                        .requestHeaderFieldsTooLarge, kind: "header-fields-too-large", title: "Request header fields too large",
                        detail: "header fields are limited to \(limits.maxHeaderFieldBytes) bytes each, \(limits.maxHeaderBytes) bytes together and \(limits.maxHeaderFields) fields"))
        } else {
            bytesGuard.answer(.badRequest("the request is not well-formed HTTP/1.1"))
        }
    }
}
