import Foundation
import TestSupport
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Holds every response the server tests see to docs/openapi.yaml (issue 15): the test clients hand each
/// exchange to `record`, which fails the running test with the operation, the status and the JSON
/// pointer of each mismatch. The document is read once per test process (PyYAML turns it into JSON).
/// Outside CI, without python3 and PyYAML, responses go unchecked; in CI that is a failure.
///
/// Set `DATARIGHTS_CONTRACT_LOG` to a file to get one line per response: `checked`, the operation and
/// the status, or `unchecked` and why (`.ci/contract-coverage` sums it up).
enum ContractCheck {
    enum Loaded: Sendable {
        case contract(OpenAPIContract)
        case skipped(String)
        case failed(String)
    }

    static let loaded: Loaded = load()

    /// Where a check's failure is reported: the test's own call, when the helper that made it knows it.
    @TaskLocal static var callSite: SourceLocation?

    static func load() -> Loaded {
        let inCI = ProcessInfo.processInfo.environment["CI"] != nil
        guard (try? PythonProcess.runBlocking(["-c", "import yaml"]).status) == 0 else {
            return inCI ? .failed("python3 with PyYAML is required in CI") : .skipped("python3 with PyYAML is not installed")
        }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("datarights-openapi-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: output) }
        do {
            // Once per test process, on first use (a static cannot await).
            let result = try PythonProcess.runBlocking(["-c",
                """
                import sys, json, yaml
                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML has it: 3 times faster
                json.dump(yaml.load(open(sys.argv[1]), Loader=loader), open(sys.argv[2], "w"), default=str)
                """, OpenAPIDocumentTests.document, output.path])
            guard result.status == 0 else { return .failed("PyYAML cannot read docs/openapi.yaml: \(result.errorText)") }
            guard let document = JSONValue(parsing: try Data(contentsOf: output)) else { return .failed("PyYAML's JSON does not parse") }
            return .contract(OpenAPIContract(document: document))
        } catch {
            return .failed("\(error)")
        }
    }

    /// Where documents are read and responses checked: threads of their own. Both are CPU work (reading the
    /// document blocks on python3 for a second), and Swift's cooperative pool has two threads here: on it,
    /// checking the answers of a test with 32 clients would hold up every other test's requests.
    private static let queue = DispatchQueue(label: "datarights.contract-check", attributes: .concurrent)

    /// Deferred checks, one at a time: a test with 32 clients must not start a thread per response.
    private static let deferredQueue = DispatchQueue(label: "datarights.contract-check.deferred")

    /// The checks of a scope's responses, run beside it rather than in its way, and reported when it ends.
    @TaskLocal static var deferred: Deferred?

    /// Checks handed over by a scope and what they found, with where each was made.
    final class Deferred: Sendable {
        private let group = DispatchGroup()
        private let findings = Mutex<[(message: String, location: SourceLocation)]>([])

        func add(_ exchange: OpenAPIContract.Exchange, at location: SourceLocation) {
            group.enter()
            ContractCheck.deferredQueue.async { [self] in
                if let message = ContractCheck.finding(for: exchange) { findings.withLock { $0.append((message, location)) } }
                group.leave()
            }
        }

        /// Waits for the checks handed over so far and records what they found in the running test.
        func report() async {
            await withCheckedContinuation { continuation in group.notify(queue: ContractCheck.queue) { continuation.resume() } }
            for finding in findings.withLock({ found in defer { found = [] }; return found }) {
                Issue.record(Comment(rawValue: finding.message), sourceLocation: finding.location)
            }
        }
    }

    /// Runs `body` with the checks of its responses deferred to its end: a test that times its requests
    /// (a rate limit's refill) is not slowed by them. Its departures are reported all the same, before
    /// this returns or rethrows.
    static func deferringChecks<Value>(_ body: () async throws -> Value) async throws -> Value {
        let checks = Deferred()
        do {
            let value = try await $deferred.withValue(checks) { try await body() }
            await checks.report()
            return value
        } catch {
            await checks.report()
            throw error
        }
    }

    /// Checks one exchange and records an issue in the running test when the response departs from the
    /// document; within `deferringChecks`, hands it to the scope instead.
    static func record(_ exchange: OpenAPIContract.Exchange, sourceLocation: SourceLocation = #_sourceLocation) async {
        let location = callSite ?? sourceLocation
        if let deferred {
            deferred.add(exchange, at: location)
            return
        }
        let message: String? = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: finding(for: exchange)) }
        }
        if let message { Issue.record(Comment(rawValue: message), sourceLocation: location) }
    }

    /// The check itself, logged: what to report, nil when the response conforms or cannot be checked here.
    private static func finding(for exchange: OpenAPIContract.Exchange) -> String? {
        let request = "\(exchange.method) \(exchange.target.count > 100 ? String(exchange.target.prefix(97)) + "…" : exchange.target)"
        switch loaded {
        case .skipped(let reason):
            log("unchecked\t\(request)\t\(exchange.status)\t\(reason)")
            return nil
        case .failed(let reason):
            log("unchecked\t\(request)\t\(exchange.status)\t\(reason)")
            return "the contract check cannot read docs/openapi.yaml: \(reason)"
        case .contract(let contract):
            let verdict = contract.check(exchange)
            log("checked\t\(verdict.operation)\t\(exchange.status)\t\(verdict.violations.count)")
            guard !verdict.violations.isEmpty else { return nil }
            let lines = verdict.violations.prefix(10).map { "  - \($0)" } + (verdict.violations.count > 10 ? ["  - …"] : [])
            return "contract: \(request) answered \(exchange.status), which departs from \(verdict.operation) in docs/openapi.yaml:\n"
                + lines.joined(separator: "\n")
        }
    }

    /// Records that a response was seen but could not be checked (a request line the check cannot read).
    static func recordUnchecked(_ request: String, reason: String) {
        log("unchecked\t\(request.prefix(100))\t-\t\(reason)")
    }

    private static let logDescriptor: Int32? = ProcessInfo.processInfo.environment["DATARIGHTS_CONTRACT_LOG"].map {
        open($0, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    }

    /// One line per response; a single append of a short line is atomic, so parallel tests may share the file.
    private static func log(_ line: String) {
        guard let descriptor = logDescriptor, descriptor >= 0 else { return }
        let bytes = Array((line.replacingOccurrences(of: "\n", with: " ") + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}

extension OpenAPIContract.Exchange {
    /// Header fields as the contract reads them: lowercased names, repeated fields joined.
    static func headers(_ fields: [(String, String)]) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in fields {
            let key = name.lowercased()
            headers[key] = headers[key].map { "\($0), \(value)" } ?? value
        }
        return headers
    }
}

/// HummingbirdTesting's client with every response checked against the document. `APIClient` wraps
/// the client it is given in one; tests that call `execute` themselves use `client.checkingContract`.
struct ContractCheckedClient: TestClientProtocol {
    let base: any TestClientProtocol

    var port: Int? { base.port }

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        let response = try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
        await ContractCheck.record(OpenAPIContract.Exchange(
            method: method.rawValue, target: uri, status: Int(response.status.code),
            headers: OpenAPIContract.Exchange.headers(response.headers.map { ($0.name.canonicalName, $0.value) }), body: Data(response.body.readableBytesView)))
        return response
    }
}

extension TestClientProtocol {
    /// This client with every response checked against docs/openapi.yaml (wrapping only once).
    var checkingContract: any TestClientProtocol {
        self is ContractCheckedClient ? self : ContractCheckedClient(base: self)
    }
}

extension URLSession {
    /// `data(for:)`, with the response checked against docs/openapi.yaml.
    func checkedData(for request: URLRequest, sourceLocation: SourceLocation = #_sourceLocation) async throws -> (Data, HTTPURLResponse) {
        let (data, response) = try await data(for: request)
        guard let response = response as? HTTPURLResponse else { throw URLError(.badServerResponse) }
        let headers = response.allHeaderFields.compactMap { name, value in (name as? String).map { ($0, "\(value)") } }
        let target = request.url.map { url in url.query.map { "\(url.path)?\($0)" } ?? url.path } ?? "/"
        await ContractCheck.record(
            OpenAPIContract.Exchange(
                method: request.httpMethod ?? "GET", target: target, status: response.statusCode, headers: OpenAPIContract.Exchange.headers(headers), body: data),
            sourceLocation: sourceLocation)
        return (data, response)
    }
}
