public import Logging
public import PostgresClient

/// Applies ``Migration``s to a database: each pending one in its own transaction, in version order,
/// recorded in `schema_migration` with its checksum. Concurrent runners (two servers starting at once)
/// are serialized by an advisory lock; the second finds nothing left to do.
///
/// An applied migration whose file was edited since, an applied migration this binary does not know,
/// and a new migration numbered below an applied one are refused before anything is changed.
public struct MigrationRunner: Sendable {
    /// What the database holds compared with the migrations given.
    public struct Status: Sendable, Equatable {
        public var applied: [Int]
        public var pending: [Int]

        public init(applied: [Int], pending: [Int]) {
            self.applied = applied
            self.pending = pending
        }
        /// True when every migration is applied and none was edited.
        public var isCurrent: Bool { pending.isEmpty }
    }

    /// Key of the session advisory lock that serializes migration runs ("DRMIGRAT" in ASCII).
    static let advisoryLockKey: Int64 = 0x4452_4D49_4752_4154

    public let migrations: [Migration]
    private let logger: Logger

    public init(migrations: [Migration] = Migration.bundled, logger: Logger) throws {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (version, group) in Dictionary(grouping: sorted, by: \.version) where group.count > 1 {
            throw MigrationError.duplicateVersion(version, group.map(\.fileName).sorted())
        }
        self.migrations = sorted
        self.logger = logger
    }

    /// Applies every pending migration and returns the ones it applied (empty when already current).
    @discardableResult
    public func migrate(_ pool: PostgresPool) async throws -> [Migration] {
        try await pool.withConnection { connection in try self.migrate(on: connection) }
    }

    /// Compares the database with the migrations, changing nothing; throws what ``migrate(_:)`` would
    /// refuse.
    public func status(_ pool: PostgresPool) async throws -> Status {
        try await pool.withConnection { connection in
            let applied = try self.appliedMigrations(on: connection, createTable: false)
            let pending = try self.pendingMigrations(applied: applied)
            return Status(applied: applied.map(\.version), pending: pending.map(\.version))
        }
    }

    /// ``migrate(_:)`` on a connection the caller holds.
    public func migrate(on connection: PostgresConnection) throws -> [Migration] {
        try connection.execute("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))") }

        let applied = try appliedMigrations(on: connection, createTable: true)
        let pending = try pendingMigrations(applied: applied)
        for migration in pending {
            let started = ContinuousClock.now
            do {
                try connection.withTransaction { transaction in
                    try transaction.executeScript(migration.sql)
                    let elapsed = ContinuousClock.now - started
                    try transaction.execute("""
                        INSERT INTO schema_migration (version, file_name, checksum, execution_ms)
                        VALUES (\(migration.version), \(migration.fileName), \(migration.checksum),
                                \(Int64(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)))
                        """)
                }
            } catch let error as PostgresError {
                throw MigrationError.failed(fileName: migration.fileName, reason: error.description)
            }
            logger.notice(
                "Applied migration",
                metadata: ["migration": "\(migration.fileName)", "elapsed": "\(ContinuousClock.now - started)"])
        }
        return pending
    }

    private struct AppliedMigration {
        var version: Int
        var fileName: String
        var checksum: String
        var appliedAt: String
    }

    private func appliedMigrations(on connection: PostgresConnection, createTable: Bool) throws -> [AppliedMigration] {
        if createTable {
            try connection.executeScript("""
                CREATE TABLE IF NOT EXISTS schema_migration (
                    version      int4 PRIMARY KEY,
                    file_name    text NOT NULL,
                    checksum     text NOT NULL,
                    applied_at   timestamptz NOT NULL DEFAULT now(),
                    execution_ms int8 NOT NULL
                )
                """)
        } else {
            let exists = try connection.query("SELECT to_regclass('schema_migration') IS NOT NULL")[0].decode(Bool.self, column: 0)
            if !exists { return [] }
        }
        let rows = try connection.query("""
            SELECT version, file_name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
            FROM schema_migration ORDER BY version
            """)
        return try rows.map { row in
            let (version, fileName, checksum, appliedAt) = try row.decode((Int, String, String, String).self)
            return AppliedMigration(version: version, fileName: fileName, checksum: checksum, appliedAt: appliedAt)
        }
    }

    private func pendingMigrations(applied: [AppliedMigration]) throws -> [Migration] {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for record in applied {
            guard let migration = known[record.version] else {
                throw MigrationError.unknownApplied(version: record.version, fileName: record.fileName)
            }
            guard migration.checksum == record.checksum else {
                throw MigrationError.edited(
                    fileName: migration.fileName, appliedAt: record.appliedAt, recordedChecksum: record.checksum,
                    currentChecksum: migration.checksum)
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        if let latest = applied.last, let early = pending.first(where: { $0.version < latest.version }) {
            throw MigrationError.outOfOrder(fileName: early.fileName, latestApplied: latest.fileName)
        }
        return pending
    }
}
