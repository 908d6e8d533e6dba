import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryCore
@testable import RegistryServer
import RegistryStore
import Testing
import TestSupport

/// The edge's limits (issue 14, finding 15): per-key rates with their own buckets for usage and decisions,
/// the key's requests in flight, slow heads and bodies cut off, a cap on open connections. Each runs a
/// live server with small limits and drives it over HTTP and raw sockets.
@Suite struct EdgeLimitsTests {
    @Test func F15_aKeyOverItsRateGets429WithRetryAfterAndOtherKeysAreUnaffected() async throws {
        var edge = EdgeLimits()
        edge.requestsPerSecondPerKey = 1
        edge.requestBurstPerKey = 20
        try await RegistryScenarioTests.withCast(edge: edge) { cast, _ in
            let lab = cast.as("lab")
            // The operator's key set the cast up; the lab's bucket is full: 20, then one a second. The 60
            // requests go at once: one after another, on a loaded machine each could outlast the refill
            // and never meet a 429 (it failed so under load 10 on two cores).
            typealias Answer = (HTTPResponse.Status, String?, String?, String)
            let token = cast.keys["lab"]!
            let answers: [Answer] = try await withThrowingTaskGroup(of: Answer.self) { group in
                for _ in 0..<60 {
                    group.addTask {
                        try await lab.client.execute(uri: "/v1/me", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                            ($0.status, $0.headers[.retryAfter], $0.headers[.contentType], String(buffer: $0.body))
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let answered = answers.filter { $0.0 == .ok }.count
            let limited = answers.first { $0.0 != .ok } ?? (.ok, nil, nil, "")
            #expect(answered >= 20, "the burst is answered")
            #expect(limited.0 == .tooManyRequests)
            #expect(limited.1.flatMap(Int.init).map { $0 >= 1 } == true, "Retry-After: \(limited.1 ?? "none")")
            #expect(limited.2 == "application/problem+json")
            #expect(limited.3.contains("rate-limited"), "\(limited.3)")
            // Another key has its own bucket; the lab's decisions have theirs.
            #expect(try await cast.as("ministry").get("/v1/me").status == .ok)
            let decision = try await lab.get("/v1/decisions?dataset=1&purpose=model_training&tokens=1")
            #expect(decision.status.code != 429, "\(decision.text)")
        }
    }

    @Test func F15_usageAndDecisionsHaveTheirOwnLimits() async throws {
        var edge = EdgeLimits()
        edge.usageRequestsPerSecondPerKey = 1
        edge.usageRequestBurstPerKey = 1
        edge.decisionRequestsPerSecondPerKey = 1
        edge.decisionRequestBurstPerKey = 2
        try await RegistryScenarioTests.withCast(edge: edge) { cast, _ in
            let lab = cast.as("lab")
            let (port, key) = (try #require(cast.api.client.port), try #require(cast.keys["lab"]))
            let body = #"{"events":[{"grant":"GR-1","tokens":1,"at":"2026-12-01T00:00:00Z","key":"k"}]}"#
            // Each bucket holds its burst; past it, a 429. The requests go at once, each on a connection
            // of its own: one after another (the test client's one connection), on a loaded machine each
            // could take longer than the one-a-second refill and never meet 429.
            var statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<6 { group.addTask { try await RawHTTP.status(port: port, "POST", "/v1/usage", token: key, json: body) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.contains { $0 != .tooManyRequests } && statuses.contains(.tooManyRequests), "\(statuses)")
            let decision = "/v1/decisions?dataset=1&purpose=model_training&tokens=1"
            statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<8 { group.addTask { try await RawHTTP.status(port: port, "GET", decision, token: key) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 != .tooManyRequests }.count >= 2 && statuses.contains(.tooManyRequests), "\(statuses)")
            // The rest of the API is on the general bucket, untouched.
            #expect(try await lab.get("/v1/me").status == .ok)
        }
    }

    @Test func F15_aKeyOverItsRequestsInFlightGets429() async throws {
        var edge = EdgeLimits()
        edge.maxConcurrentRequestsPerKey = 1
        try await RegistryScenarioTests.withCast(edge: edge) { cast, _ in
            let port = try #require(cast.api.client.port)
            let token = try #require(cast.keys["registrar"])
            // One request of the key stays in flight: its body is still coming.
            let slow = try RawHTTP(port: port, readTimeout: 10)
            slow.send("POST /v1/parties HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"na")
            try await Task.sleep(for: .milliseconds(300))
            let second = try await cast.as("registrar").get("/v1/me")
            #expect(second.status == .tooManyRequests, "\(second.text)")
            #expect(try await cast.as("lab").get("/v1/me").status == .ok, "other keys are not held up")
            slow.disconnect()
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await cast.as("registrar").get("/v1/me").status == .ok, "the slot is given back when the request ends")
        }
    }

    @Test func F15_aRequestHeadSentSlowlyIsCutOffWith408() async throws {
        var edge = EdgeLimits()
        edge.requestHeadTimeoutSeconds = 1
        try await RegistryScenarioTests.withCast(edge: edge) { cast, _ in
            let port = try #require(cast.api.client.port)
            let started = ContinuousClock.now
            let connection = try RawHTTP(port: port, readTimeout: 15)
            connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
            // A byte every 300 ms: never idle, never done.
            for _ in 0..<10 where connection.send("X") { try await Task.sleep(for: .milliseconds(300)) }
            let answer = await connection.receiveAll()
            #expect(answer.text.httpStatus == 408, "\(answer.text)")
            #expect(answer.text.contains("application/problem+json"))
            #expect(answer.closed)
            #expect(ContinuousClock.now - started < .seconds(12))
        }
    }

    @Test func F15_aRequestBodySentSlowlyIsCutOff() async throws {
        var edge = EdgeLimits()
        edge.requestBodyTimeoutSeconds = 1
        try await RegistryScenarioTests.withCast(edge: edge) { cast, _ in
            let port = try #require(cast.api.client.port)
            let token = try #require(cast.keys["registrar"])
            let started = ContinuousClock.now
            let connection = try RawHTTP(port: port, readTimeout: 15)
            connection.send("POST /v1/parties HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n")
            for _ in 0..<10 where connection.send(" ") { try await Task.sleep(for: .milliseconds(300)) }
            let answer = await connection.receiveAll()
            #expect(answer.closed, "\(answer.text)")
            #expect(ContinuousClock.now - started < .seconds(12))
            #expect(try await cast.api.get("/healthz").status == .ok)
        }
    }

    /// Through `datarights serve` itself: Hummingbird's test server drops the connection cap when it
    /// rebinds the address, so this one runs the real binary with `--edge-limit maxConnections=2`.
    @Test func F15_connectionsOverTheCapWaitUntilOneCloses() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ServeCommandTests.binary), "build the datarights product first")
        let dataDirectory = "/tmp/datarights-test-\(getpid())/edge-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let port = FreePort.next()
        let server = try ServerProcess.start(
            ServeCommandTests.binary,
            ["serve", "--data-dir", dataDirectory, "--port", String(port), "--log-level", "warning", "--edge-limit", "maxConnections=2"],
            log: dataDirectory + ".serve.log")
        // Waited for over raw connections that close: an HTTP client's keep-alive connection would hold a slot.
        var ready = false
        for _ in 0..<180 where !ready {
            if let probe = try? RawHTTP(port: port, readTimeout: 2) {
                probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                ready = await probe.receiveAll().text.httpStatus == 200
            }
            if !ready { try await Task.sleep(for: .milliseconds(500)) }
        }
        try #require(ready, "\(server.logTail())")
        try await Task.sleep(for: .milliseconds(300))
        let first = try RawHTTP(port: port, readTimeout: 2)
        let second = try RawHTTP(port: port, readTimeout: 2)
        try await Task.sleep(for: .milliseconds(300))
        let third = try RawHTTP(port: port, readTimeout: 2)
        third.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(await third.receiveAll().text.isEmpty, "a third connection is not served while two are open")
        first.disconnect()
        var answer = await third.receiveAll()
        for _ in 0..<5 where answer.text.isEmpty && !answer.closed { answer = await third.receiveAll() }
        #expect(answer.text.httpStatus == 200, "\(answer.text)")
        second.disconnect()
        #expect(try await server.terminate(signal: SIGTERM, timeout: .seconds(30)) == 0, "\(server.logTail())")
    }

    @Test func F15_edgeLimitsAreSetByNameAndChecked() throws {
        var edge = EdgeLimits()
        try edge.apply(["requestsPerSecondPerKey=500,maxConnections=9000", "requestHeadTimeoutSeconds=5"])
        #expect(edge.requestsPerSecondPerKey == 500 && edge.maxConnections == 9000 && edge.requestHeadTimeoutSeconds == 5)
        for bad in ["noSuchLimit=1", "maxConnections=many", "maxConnections"] {
            var other = EdgeLimits()
            do {
                try other.apply([bad])
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        edge.maxURLBytes = edge.maxHeaderFieldBytes + 1
        #expect(!edge.validate().isEmpty)
        #expect(EdgeLimits().validate().isEmpty)
    }
}

/// The limiter alone, without a server: a burst, then limited with a wait; classes and keys apart; the
/// requests in flight given back on release.
@Suite struct KeyRateLimiterTests {
    @Test func F15_theLimiterAdmitsABurstThenLimitsAndCountsRequestsInFlight() {
        var edge = EdgeLimits()
        edge.requestsPerSecondPerKey = 1
        edge.requestBurstPerKey = 5
        edge.maxConcurrentRequestsPerKey = 8
        let limiter = KeyRateLimiter(limits: edge)
        for _ in 0..<5 { #expect(limiter.admit("k1", .general) == .admitted) }
        guard case .limited(let wait, let rate, let name) = limiter.admit("k1", .general) else {
            Issue.record("the sixth request within a second is admitted")
            return
        }
        #expect(wait >= 1 && rate == 1 && name == "general")
        #expect(limiter.admit("k2", .general) == .admitted, "another key has its own bucket")
        #expect(limiter.admit("k1", .decisions) == .admitted, "decisions have their own bucket")
        // Eight in flight (five general, one decision, two more decisions): the ninth is refused until one ends.
        #expect(limiter.admit("k1", .decisions) == .admitted)
        #expect(limiter.admit("k1", .decisions) == .admitted)
        #expect(limiter.admit("k1", .decisions) == .busy(limit: 8))
        limiter.release("k1")
        #expect(limiter.admit("k1", .decisions) == .admitted)
    }

    @Test func F15_aLimiterWithEverythingOffCountsNothing() {
        var edge = EdgeLimits()
        edge.requestsPerSecondPerKey = 0
        edge.usageRequestsPerSecondPerKey = 0
        edge.decisionRequestsPerSecondPerKey = 0
        edge.maxConcurrentRequestsPerKey = 0
        #expect(KeyRateLimiter(limits: edge).isOff)
        #expect(!KeyRateLimiter(limits: EdgeLimits()).isOff)
    }
}
