import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

// Every view is answered with `.response()` or `.created(location:)`: JSON with sorted keys, one buffer.
extension Encodable {
    /// 200 with this value as JSON.
    func response(status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(self))))
    }

    /// 201 with this value as JSON and, when given, its location.
    func created(location: String?) throws -> Response {
        var response = try self.response(status: .created)
        if let location { response.headers[.location] = location }
        return response
    }
}
