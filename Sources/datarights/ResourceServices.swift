import RegistryStore
import ServiceLifecycle

/// Something a command opened at start-up that must be closed, run as a service: it holds the resource
/// until its service group shuts down, then closes it.
///
/// A group shuts its services down one at a time, in the reverse order of its list, so a list of
/// [cluster, store, registry, app] stops the HTTP server first and the cluster last. When the group is
/// cancelled instead (its grace period ran out) every service closes at once: that is still safe, since
/// stopping the cluster ends the sessions of queries that would keep the pool's close waiting.
///
/// Not for a resource that must stop while the group goes on: its service ends only with the group.
protocol ClosingService: Service, CustomStringConvertible {
    /// Closes the resource. Called once: when the service's run ends, or by ``Startup`` when a later
    /// step of start-up failed and the service never ran.
    func close() async
}

extension ClosingService {
    func run() async throws {
        // Returns on a graceful shutdown and throws on cancellation: either way the resource is closed.
        try? await gracefulShutdown()
        await close()
    }
}

/// The embedded PostgreSQL cluster this process started (or adopted): stopped with `pg_ctl stop -m fast`
/// when the service ends. An external server, or a cluster another process runs, needs no service.
struct EmbeddedClusterService: ClosingService {
    let database: OpenedDatabase
    var description: String { "embedded PostgreSQL" }

    func close() async {
        await database.close()
    }
}

/// The store's connection pool: when the service ends, waiting requests fail, running ones finish and
/// every connection closes.
struct StoreService: ClosingService {
    let store: RegistryDatabase
    var description: String { "store" }

    func close() async {
        await store.shutdown()
    }
}

/// The registry's in-memory core and its writer: on a graceful shutdown the writes still under way (a
/// usage group in PostgreSQL, the clock's last tick) are committed and answered, then the replica stops
/// following the log and closes its connections.
struct RegistryCoreService: ClosingService {
    let registry: RegistryService
    var description: String { "registry" }

    func run() async throws {
        // Cancelled, the group is past its grace period: the replica closes without waiting for a write
        // that may be stuck in the database.
        if (try? await gracefulShutdown()) != nil { await registry.drain() }
        await close()
    }

    func close() async {
        await registry.close()
    }
}
