#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import UnixSignals

/// SIGTERM and SIGINT before the HTTP server runs — while the embedded cluster starts, migrations run,
/// `--demo` bulk-loads its registry or the core is rebuilt — stop the embedded cluster this process
/// started and end the process, instead of leaving PostgreSQL running behind a dead server.
///
/// Once ``serving()`` is called, the service group's own graceful shutdown handles the signals and
/// this ignores them.
final class StartupSignals: Sendable {
    private struct State {
        var database: OpenedDatabase?
        var serving = false
        var received: Int32?
    }

    private let state = Mutex(State())
    private let logger: Logger

    private init(logger: Logger) {
        self.logger = logger
    }

    /// Traps SIGTERM and SIGINT from now on (the default action, ending the process at once, would skip
    /// every clean-up).
    static func install(logger: Logger) async -> StartupSignals {
        let guardian = StartupSignals(logger: logger)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        Task {
            for await signal in signals { await guardian.receive(signal.rawValue) }
        }
        return guardian
    }

    /// The database to close if a signal comes before serving; closes it and exits at once if one
    /// already came.
    func opened(_ database: OpenedDatabase) async {
        let received = state.withLock { state -> Int32? in
            state.database = database
            return state.received
        }
        if let received { await stop(database, signal: received) }
    }

    /// From now on the service group handles the signals. Exits (after closing the database) if one
    /// came during start-up.
    func serving() async {
        let pending = state.withLock { state -> (Int32, OpenedDatabase?)? in
            state.serving = true
            return state.received.map { ($0, state.database) }
        }
        if let (signal, database) = pending { await stop(database, signal: signal) }
    }

    private func receive(_ signal: Int32) async {
        let database = state.withLock { state -> OpenedDatabase?? in
            guard !state.serving, state.received == nil else { return .none }
            state.received = signal
            return .some(state.database)
        }
        guard case .some(let opened) = database else { return }
        logger.notice("Signal during start-up: stopping", metadata: ["signal": "\(signal)"])
        // Before the database is open there is nothing to stop yet: `opened(_:)` stops it when it is.
        if let opened { await stop(opened, signal: signal) }
    }

    /// Stops the embedded cluster if this process started it (sessions still loading are ended with
    /// it) and exits with the shell's status for death by `signal`.
    private func stop(_ database: OpenedDatabase?, signal: Int32) async {
        await database?.close()
        logger.notice("DataRights stopped during start-up")
        exit(128 + signal)
    }
}
