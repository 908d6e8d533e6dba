import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import RegistryCore
import RegistryStore
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Metering and settlement over real HTTP on a live server and a real PostgreSQL (R26–R28).
@Suite struct UsageScenarioTests {
    /// The enterprise's dataset with an automatic policy at `price` fen per million tokens, and the lab's
    /// grant on it for `quota` tokens. Returns the dataset id and the grant number.
    static func grant(_ cast: RegistryScenarioTests.Cast, quota: Int64, price: Int64 = 800, dailyCap: Int64? = nil, title: String = "Retail baskets") async throws -> (Int64, String) {
        let enterprise = cast.as("enterprise")
        let created = try await enterprise.post("/v1/datasets", Fixture.dataset(title, government: false))
        let dataset = try #require(created.int("id"), "\(created.text)")
        var policy = AccessScenarioTests.policy(purposes: ["model_training"])
        policy["pricePerMillionTokens"] = price
        if let dailyCap { policy["dailyTokenCap"] = dailyCap }
        let set = try await enterprise.call(.put, "/v1/datasets/\(dataset)/policy", policy)
        #expect(set.status == .ok, "\(set.text)")
        let request = try await cast.as("lab").post(
            "/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": quota, "validUntil": "2030-01-01T00:00:00Z"])
        let grant = try #require(request["grant"] as? [String: Any], "\(request.text)")
        // Event times are sent to the millisecond: let the clock pass the grant's start (in microseconds).
        try await Task.sleep(for: .milliseconds(5))
        return (dataset, try #require(grant["number"] as? String))
    }

    static func event(_ grant: String, tokens: Int64, key: String, at: String = Self.nowText()) -> [String: Any] {
        ["grant": grant, "tokens": tokens, "at": at, "key": key]
    }

    static func nowText() -> String {
        // With microseconds: a use in the second its grant began is not before the grant.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }

    static func results(_ answer: APIClient.Answer) -> [[String: Any]] { answer.json["results"] as? [[String: Any]] ?? [] }

    @Test func R27_thirtyTwoConcurrentClientsExhaustAQuotaExactlyNeverMore() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let quota: Int64 = 96_000
            let (_, grant) = try await Self.grant(cast, quota: quota)
            let port = try #require(cast.api.client.port)
            let labKey = try #require(cast.keys["lab"])
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = 32
            let session = URLSession(configuration: configuration)
            // 32 clients × 10 requests × 50 events × 10 tokens = 160,000 tokens asked for 96,000 available.
            let at = Self.nowText()
            let answers = try await withThrowingTaskGroup(of: (accepted: Int64, denied: Int, amount: Int64).self) { group in
                for client in 0..<32 {
                    group.addTask {
                        var accepted: Int64 = 0
                        var denied = 0
                        var amount: Int64 = 0
                        for round in 0..<10 {
                            let events = (0..<50).map { Self.event(grant, tokens: 10, key: "c\(client)-r\(round)-e\($0)", at: at) }
                            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/usage")!)
                            request.httpMethod = "POST"
                            request.timeoutInterval = 60
                            request.setValue("Bearer \(labKey)", forHTTPHeaderField: "Authorization")
                            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                            request.httpBody = try JSONSerialization.data(withJSONObject: ["events": events])
                            let (data, response) = try await session.checkedData(for: request)
                            #expect(response.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")
                            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
                            for result in json["results"] as? [[String: Any]] ?? [] {
                                if result["status"] as? String == "accepted" {
                                    accepted += 10
                                    amount += (result["amount"] as? NSNumber)?.int64Value ?? 0
                                } else {
                                    denied += 1
                                    #expect(result["rule"] as? String == "R27")
                                    #expect(result["quota"] as? String == "grant")
                                }
                            }
                        }
                        return (accepted, denied, amount)
                    }
                }
                return try await group.reduce(into: [(Int64, Int, Int64)]()) { $0.append($1) }
            }
            let accepted = answers.reduce(0) { $0 + $1.0 }
            let denied = answers.reduce(0) { $0 + $1.1 }
            let amount = answers.reduce(0) { $0 + $1.2 }
            #expect(accepted == quota, "accepted tokens equal the quota exactly")
            #expect(denied == 16_000 - 9_600, "every event past the quota is denied")
            // ⌊96,000 × 800 ÷ 1,000,000⌋ = 76 fen, charged in pieces that add up exactly.
            #expect(amount == 76)

            let usage = try await cast.as("lab").get("/v1/grants/\(grant)/usage")
            #expect(usage.int("tokensUsed") == quota)
            #expect(usage.int("tokensRemaining") == 0)
            #expect(usage.int("charged") == 76)

            // PostgreSQL holds the same: every event once, the accepted ones summing to the quota.
            let stored = try await registry.database.pool.query("""
                SELECT count(*), count(DISTINCT idempotency_key), coalesce(sum(tokens) FILTER (WHERE accepted), 0)::int8,
                       (SELECT tokens FROM grant_usage), (SELECT count(*) FROM audit_event WHERE kind = 'usage.batch'),
                       (SELECT count(*) FROM usage_batch)
                FROM usage_event
                """) { row in
                (try row.decode(Int64.self, column: 0), try row.decode(Int64.self, column: 1), try row.decode(Int64.self, column: 2),
                 try row.decode(Int64.self, column: 3), try row.decode(Int64.self, column: 4), try row.decode(Int64.self, column: 5))
            }[0]
            #expect(stored.0 == 16_000 && stored.1 == 16_000)
            #expect(stored.2 == quota && stored.3 == quota)
            // One audit entry per committed batch (R30), and requests were grouped: fewer batches than requests.
            #expect(stored.4 == stored.5)
            #expect(stored.5 >= 1 && stored.5 <= 320)
            let balance = try await cast.api.as_(cast.operatorKey).get("/v1/ledger/balance")
            #expect(balance["balanced"] as? Bool == true, "\(balance.text)")
            #expect(balance.int("debits") == 76)
            guard case .valid = try await registry.verifyAudit() else {
                Issue.record("the audit chain verifies with the usage batches in it")
                return
            }
        }
    }

    @Test func R26_R27_R28_retriesCountOnceDenialsNameTheirQuotaStatementsAndARestartAgree() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let lab = cast.as("lab")
            let admin = cast.api.as_(cast.operatorKey)
            let (dataset, grant) = try await Self.grant(cast, quota: 1_000_000, price: 2_000, dailyCap: 5_000)
            let labID = try #require(cast.ids["lab"])
            let enterpriseID = try #require(cast.ids["enterprise"])

            // R26: accepted, then the same key again (alone and inside a new batch) counts once.
            let first = try await lab.post("/v1/usage", ["events": [Self.event(grant, tokens: 3_000, key: "call-1")]])
            #expect(first.status == .ok, "\(first.text)")
            #expect(Self.results(first).first?["status"] as? String == "accepted")
            #expect((Self.results(first).first?["amount"] as? NSNumber)?.int64Value == 6)
            let retry = try await lab.post("/v1/usage", ["events": [Self.event(grant, tokens: 3_000, key: "call-1"), Self.event(grant, tokens: 1_000, key: "call-2")]])
            let retried = Self.results(retry)
            #expect(retried.count == 2)
            #expect(retried[0]["replayed"] as? Bool == true)
            #expect(retried[0]["event"] as? String == Self.results(first).first?["event"] as? String, "the same answer as the first time")
            #expect(retried[1]["status"] as? String == "accepted")
            #expect(try await lab.get("/v1/grants/\(grant)/usage").int("tokensUsed") == 4_000)

            // R27: the dataset's daily cap (5,000) names itself; the assignee cap set by the operator too.
            let overDataset = try await lab.post("/v1/usage", ["events": [Self.event(grant, tokens: 1_001, key: "call-3")]])
            #expect(Self.results(overDataset).first?["quota"] as? String == "dataset_daily", "\(overDataset.text)")
            #expect(Self.results(overDataset).first?["rule"] as? String == "R27")
            let cap = try await admin.call(.put, "/v1/parties/\(labID)/daily-token-cap", ["dailyTokens": 4_500])
            #expect(cap.status == .ok, "\(cap.text)")
            #expect(try await lab.call(.put, "/v1/parties/\(labID)/daily-token-cap", ["dailyTokens": 1]).status == .forbidden)
            let overAssignee = try await lab.post("/v1/usage", ["events": [Self.event(grant, tokens: 600, key: "call-4")]])
            #expect(Self.results(overAssignee).first?["quota"] as? String == "assignee_daily", "\(overAssignee.text)")
            // The decision API sees the same headroom (R24 with R27).
            let decision = try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training&tokens=600")
            #expect(decision["allow"] as? Bool == false)
            #expect(decision.string("rule") == "R27", "\(decision.text)")
            #expect(try await lab.get("/v1/decisions?dataset=\(dataset)&purpose=model_training&tokens=500")["allow"] as? Bool == true)

            // R27: the daily caps follow the registry's clock: a day later (sandbox clock) there is room again,
            // while the grant's own quota keeps what was used.
            let moved = try await admin.post("/v1/sandbox/clock", ["days": 1])
            #expect(moved.status == .ok, "\(moved.text)")
            let tomorrow = ISO8601DateFormatter.string(
                from: Date().addingTimeInterval(86_400), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
            let nextDay = try await lab.post("/v1/usage", ["events": [Self.event(grant, tokens: 600, key: "call-5", at: tomorrow)]])
            #expect(Self.results(nextDay).first?["status"] as? String == "accepted", "\(nextDay.text)")
            #expect(try await lab.get("/v1/grants/\(grant)/usage").int("tokensUsed") == 4_600)

            // Bad input: 400 naming the field, nothing recorded.
            let before = try await registry.database.pool.query("SELECT count(*) FROM usage_event") { try $0.decode(Int64.self, column: 0) }[0]
            let badTokens = try await lab.post("/v1/usage", ["events": [Self.event(grant, tokens: 5, key: "ok"), Self.event(grant, tokens: 0, key: "bad")]])
            #expect(badTokens.status == .badRequest)
            #expect(badTokens.text.contains("events[1].tokens"), "\(badTokens.text)")
            let unknownField = try await lab.post("/v1/usage", ["events": [["grant": grant, "tokens": 5, "at": Self.nowText(), "key": "x", "colour": "red"]]])
            #expect(unknownField.status == .badRequest)
            #expect(unknownField.text.contains("events[0].colour"), "\(unknownField.text)")
            let tooMany = try await lab.post("/v1/usage", ["events": (0...Limits.maxUsageEventsPerRequest).map { Self.event(grant, tokens: 1, key: "m\($0)") }])
            #expect(tooMany.status == .badRequest || tooMany.status == .contentTooLarge, "\(tooMany.status)")
            let after = try await registry.database.pool.query("SELECT count(*) FROM usage_event") { try $0.decode(Int64.self, column: 0) }[0]
            #expect(after == before, "a refused request writes nothing")

            // R28: statements, JSON and CSV, for the payer and the payee; the ledger balances.
            // Postings are dated by the registry's clock (a day ahead now) in its calendar (UTC+8).
            let today = String(ISO8601DateFormatter.string(
                from: Date().addingTimeInterval(2 * 86_400), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate]).prefix(10))
            let statement = try await lab.get("/v1/statements?from=2026-01-01&to=\(today)")
            #expect(statement.status == .ok, "\(statement.text)")
            #expect(statement.int("debits") == 9, "⌊4,600 tokens × 2,000 fen ÷ 1,000,000⌋")
            #expect(statement.int("closingBalance") == -9)
            let lines = statement.json["lines"] as? [[String: Any]] ?? []
            #expect(lines.count == 1)
            #expect((lines.first?["tokens"] as? NSNumber)?.int64Value == 4_600)
            #expect((lines.first?["counterparty"] as? NSNumber)?.int64Value == enterpriseID)
            let payee = try await cast.as("enterprise").client.execute(
                uri: "/v1/statements?from=2026-01-01&to=\(today)&format=csv", method: .get,
                headers: [.authorization: "Bearer \(cast.keys["enterprise"]!)"]) { response in (response.status, String(buffer: response.body)) }
            #expect(payee.0 == .ok)
            #expect(payee.1.hasPrefix("party,from,to,kind,side,grant,dataset,counterparty,postings,tokens,amount_fen\r\n"))
            #expect(payee.1.contains(",use,credit,\(grant),\(dataset),\(labID),3,4600,9\r\n"), "\(payee.1)")
            #expect(payee.1.contains(",closing_balance,,,,,,,9\r\n"))
            #expect(try await lab.get("/v1/statements?party=\(enterpriseID)&from=2026-01-01&to=\(today)").status == .forbidden)
            #expect(try await lab.get("/v1/statements?from=2026-02-30&to=\(today)").status == .badRequest)

            // A restart rebuilds the same counters, accounts and remembered keys from PostgreSQL.
            let live = registry.registry.read { state in
                (state.usage.usage(of: GrantID(rawValue: 1)), state.usage.allAccounts.map(\.account), state.usage.lastEvent, state.digest)
            }
            await registry.close()
            let reopened = try await RegistryService.open(database: registry.database, sandbox: true, logger: Logger(label: "test.restart"))
            let rebuilt = reopened.registry.read { state in
                (state.usage.usage(of: GrantID(rawValue: 1)), state.usage.allAccounts.map(\.account), state.usage.lastEvent, state.digest)
            }
            #expect(rebuilt.0 == live.0 && rebuilt.1 == live.1 && rebuilt.2 == live.2 && rebuilt.3 == live.3)
            let labParty = try #require(reopened.registry.read { $0.party(PartyID(rawValue: labID)) })
            let replay = try await reopened.recordUsage(UsageSubmission(party: labParty.id, events: [
                UsageEvent(grant: grant, tokens: 3_000, usedAt: reopened.now(), key: "call-1"),
            ]))
            #expect(replay.first?.replayed == true, "a key answered before the restart is still known")
            await reopened.close()
        }
    }

    @Test func R27_aGroupWhoseTransactionFailsTakesNothingWithItAndTheGroupsAfterItStillAgree() async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let (_, grant) = try await Self.grant(cast, quota: 1_000_000_000)
            let port = try #require(cast.api.client.port)
            let labKey = try #require(cast.keys["lab"])
            // PostgreSQL refuses any event whose key starts with "poison": the transaction of the group
            // holding it fails, and so must the group planned on top of it (it rolls back at the gate).
            try await registry.database.pool.withConnection { connection in
                try connection.executeScript("""
                    CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF NEW.idempotency_key LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned event %', NEW.idempotency_key; END IF;
                        RETURN NEW;
                    END $$;
                    CREATE TRIGGER test_poison BEFORE INSERT ON usage_event FOR EACH ROW EXECUTE FUNCTION test_poison();
                    """)
            }
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = 16
            let session = URLSession(configuration: configuration)
            let at = Self.nowText()
            @Sendable func send(_ keys: [String]) async throws -> (Int, [[String: Any]]) {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/usage")!)
                request.httpMethod = "POST"
                request.timeoutInterval = 60
                request.setValue("Bearer \(labKey)", forHTTPHeaderField: "Authorization")
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = try JSONSerialization.data(withJSONObject: ["events": keys.map { Self.event(grant, tokens: 7, key: $0, at: at) }])
                let (data, response) = try await session.checkedData(for: request)
                let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
                return (response.statusCode, json["results"] as? [[String: Any]] ?? [])
            }
            // 16 clients × 20 requests × 40 events; one request in 7 carries a poisoned event.
            let outcomes = try await withThrowingTaskGroup(of: [(keys: [String], status: Int, accepted: Int)].self) { group in
                for client in 0..<16 {
                    group.addTask {
                        var outcomes: [(keys: [String], status: Int, accepted: Int)] = []
                        for round in 0..<20 {
                            var keys = (0..<40).map { "c\(client)-r\(round)-e\($0)" }
                            if (client * 20 + round) % 7 == 3 { keys[17] = "poison-\(client)-\(round)" }
                            let (status, results) = try await send(keys)
                            outcomes.append((keys, status, results.filter { $0["status"] as? String == "accepted" }.count))
                        }
                        return outcomes
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let failed = outcomes.filter { $0.status != 200 }
            let poisoned = outcomes.filter { $0.keys.contains { $0.hasPrefix("poison") } }
            #expect(poisoned.allSatisfy { $0.status >= 500 }, "a request whose group failed is answered 5xx")
            #expect(failed.allSatisfy { $0.status >= 500 })
            #expect(outcomes.filter { $0.status == 200 }.allSatisfy { $0.accepted == 40 })

            // What failed is retried without the poison (a client sending its failed requests again).
            try await registry.database.pool.withConnection { try $0.executeScript("DROP TRIGGER test_poison ON usage_event") }
            for outcome in failed {
                let (status, results) = try await send(outcome.keys.filter { !$0.hasPrefix("poison") })
                #expect(status == 200)
                #expect(results.allSatisfy { $0["status"] as? String == "accepted" && $0["replayed"] == nil }, "nothing of a failed group was kept")
            }
            let clean = 16 * 20 * 40 - poisoned.count
            print("failed groups: \(poisoned.count) poisoned requests, \(failed.count) requests failed in all")
            let usage = try await cast.as("lab").get("/v1/grants/\(grant)/usage")
            #expect(usage.int("tokensUsed") == Int64(clean * 7), "every clean event once, nothing of the failures")
            let stored = try await registry.database.pool.query("""
                SELECT count(*), count(DISTINCT idempotency_key), (SELECT tokens FROM grant_usage) FROM usage_event
                """) { row in (try row.decode(Int64.self, column: 0), try row.decode(Int64.self, column: 1), try row.decode(Int64.self, column: 2)) }[0]
            #expect(stored.0 == Int64(clean) && stored.1 == Int64(clean) && stored.2 == Int64(clean * 7))
            // The core after all this equals a rebuild from PostgreSQL, and the audit chain holds.
            let rebuilt = try await RegistryLoader.load(from: registry.database)
            #expect(rebuilt.digest == registry.registry.read { $0.digest })
            guard case .valid = try await registry.verifyAudit() else {
                Issue.record("the audit chain verifies after failed groups")
                return
            }
        }
    }
}
