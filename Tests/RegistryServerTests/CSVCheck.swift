import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

extension APIClient {
    struct Raw {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let text: String
    }

    /// A GET with the response's headers, optionally with an `Accept` header.
    func raw(_ path: String, accept: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Raw {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let accept { headers[.accept] = accept }
        return try await ContractCheck.$callSite.withValue(sourceLocation) {
            try await client.execute(uri: path, method: .get, headers: headers, body: nil) { response in
                Raw(status: response.status, headers: response.headers, text: String(buffer: response.body))
            }
        }
    }
}

/// A JSON item flattened the way the API documents its CSV ("CSV" in docs/openapi.yaml): members of
/// nested objects as dotted columns, arrays joined with `;` (an array of objects one column per member,
/// an element without it an empty piece), a missing member an empty cell, `true`/`false`, numbers as
/// written. Written from the document, independently of the server's encoder.
enum FlattenedJSON {
    static func cell(_ column: String, in item: JSONValue) -> String {
        cell(column.split(separator: ".")[...], item)
    }

    private static func cell(_ path: ArraySlice<Substring>, _ value: JSONValue?) -> String {
        guard let value else { return "" }
        switch value {
        case .array(let elements): return elements.map { cell(path, $0) }.joined(separator: ";")
        case .object(let members):
            guard let first = path.first else { return "" }
            return cell(path.dropFirst(), members[String(first)])
        case .null: return ""
        case .bool(let flag): return path.isEmpty ? (flag ? "true" : "false") : ""
        case .integer(let number): return path.isEmpty ? String(number) : ""
        case .number(let number): return path.isEmpty ? String(number) : ""
        case .string(let text): return path.isEmpty ? text : ""
        }
    }

    /// The column of every value the item holds.
    static func columns(of item: JSONValue, prefix: String = "") -> Set<String> {
        switch item {
        case .object(let members):
            return members.reduce(into: Set<String>()) { found, member in
                found.formUnion(columns(of: member.value, prefix: prefix.isEmpty ? member.key : prefix + "." + member.key))
            }
        case .array(let elements):
            return elements.reduce(into: Set<String>()) { $0.formUnion(columns(of: $1, prefix: prefix)) }
        default:
            return [prefix]
        }
    }
}

/// Issue 16: a list's CSV, read by Python's standard `csv` module, equals its JSON.
enum CSVCheck {
    static let nextCursorHeader = HTTPField.Name("DataRights-Next-Cursor")!

    /// Fetches `path` as JSON, with `format=csv` and with `Accept: text/csv`, and expects: the same CSV
    /// both ways, as an attachment; a header naming every value the JSON items hold; one record per item,
    /// in order, equal to the item flattened as documented; the next cursor in the headers. Returns the
    /// records (header first).
    @discardableResult
    static func expectCSVEqualsJSON(_ api: APIClient, _ path: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [[String]] {
        let json = try await api.raw(path, sourceLocation: sourceLocation)
        #expect(json.status == .ok, "\(path): \(json.text)", sourceLocation: sourceLocation)
        let page = try #require(JSONValue(parsing: Data(json.text.utf8)), sourceLocation: sourceLocation)
        let items = page["items"]?.array ?? []
        let csv = try await api.raw(path + (path.contains("?") ? "&" : "?") + "format=csv", sourceLocation: sourceLocation)
        #expect(csv.status == .ok, "\(path): \(csv.text)", sourceLocation: sourceLocation)
        #expect(csv.headers[.contentType] == "text/csv; charset=utf-8", sourceLocation: sourceLocation)
        #expect(csv.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"") == true, sourceLocation: sourceLocation)
        let negotiated = try await api.raw(path, accept: "application/json;q=0.5, text/csv", sourceLocation: sourceLocation)
        #expect(negotiated.headers[.contentType] == "text/csv; charset=utf-8", sourceLocation: sourceLocation)
        #expect(negotiated.text == csv.text, "Accept: text/csv gives the same CSV as format=csv", sourceLocation: sourceLocation)

        let records = try await StandardCSV.parse(csv.text)
        let header = try #require(records.first, "a header row, even for an empty page", sourceLocation: sourceLocation)
        #expect(Set(header).count == header.count, "columns are unique", sourceLocation: sourceLocation)
        #expect(records.count == items.count + 1, "\(path): one record per JSON item", sourceLocation: sourceLocation)
        for (record, item) in zip(records.dropFirst(), items) {
            #expect(record == header.map { FlattenedJSON.cell($0, in: item) }, "\(path)", sourceLocation: sourceLocation)
            let missing = FlattenedJSON.columns(of: item).subtracting(header)
            #expect(missing.isEmpty, "\(path): JSON values without a column: \(missing.sorted())", sourceLocation: sourceLocation)
        }
        let next = page["nextCursor"]?.string
        #expect(csv.headers[nextCursorHeader] == next, sourceLocation: sourceLocation)
        #expect(json.headers[nextCursorHeader] == next, sourceLocation: sourceLocation)
        if let next {
            #expect(csv.headers[HTTPField.Name("Link")!]?.hasSuffix("cursor=\(next)>; rel=\"next\"") == true, sourceLocation: sourceLocation)
        }
        return records
    }

    /// Every page of `path` (JSON), following `nextCursor`; each page's CSV checked as above.
    static func allItems(_ api: APIClient, _ path: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String?
        var pages = 0
        repeat {
            pages += 1
            try #require(pages <= 100, "\(path) pages without end", sourceLocation: sourceLocation)
            let target = path + (cursor.map { (path.contains("?") ? "&" : "?") + "cursor=\($0)" } ?? "")
            try await expectCSVEqualsJSON(api, target, sourceLocation: sourceLocation)
            let page = try #require(JSONValue(parsing: Data(try await api.get(target, sourceLocation: sourceLocation).text.utf8)))
            items += page["items"]?.array ?? []
            cursor = page["nextCursor"]?.string
        } while cursor != nil
        return items
    }
}
