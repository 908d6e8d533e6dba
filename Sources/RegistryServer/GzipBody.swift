import CZlib
import Hummingbird
import Foundation

/// Request bodies sent with `Content-Encoding: gzip`, inflated with a bound on what they inflate to.
///
/// The bound is the same as for a plain body (``Limits/maxRequestBodyBytes``): a small compressed body
/// that would inflate past it (a "zip bomb") is refused with 413 as soon as the limit is passed, without
/// inflating the rest. Only `gzip` (and `identity`) is accepted; any other coding is 415.
enum GzipBody {
    enum Failure: Error, Equatable {
        case tooLarge
        case corrupt
    }

    /// The body of `request` as the client meant it: inflated when it says `Content-Encoding: gzip`.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        let encoding = request.headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces) ?? "identity"
        let buffer = try await request.body.collect(upTo: limit)
        switch encoding {
        case "identity", "":
            return buffer
        case "gzip", "x-gzip":
            do {
                return ByteBuffer(bytes: try inflate(Array(buffer.readableBytesView), limit: limit))
            } catch .tooLarge {
                throw Problem.payloadTooLarge(limit: limit)
            } catch {
                throw Problem.badRequest("the body is not valid gzip", errors: [.init(field: "Content-Encoding", reason: "the body does not inflate as gzip")])
            }
        default:
            throw Problem(
                .unsupportedMediaType, kind: "unsupported-content-encoding", title: "Unsupported content encoding",
                detail: "Content-Encoding \(encoding) is not supported: send identity or gzip",
                errors: [.init(field: "Content-Encoding", reason: "identity or gzip")])
        }
    }

    /// Inflates one gzip member (or several, concatenated) into at most `limit` bytes.
    static func inflate(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else { throw .corrupt }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var result: Int32 = Z_OK
        var input = input
        let inputCount = input.count
        let failure: Failure? = input.withUnsafeMutableBufferPointer { source -> Failure? in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(inputCount)
            while true {
                let produced = chunk.withUnsafeMutableBufferPointer { target -> Int in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    result = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return target.count - Int(stream.avail_out)
                }
                guard result == Z_OK || result == Z_STREAM_END || (result == Z_BUF_ERROR && produced > 0) else { return .corrupt }
                if output.count + produced > limit { return .tooLarge }
                output.append(contentsOf: chunk[0..<produced])
                if result == Z_STREAM_END {
                    // Another member may follow (gzip allows concatenation); otherwise done.
                    guard stream.avail_in > 0 else { return nil }
                    guard inflateReset(&stream) == Z_OK else { return .corrupt }
                } else if stream.avail_in == 0 && produced == 0 {
                    return .corrupt  // truncated: input ran out before the stream ended
                }
            }
        }
        if let failure { throw failure }
        return output
    }
}
