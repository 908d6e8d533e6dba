import Logging
import PostgresClient
import RegistryCore

extension RegistryService {
    /// How often the writer lease is checked.
    static let leaseCheckInterval = Duration.milliseconds(Limits.writerLeaseCheckMilliseconds)

    /// Checks the writer lease until cancelled (``close()``).
    ///
    /// The lease is a session advisory lock: when PostgreSQL restarts, the session ends and the lock with
    /// it, unnoticed. Each check re-takes it on the lease's (new) connection if its session no longer
    /// holds it. If another process holds it, that process may be writing: this node fences itself for
    /// good. If it is re-taken but PostgreSQL's audit chain has moved past the core's, another writer
    /// came and went: the core is rebuilt from PostgreSQL.
    func watchLease() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.leaseCheckInterval)
            guard !Task.isCancelled else { return }
            await checkLease()
        }
    }

    func checkLease() async {
        let key = Self.writerLeaseKey
        let outcome: [(held: Bool, retaken: Bool)]
        do {
            outcome = try await lease.query("""
                SELECT held OR retaken, retaken FROM (
                    SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted) AS held
                ) AS mine, LATERAL (SELECT CASE WHEN mine.held THEN false ELSE pg_try_advisory_lock(\(key)) END AS retaken) AS taken
                """) { (try $0.decode(Bool.self, column: 0), try $0.decode(Bool.self, column: 1)) }
        } catch {
            return  // PostgreSQL unreachable: the next check tries again
        }
        guard let state = outcome.first else { return }
        if !state.held {
            logger.critical("Another process holds the writer lease; this node stops writing")
            database.fence.engage("another process took the writer lease (PostgreSQL restarted under this server); restart this server")
            return
        }
        guard state.retaken else { return }
        logger.warning("Writer lease re-taken after PostgreSQL restarted")
        _ = try? await writer.withLock {
            // A lost COMMIT still being resolved explains a difference by itself, and applies it when known.
            guard self.database.fence.reason == nil else { return }
            let stored = try await self.database.pool.query("SELECT coalesce(max(seq), 0) FROM audit_event") { try $0.decode(Int64.self, column: 0) }
            let head = self.registry.read { $0.auditHead.lastSequence }
            guard let last = stored.first, last != head else { return }
            self.logger.critical("The audit chain moved while the lease was lost; rebuilding the core", metadata: ["core": "\(head)", "stored": "\(last)"])
            self.database.fence.engage("rebuilding the core: another writer wrote while the lease was lost")
            self.registry.replace(with: try await RegistryLoader.load(from: self.database))
            self.database.fence.lift()
        }
    }
}
