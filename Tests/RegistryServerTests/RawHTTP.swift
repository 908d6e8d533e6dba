import Foundation
import HTTPTypes
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Bytes over a plain TCP socket to a live server, for what an HTTP client library will not send:
/// malformed chunks, huge heads, requests dribbled out slowly, connections held open.
///
/// Reads block (up to the read timeout), so they run on a thread of their own: a blocked thread of
/// Swift's cooperative pool (two threads on a two-core machine) would stall every other test.
final class RawHTTP: @unchecked Sendable {
    private let socketDescriptor: Int32
    private var isOpen = true
    /// The start of what was sent, up to the end of the request line: the contract check needs it.
    private var requestStart = ""

    /// Connects to 127.0.0.1:`port`; reads give up after `readTimeout` seconds.
    init(port: Int, readTimeout: Double = 5) throws {
        socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socketDescriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        var timeout = timeval(tv_sec: Int(readTimeout), tv_usec: Int((readTimeout - Double(Int(readTimeout))) * 1_000_000))
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { disconnect() }

    /// Closes the connection from this side.
    func disconnect() {
        guard isOpen else { return }
        isOpen = false
        close(socketDescriptor)
    }

    /// Sends the bytes; false when the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        if !requestStart.contains("\r\n") && requestStart.utf8.count < 16_384 { requestStart += text.prefix(16_384) }
        return send(Array(text.utf8))
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socketDescriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }

    /// Everything the server sends until it closes the connection or the read timeout passes. Its first
    /// response is checked against docs/openapi.yaml, when the request line sent as text can be read.
    func receiveAll() async -> (text: String, closed: Bool) {
        let received = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.receiveAllBlocking()) }.start()
        }
        if let exchange = OpenAPIContract.Exchange(request: requestStart, response: received.text) {
            await ContractCheck.record(exchange)
            requestStart = ""
        } else {
            ContractCheck.recordUnchecked(
                String(requestStart.prefix { !$0.isNewline }), reason: received.text.isEmpty ? "no response" : "no request line or response to read")
        }
        return received
    }

    private func receiveAllBlocking() -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return (String(decoding: received, as: UTF8.self), true) }
            if count < 0 { return (String(decoding: received, as: UTF8.self), errno == ECONNRESET) }
            received += buffer[0..<count]
        }
    }

    /// The status of one request sent on a connection of its own (closed after it): requests sent this
    /// way from several tasks reach the server at the same time, where the test client's one connection
    /// would hand them over one after the other.
    static func status(
        port: Int, _ method: String, _ path: String, token: String, json body: String? = nil, readTimeout: Double = 60
    ) async throws -> HTTPResponse.Status {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n"
        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { request += "\r\n" }
        return HTTPResponse.Status(code: try await exchange(port: port, request, readTimeout: readTimeout).httpStatus)
    }

    /// One request written at once, and what came back (checked against docs/openapi.yaml).
    static func exchange(port: Int, _ request: String, readTimeout: Double = 5) async throws -> String {
        let connection = try RawHTTP(port: port, readTimeout: readTimeout)
        connection.send(request)
        return await connection.receiveAll().text
    }
}

extension String {
    /// The status code of a raw HTTP/1.1 answer, 0 when there is none.
    var httpStatus: Int {
        guard hasPrefix("HTTP/1.1 ") else { return 0 }
        return Int(dropFirst(9).prefix(3)) ?? 0
    }
}
