import Foundation

extension OpenAPIContract.Exchange {
    /// The first request of `request` and the first response of `response`, as written on the wire; nil
    /// when either cannot be read (a test of malformed requests may send no request line at all).
    init?(request: String, response: String) {
        // A request line longer than what was kept of it (a test of the URI limit) still names its method
        // and the start of its target.
        let requestLine = request.prefix { !$0.isNewline }.split(separator: " ")
        guard requestLine.count == 3 && requestLine[2].hasPrefix("HTTP/") || requestLine.count == 2 && !request.contains(where: \.isNewline),
            requestLine[0].allSatisfy(\.isUppercase), requestLine[1].hasPrefix("/")
        else { return nil }
        let bytes = Array(response.utf8)
        guard let headEnd = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let headLines = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = headLines.first, statusLine.hasPrefix("HTTP/1.1 "), let status = Int(statusLine.dropFirst(9).prefix(3)) else { return nil }
        var fields: [(String, String)] = []
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let headers = Self.headers(fields)
        var body = Array(bytes[headEnd.upperBound...])
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard body.count >= length else { return nil }
            body = Array(body.prefix(length))
        } else if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            guard let decoded = Self.dechunk(body) else { return nil }
            body = decoded
        }
        self.init(method: String(requestLine[0]), target: String(requestLine[1]), status: status, headers: headers, body: Data(body))
    }

    /// The payload of a chunked body, or nil when it is cut short.
    private static func dechunk(_ bytes: [UInt8]) -> [UInt8]? {
        var payload: [UInt8] = []
        var index = 0
        while let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            if size == 0 { return payload }
            let start = lineEnd.upperBound
            guard start + size + 2 <= bytes.count else { return nil }
            payload += bytes[start..<start + size]
            index = start + size + 2
        }
        return nil
    }
}
