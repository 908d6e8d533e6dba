import ArgumentParser
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Prometheus
import RegistryCore
import RegistryServer
import RegistryStore

/// `datarights report QUERY [name=value …] --format csv|json --out FILE`: a compliance query or a
/// statistic written to a file, for the regulator who works from scripts (issue 16).
///
/// The report is the API's own answer: the core is loaded read-only from the database (embedded or
/// external; it reads one snapshot and writes nothing, so nodes may be serving it meanwhile) and the request goes through the
/// same router as over HTTP — authentication with the regulator's key, parameters, problems, rows, CSV —
/// without a network. Every page is fetched, so the file holds every row; the core is one snapshot of
/// the database, so every page reflects the same audit sequence.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a compliance query or a statistic to a file.",
        discussion: """
            QUERY is the endpoint's path under /v1, e.g. compliance/dataset-use or statistics/usage; the \
            filters are its query parameters as name=value (docs/openapi.yaml lists them). Any GET of the \
            API works the same way. The key is a regulator's (or an operator's) API key.

            Example: datarights report compliance/dataset-use dataset=7 from=2026-01-01 to=2026-03-31 \
            --format csv --out use-7.csv
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv, json
    }

    @Argument(help: "The query: an API path under /v1, e.g. compliance/dataset-use.")
    var query: String

    @Argument(help: "Filters, as name=value.")
    var filters: [String] = []

    @Option(help: "csv or json.")
    var format: Format = .csv

    @Option(help: "The file to write (replaced when complete); - for standard output.")
    var out: String

    @Option(help: "API key of the regulator or operator asking. (env: DATARIGHTS_API_KEY)")
    var key: String?

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Log level. (default: warning)")
    var logLevel: String?

    func validate() throws {
        _ = try Self.path(query)
        _ = try Self.queryItems(filters)
        if Setting.optionalString(key, env: "DATARIGHTS_API_KEY") == nil {
            throw ValidationError("give the API key with --key or DATARIGHTS_API_KEY")
        }
    }

    /// `compliance/dataset-use` (or `/v1/compliance/dataset-use`) → `/v1/compliance/dataset-use`. No
    /// query string, no dot segments, only the characters of the API's paths.
    static func path(_ query: String) throws -> String {
        var path = query.hasPrefix("/") ? query : "/" + query
        if !path.hasPrefix("/v1/") { path = "/v1" + path }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/")
        guard path.count <= 200, path.allSatisfy(allowed.contains), !path.contains("//"), !path.hasSuffix("/") else {
            throw ValidationError("QUERY is a path of the API such as compliance/dataset-use, without a query string")
        }
        return path
    }

    /// `name=value` filters, percent-encoded for a query string; `cursor` is the report's own.
    static func queryItems(_ filters: [String]) throws -> [(String, String)] {
        try filters.map { filter in
            guard let equals = filter.firstIndex(of: "="), equals != filter.startIndex else {
                throw ValidationError("a filter is name=value: \(filter)")
            }
            let name = String(filter[..<equals])
            guard name != "cursor", name != "format" else {
                throw ValidationError("\(name) is set by the report itself (every page is fetched; use --format)")
            }
            return (name, String(filter[filter.index(after: equals)...]))
        }
    }

    static func encoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    func run() async throws {
        let path = try Self.path(query)
        let items = try Self.queryItems(filters)
        let token = Setting.optionalString(key, env: "DATARIGHTS_API_KEY") ?? ""
        let written = try await withReadOnlyRegistry(database, logLevel: logLevel) { registry, store, logger in
            let router = buildRouter(
                configuration: ServerConfiguration(host: "127.0.0.1", port: 0, sandbox: false, limits: Limits(), edge: EdgeLimits()),
                database: store, registry: registry, metrics: PrometheusCollectorRegistry())
            let client = InProcessRequest(router: router, logger: logger)
            let output = try ReportOutput(path: out)
            do {
                let rows = try await fetchAll(client, path: path, items: items, token: token, into: output)
                try output.commit()
                return rows
            } catch {
                output.discard()
                throw error
            }
        }
        if out != "-" { FileHandle.standardError.write(Data("wrote \(written) rows to \(out)\n".utf8)) }
    }

    /// Fetches page after page, following the cursor, and writes one document: for CSV the header once
    /// and every page's rows; for JSON the first page's fields with every page's items. Returns the rows.
    private func fetchAll(_ client: InProcessRequest, path: String, items: [(String, String)], token: String, into output: ReportOutput) async throws -> Int {
        var cursor: String?
        var rows = 0
        var document: [String: Any]?
        var allItems: [Any] = []
        var pages = 0
        repeat {
            pages += 1
            guard pages <= Limits.maxReportPages else {
                throw ValidationError("the answer has more than \(Limits.maxReportPages) pages; narrow the filters")
            }
            var query = items
            if let cursor { query.append(("cursor", cursor)) }
            let target = path + "?" + query.map { Self.encoded($0.0) + "=" + Self.encoded($0.1) }.joined(separator: "&")
            let collected = Collected()
            let accept = format == .csv ? "text/csv" : "application/json"
            let head = try await client.get(target, headers: [.authorization: "Bearer " + token, .accept: accept]) { await collected.append($0) }
            let body = await collected.bytes
            guard head.status.code == 200 else {
                throw ValidationError("\(head.status.code) \(head.status.reasonPhrase): \(String(decoding: body, as: UTF8.self))")
            }
            guard head.headerFields[.contentType]?.hasPrefix(format == .csv ? "text/csv" : "application/json") == true else {
                throw ValidationError("\(path) does not answer in \(format.rawValue) (it answered \(head.headerFields[.contentType] ?? "no content type"))")
            }
            switch format {
            case .csv:
                let text = String(decoding: body, as: UTF8.self)
                // RFC 4180 with CRLF line ends: the header is everything up to the first CRLF outside quotes.
                let header = Self.headerEnd(of: text)
                try output.write(pages == 1 ? text : String(text[header...]))
                rows += Self.recordCount(text[header...])
                cursor = head.headerFields[HTTPField.Name("DataRights-Next-Cursor")!]
            case .json:
                guard var page = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                    throw ValidationError("the answer is not a JSON object")
                }
                let pageItems = page["items"] as? [Any] ?? []
                allItems += pageItems
                rows += pageItems.count
                cursor = page["nextCursor"] as? String
                page["nextCursor"] = NSNull()
                if document == nil { document = page }
                if page["items"] == nil {
                    document = page  // not a list: the answer as it is
                    cursor = nil
                }
            }
        } while cursor != nil
        if format == .json, var document {
            if document["items"] != nil { document["items"] = allItems }
            try output.write(String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n")
        }
        return rows
    }

    /// Where the header row ends (after its CRLF), quotes respected.
    static func headerEnd(of text: String) -> String.Index {
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" { quoted.toggle() }
            index = text.index(after: index)
            if !quoted, character == "\r\n" || character == "\n" { return index }
        }
        return text.endIndex
    }

    /// Records in CSV text: line ends outside quotes.
    static func recordCount(_ text: Substring) -> Int {
        var quoted = false
        var count = 0
        for character in text {
            if character == "\"" { quoted.toggle() }
            if !quoted, character == "\r\n" || character == "\n" { count += 1 }
        }
        return count
    }
}

/// The response body as it is written by the router.
private actor Collected {
    var bytes: [UInt8] = []
    func append(_ buffer: ByteBuffer) { bytes += buffer.readableBytesView }
}

/// The report's file: written to a temporary file beside it and renamed over it when complete, so that a
/// failed report leaves no half file (or standard output, for `-`).
private final class ReportOutput {
    let path: String
    let temporary: String?
    let handle: FileHandle

    init(path: String) throws {
        self.path = path
        if path == "-" {
            temporary = nil
            handle = FileHandle.standardOutput
        } else {
            let temporary = path + ".partial-\(getpid())"
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw ValidationError("cannot write \(temporary)")
            }
            self.temporary = temporary
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        }
    }

    func write(_ text: String) throws { try handle.write(contentsOf: Data(text.utf8)) }

    func commit() throws {
        guard let temporary else { return }
        try handle.synchronize()
        try handle.close()
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    func discard() {
        guard let temporary else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}
