import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Answers a list in the form the request asks for (``ResponseFormat``): the one call a list handler
/// makes, so that every list serves JSON and CSV alike.
///
/// - JSON: the page (or the envelope given) as `.response()` writes it.
/// - CSV (`text/csv; charset=utf-8`, sent as the attachment `<name>.csv`): a header row of the item
///   type's columns (``CSVRow``), then one row per item — the same items as the JSON, flattened.
///
/// Either way, when there is a next page its cursor is in `Link: <…?cursor=N>; rel="next"` and in
/// `DataRights-Next-Cursor` (a CSV body has nowhere else to say it), and `Vary: Accept` tells caches the
/// answer depends on that header.
enum Respond {
    static let nextCursorHeader = HTTPField.Name("DataRights-Next-Cursor")!
    static let linkHeader = HTTPField.Name("Link")!

    /// A page of `Page<Item>`.
    static func page<Item: CSVRow>(_ page: Page<Item>, for request: Request, name: String) throws -> Response {
        try rows(page.items, nextCursor: page.nextCursor, json: page, for: request, name: name)
    }

    /// Rows whose JSON answer is an envelope of its own (a compliance answer, a statement): `json` is
    /// encoded as it is, the CSV holds `rows`. Call ``ResponseFormat/init(_:)`` first where the rows
    /// cost a query, so that a bad `format` is refused before the work.
    static func rows<Row: CSVRow>(
        _ rows: [Row], nextCursor: String?, json envelope: some Encodable, for request: Request, name: String
    ) throws -> Response {
        var response: Response
        switch try ResponseFormat(request) {
        case .json:
            response = try envelope.response()
        case .csv:
            response = Response(
                status: .ok,
                headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(fileName(name)).csv\""],
                body: .init(byteBuffer: ByteBuffer(string: try CSV.document(rows))))
        }
        response.headers[.vary] = "Accept"
        if let nextCursor {
            response.headers[linkHeader] = "<\(nextTarget(of: request, cursor: nextCursor))>; rel=\"next\""
            response.headers[nextCursorHeader] = nextCursor
        }
        return response
    }

    /// The request's path and query with `cursor` set to `cursor` (every other parameter as sent).
    static func nextTarget(of request: Request, cursor: String) -> String {
        var parts: [Substring] = []
        for part in (request.uri.query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let name = part.prefix { $0 != "=" }
            let decoded = String(name).removingPercentEncoding ?? String(name)
            if decoded != "cursor" { parts.append(part) }
        }
        let value = cursor.addingPercentEncoding(withAllowedCharacters: queryValueCharacters) ?? ""
        return request.uri.path + "?" + (parts.map(String.init) + ["cursor=" + value]).joined(separator: "&")
    }

    /// RFC 3986's unreserved characters, ASCII only.
    private static let queryValueCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A file name that needs no quoting: letters, digits, `-`, `_` and `.`; anything else becomes `_`.
    static func fileName(_ name: String) -> String {
        String(name.unicodeScalars.prefix(120).map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": Character(scalar)
            default: "_"
            }
        })
    }
}
