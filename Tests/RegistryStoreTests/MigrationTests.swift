import Logging
import PostgresClient
import RegistryCore
import RegistryStore
import TestSupport
import Testing

/// Migrations apply in order, once, and refuse a history that was rewritten.
@Suite struct MigrationTests {
    let logger = Logger(label: "test.migrations")

    static func migrations(_ files: [(String, String)]) throws -> [Migration] {
        try files.map { try Migration(fileName: $0.0, sql: $0.1) }
    }

    static let three: [(String, String)] = [
        ("0001_party.sql", "CREATE TABLE party (id int8 PRIMARY KEY, name text NOT NULL);"),
        ("0002_dataset.sql", "CREATE TABLE dataset (id int8 PRIMARY KEY, holder int8 NOT NULL REFERENCES party);"),
        ("0003_seed.sql", "INSERT INTO party VALUES (1, 'Ministry of Data'); INSERT INTO dataset VALUES (10, 1);"),
    ]

    @Test func migrationsApplyInVersionOrderWhateverOrderTheyAreGiven() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        // Given backwards: 0002 references 0001's table and 0003 fills both, so any other order fails.
        let runner = try MigrationRunner(migrations: Self.migrations(Self.three.reversed()), logger: logger)
        let applied = try await runner.migrate(pool)
        #expect(applied.map(\.version) == [1, 2, 3])
        let recorded = try await pool.query("SELECT version, file_name FROM schema_migration ORDER BY applied_at, version") { row in
            try row.decode((Int, String).self)
        }
        #expect(recorded.map(\.0) == [1, 2, 3])
        #expect(recorded.map(\.1) == ["0001_party.sql", "0002_dataset.sql", "0003_seed.sql"])
    }

    @Test func runningAgainChangesNothing() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let runner = try MigrationRunner(migrations: Self.migrations(Self.three), logger: logger)
        try await runner.migrate(pool)
        let firstRun = try await pool.query("SELECT applied_at FROM schema_migration ORDER BY version") { try $0.decode(Date.self, column: 0) }
        let again = try await runner.migrate(pool)
        #expect(again.isEmpty)
        let secondRun = try await pool.query("SELECT applied_at FROM schema_migration ORDER BY version") { try $0.decode(Date.self, column: 0) }
        #expect(firstRun == secondRun)
        // The seed ran once: a second run would have failed on the duplicate key anyway.
        #expect(try await pool.query("SELECT count(*) FROM party") { try $0.decode(Int.self, column: 0) } == [1])
        #expect(try await runner.status(pool) == .init(applied: [1, 2, 3], pending: []))
    }

    @Test func anEditedAppliedMigrationIsRefusedWithTheFileNamed() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await MigrationRunner(migrations: Self.migrations(Array(Self.three.prefix(2))), logger: logger).migrate(pool)

        var edited = Self.three
        edited[1].1 = "CREATE TABLE dataset (id int8 PRIMARY KEY, holder int8 NOT NULL, grade text);"
        let runner = try MigrationRunner(migrations: Self.migrations(edited), logger: logger)
        let error = await #expect(throws: MigrationError.self) { try await runner.migrate(pool) }
        guard case .edited(let fileName, _, _, _) = error else {
            Issue.record("expected .edited, got \(String(describing: error))")
            return
        }
        #expect(fileName == "0002_dataset.sql")
        #expect(String(describing: error!).contains("Schema/0002_dataset.sql was applied on"))
        #expect(String(describing: error!).contains("new migration"))
        // Refused before anything ran: 0003 is still pending and its seed absent.
        #expect(try await pool.query("SELECT count(*) FROM schema_migration") { try $0.decode(Int.self, column: 0) } == [2])
        #expect(try await pool.query("SELECT to_regclass('party') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM party)") { try $0.decode(Bool.self, column: 0) } == [true])
    }

    @Test func aNewMigrationNumberedBelowAnAppliedOneIsRefused() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await MigrationRunner(migrations: Self.migrations([Self.three[0], Self.three[2]].map { ($0.0, $0.1.contains("INSERT") ? "SELECT 1;" : $0.1) }), logger: logger).migrate(pool)
        let runner = try MigrationRunner(migrations: Self.migrations([Self.three[0], Self.three[1], ("0003_seed.sql", "SELECT 1;")]), logger: logger)
        let error = await #expect(throws: MigrationError.self) { try await runner.migrate(pool) }
        #expect(error == .outOfOrder(fileName: "0002_dataset.sql", latestApplied: "0003_seed.sql"))
    }

    @Test func aDatabaseMigratedByANewerBinaryIsRefused() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await MigrationRunner(migrations: Self.migrations(Self.three), logger: logger).migrate(pool)
        let older = try MigrationRunner(migrations: Self.migrations(Array(Self.three.prefix(2))), logger: logger)
        let error = await #expect(throws: MigrationError.self) { try await older.migrate(pool) }
        #expect(error == .unknownApplied(version: 3, fileName: "0003_seed.sql"))
    }

    @Test func aFailingMigrationRollsBackAndIsNotRecorded() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let broken = Self.three.prefix(1) + [("0002_broken.sql", "CREATE TABLE half (id int8); INSERT INTO nowhere VALUES (1);")]
        let runner = try MigrationRunner(migrations: Self.migrations(Array(broken)), logger: logger)
        let error = await #expect(throws: MigrationError.self) { try await runner.migrate(pool) }
        #expect(String(describing: error!).contains("0002_broken.sql failed"))
        #expect(String(describing: error!).contains("42P01"))
        #expect(try await pool.query("SELECT version FROM schema_migration") { try $0.decode(Int.self, column: 0) } == [1])
        #expect(try await pool.query("SELECT to_regclass('half') IS NULL") { try $0.decode(Bool.self, column: 0) } == [true])
    }

    @Test func concurrentRunnersApplyEachMigrationOnce() async throws {
        let configuration = try await TestCluster.makeDatabase()
        let runner = try MigrationRunner(migrations: Self.migrations(Self.three), logger: logger)
        let pools = (0..<4).map { _ in PostgresPool(configuration: .init(connection: configuration, maxConnections: 1), logger: logger) }
        defer { Task { for pool in pools { await pool.shutdown() } } }
        let appliedCounts = try await withThrowingTaskGroup(of: Int.self) { group in
            for pool in pools { group.addTask { try await runner.migrate(pool).count } }
            return try await group.reduce(0, +)
        }
        #expect(appliedCounts == 3)
        #expect(try await pools[0].query("SELECT count(*) FROM party") { try $0.decode(Int.self, column: 0) } == [1])
    }

    @Test func misnamedAndDuplicateFilesAreRefused() throws {
        #expect(throws: MigrationError.badFileName("1_x.sql")) { try Migration(fileName: "1_x.sql", sql: "") }
        #expect(throws: MigrationError.badFileName("0001-x.sql")) { try Migration(fileName: "0001-x.sql", sql: "") }
        let duplicate = try Self.migrations([("0001_a.sql", ""), ("0001_b.sql", "")])
        #expect(throws: MigrationError.duplicateVersion(1, ["0001_a.sql", "0001_b.sql"])) {
            try MigrationRunner(migrations: duplicate, logger: logger)
        }
    }

    /// R20: 0006 moves the policies a registry already has onto shared rule sets, one per distinct value
    /// (however its JSON was spaced), and the policies keep their rules.
    @Test func R20_policyRuleSetsAreSharedByTheMigrationThatIntroducesThem() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        let before = Migration.bundled.filter { $0.version < 6 }
        try await MigrationRunner(migrations: before, logger: logger).migrate(pool)
        let prohibit = #"[{"action": "use", "kind": "prohibition", "purposes": ["model_training"]}]"#
        let compact = #"[{"kind":"prohibition","action":"use","purposes":["model_training"]}]"#
        let permit = #"[{"action": "use", "kind": "permission"}]"#
        try await pool.withConnection { connection in
            try connection.executeScript("""
                INSERT INTO party (id, name, kind, region, jurisdiction, created_at)
                VALUES (1, 'Ministry of Data', 'department', 'CN-BJ', 'mainland', now());
                INSERT INTO dataset (id, holder_id, title, description, grade, pi_level, individuals_covered, region, fingerprint,
                                     format, update_cycle, size_bytes, tags, created_at, updated_at)
                SELECT g, 1, 'Dataset ' || g, '', 'general', 'none', 0, 'CN-BJ', repeat('a', 64), 'csv', 'daily', 0, '{}', now(), now()
                FROM generate_series(1, 3) AS g;
                """)
            for (dataset, rules) in [(1, prohibit), (2, compact), (3, permit)] {
                _ = try connection.execute("""
                    INSERT INTO dataset_policy (dataset_id, version, rules, approval, price_per_million_tokens, updated_by, updated_at)
                    VALUES (\(Int64(dataset)), 1, \(PostgresJSONB(rules)), 'automatic', 0, 1, now())
                    """)
            }
        }
        try await MigrationRunner(logger: logger).migrate(pool)
        #expect(try await pool.query("SELECT count(*) FROM policy_rules") { try $0.decode(Int.self, column: 0) } == [2])
        let policies = try await pool.query("SELECT dataset_id, rules_id FROM dataset_policy ORDER BY dataset_id") { try $0.decode((Int64, Int64).self) }
        #expect(policies.count == 3 && policies[0].1 == policies[1].1 && policies[0].1 != policies[2].1)
        let kept = try await pool.query("SELECT dataset_id, rules = \(PostgresJSONB(prohibit)) FROM dataset_policy_with_rules ORDER BY dataset_id") {
            try $0.decode((Int64, Bool).self)
        }
        #expect(kept.map(\.1) == [true, true, false])
    }

    /// Schema 0008 drops usage_event's B-tree on id: a database metered before it keeps its events, and
    /// its newest batch is given the last event's id, which the loader reads instead of max(id) (R26).
    @Test func R26_usageEventsMeteredBefore0008KeepTheirNewestIdOnTheNewestBatch() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        try await MigrationRunner(migrations: Migration.bundled.filter { $0.version < 8 }, logger: logger).migrate(pool)
        try await pool.withConnection { connection in
            try connection.executeScript("""
                INSERT INTO audit_event (seq, at, actor, kind, payload, prev_hash, hash)
                SELECT g, now(), 'system', 'usage', '{}', decode(repeat(to_hex(g), 64 / length(to_hex(g))), 'hex'),
                       decode(repeat(to_hex(g + 16), 64 / length(to_hex(g + 16))), 'hex')
                FROM generate_series(1, 2) AS g;
                INSERT INTO usage_batch (id, committed_at, events, accepted, tokens, amount, events_digest, audit_seq)
                VALUES (1, now(), 2, 2, 2, 0, '\\x00', 1), (2, now(), 1, 1, 1, 0, '\\x00', 2);
                INSERT INTO usage_event (id, batch_id, assignee_id, idempotency_key, tokens, used_at, recorded_at, accepted, amount)
                VALUES (1, 1, 7, 'a', 1, now(), now(), true, 0), (2, 1, 7, 'b', 1, now(), now(), true, 0),
                       (3, 2, 7, 'c', 1, now(), now(), true, 0);
                """)
        }
        try await MigrationRunner(logger: logger).migrate(pool)
        let batches = try await pool.query("SELECT id, last_event FROM usage_batch ORDER BY id") { (try $0.decode(Int64.self, column: 0), try $0.decode(Int64?.self, column: 1)) }
        #expect(batches.map(\.0) == [1, 2] && batches.map(\.1) == [nil, 3])
        let indexes = try await pool.query("""
            SELECT a.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
            WHERE i.indrelid = 'usage_event'::regclass ORDER BY 1
            """) { try $0.decode(String.self, column: 0) }
        #expect(indexes == ["brin", "brin", "btree"], "recorded_at and id by BRIN; the unique key the one B-tree")
        #expect(try await pool.query("SELECT count(*) FROM usage_event") { try $0.decode(Int.self, column: 0) } == [3])
    }

    /// R30: 0010 links every audit entry already written to the datasets its record concerns, and from
    /// then on each entry is linked as it is written (a bulk load's COPY included): both give exactly the
    /// links the records name, as read here from the records themselves rather than from their JSON.
    @Test func R30_auditEntriesAreLinkedToTheirDatasetsByTheMigrationAsWhenWritten() async throws {
        let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)
        var registry = SyntheticRegistry.generate(datasets: 600, seed: 5, now: now)
        // Parties without sectors: the registry is loaded into a database from before 0011 added them.
        for index in registry.parties.indices { registry.parties[index].sector = nil }
        let registrationDataset = Dictionary(uniqueKeysWithValues: registry.registrations.map { ($0.id, $0.dataset.rawValue) })
        var expected: [[Int64]] = []
        for (index, entry) in registry.changeEntries.enumerated() {
            let datasets: [DatasetID] = switch entry.record {
            case .dataset(let dataset): [dataset.id]
            case .registration(let registration): [registration.dataset]
            case .certificate(let certificate): [certificate.dataset]
            case .policy(let policy): [policy.dataset]
            case .accessRequest(let request): [request.dataset]
            case .grant(let grant): [grant.dataset]
            case .flagCascade(let cascade): [cascade.dataset] + cascade.descendants
            case .derivation(let derivation): [derivation.source, derivation.target]
            case .objection(let objection): registrationDataset[objection.registration].map { [DatasetID(rawValue: $0)] } ?? []
            case .party, .apiKey, .settings: []
            }
            expected += Set(datasets.map(\.rawValue)).map { [$0, Int64(index + 1)] }
        }
        expected.sort { ($0[0], $0[1]) < ($1[0], $1[1]) }
        #expect(expected.count > registry.changeEntries.count / 2)
        #expect(registry.objections.count > 0 && registry.derivations.count > 0, "the sample has every kind of link")

        func links(_ database: RegistryDatabase) async throws -> [[Int64]] {
            try await database.pool.query("SELECT dataset_id, seq FROM audit_event_dataset ORDER BY dataset_id, seq") { row in
                [try row.decode(Int64.self, column: 0), try row.decode(Int64.self, column: 1)]
            }
        }
        var limits = Limits()
        limits.databasePoolConnections = 2
        // Loaded before the migration, then migrated: the back-fill.
        let before = try RegistryDatabase(configuration: try await TestCluster.makeDatabase(), limits: limits, logger: logger)
        defer { Task { await before.shutdown() } }
        try await MigrationRunner(migrations: Migration.bundled.filter { $0.version < 10 }, logger: logger).migrate(before.pool)
        _ = try await BulkLoader.load(registry, into: before, at: now)
        try await before.migrate()
        #expect(try await links(before) == expected)
        // Migrated, then loaded: the trigger.
        let after = try RegistryDatabase(configuration: try await TestCluster.makeDatabase(), limits: limits, logger: logger)
        defer { Task { await after.shutdown() } }
        try await after.migrate()
        _ = try await BulkLoader.load(registry, into: after, at: now)
        #expect(try await links(after) == expected)
        // The links are kept as the chain is.
        await #expect(throws: PostgresError.self) { try await after.pool.query("DELETE FROM audit_event_dataset") { _ in 0 } }
    }

    @Test func theBundledSchemaAppliesToAnEmptyDatabase() async throws {
        let pool = try await TestCluster.makePool()
        defer { Task { await pool.shutdown() } }
        #expect(!Migration.bundled.isEmpty)
        #expect(Migration.bundled.map(\.version) == Array(1...Migration.bundled.count), "Schema/ is numbered without gaps")
        let runner = try MigrationRunner(logger: logger)
        try await runner.migrate(pool)
        #expect(try await runner.status(pool).isCurrent)
    }
}

import Foundation
