#if canImport(Glibc)
import Glibc
#endif
import Logging
import RegistryCore
import RegistryStore
import Synchronization
import UnixSignals

/// A command's start-up: what it has opened so far, and what SIGTERM and SIGINT do meanwhile.
///
/// Start-up opens things one after another — the database (maybe an embedded cluster), the store, the
/// registry's core — and records each as the ``ClosingService`` that closes it. If a step fails,
/// ``run(_:)`` closes what was opened, newest first, and rethrows. When start-up succeeds, `serve` hands
/// the services to its service group (``handOver()``), which closes them in the same order when it shuts
/// down. A one-off command is start-up from end to end (``oneOffCommand(logger:_:)``).
///
/// A signal before the hand-over — while the cluster starts, migrations run, `--demo` bulk-loads its
/// registry or the core is rebuilt — stops the embedded cluster this process started and ends the
/// process with 128 + the signal, the shell's status for death by it. Start-up's work cannot be
/// cancelled (it blocks in libpq, on threads of its own) and closing the pool would wait for it;
/// stopping the cluster ends its sessions at once, and nothing else needs closing when the process ends.
final class Startup: Sendable {
    private struct State {
        var resources: [any ClosingService] = []
        var database: OpenedDatabase?
        var signal: Int32?
        var stopping = false
        var handedOver = false
    }

    /// What a signal received during start-up asks of whoever looks at it.
    private enum SignalAction {
        case none
        /// Stop the database's cluster and end the process: the first to see the signal does it.
        case stop(signal: Int32, database: OpenedDatabase?)
        /// Another caller is stopping, and ends the process when it has.
        case waitForExit
    }

    private let state = Mutex(State())
    private let logger: Logger

    private init(logger: Logger) {
        self.logger = logger
    }

    /// Traps SIGTERM and SIGINT from now on (their default action, ending the process at once, would
    /// skip every clean-up).
    static func begin(logger: Logger) async -> Startup {
        let startup = Startup(logger: logger)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        Task {
            for await signal in signals { await startup.receive(signal.rawValue) }
        }
        return startup
    }

    /// Runs a one-off command's `body` as start-up, and closes what it opened, newest first, when it
    /// ends, whether it succeeded or not.
    static func oneOffCommand<T>(logger: Logger, _ body: (Startup) async throws -> T) async throws -> T {
        let startup = await begin(logger: logger)
        let result = try await startup.run { try await body(startup) }
        await startup.close()
        return result
    }

    /// Runs start-up's steps; if one throws, closes what they opened, newest first, and rethrows — unless
    /// a signal came, which is then most likely the cause: the process ends as the signal says.
    func run<T>(_ steps: () async throws -> T) async throws -> T {
        do {
            return try await steps()
        } catch {
            await perform(state.withLock { Self.signalAction(&$0) })
            await close()
            throw error
        }
    }

    /// Records the database: a signal before the hand-over stops its embedded cluster (at once if one
    /// came already), and a cluster this process started is closed with the rest.
    func opened(_ database: OpenedDatabase) async {
        let action = state.withLock { state -> SignalAction in
            state.database = database
            if database.stopOnClose { state.resources.append(EmbeddedClusterService(database: database)) }
            return Self.signalAction(&state)
        }
        await perform(action)
    }

    /// Records a resource, to be closed with the rest.
    func opened(_ resource: some ClosingService) {
        state.withLock { $0.resources.append(resource) }
    }

    /// Opens the database (starting the embedded cluster if it is the one), the store's pool on it, and
    /// migrates unless `migrate` is false. Call within ``run(_:)``.
    func openStore(_ options: DatabaseOptions, limits: Limits, migrate: Bool) async throws -> RegistryDatabase {
        let database = try await options.open(logger: logger)
        await opened(database)
        let store = try RegistryDatabase(configuration: database.configuration, limits: limits, logger: logger)
        opened(StoreService(store: store))
        if migrate { try await store.migrate() }
        return store
    }

    /// Gives what start-up opened, oldest first, to a service group, which from now on handles the
    /// signals and closes them; trap the signals before calling this, so that none falls between the two.
    /// Ends the process if a signal came during start-up.
    func handOver() async -> [any ClosingService] {
        let (action, resources) = state.withLock { state -> (SignalAction, [any ClosingService]) in
            let action = Self.signalAction(&state)
            guard case .none = action else { return (action, []) }
            state.handedOver = true
            defer { state.resources = [] }
            return (.none, state.resources)
        }
        await perform(action)
        return resources
    }

    /// Closes what start-up opened and has not handed over, newest first.
    func close() async {
        let resources = state.withLock { state -> [any ClosingService] in
            defer { state.resources = [] }
            return state.resources
        }
        for resource in resources.reversed() { await resource.close() }
    }

    private func receive(_ signal: Int32) async {
        let action = state.withLock { state -> SignalAction? in
            guard !state.handedOver, state.signal == nil else { return nil }
            state.signal = signal
            // Before the database is open there is nothing to stop yet: `opened(_:)` stops it when it is,
            // or `run(_:)` ends the process if opening fails.
            return state.database == nil ? SignalAction.none : Self.signalAction(&state)
        }
        guard let action else { return }
        logger.notice("Signal during start-up: stopping", metadata: ["signal": "\(signal)"])
        await perform(action)
    }

    private static func signalAction(_ state: inout State) -> SignalAction {
        guard let signal = state.signal else { return .none }
        if state.stopping { return .waitForExit }
        state.stopping = true
        return .stop(signal: signal, database: state.database)
    }

    private func perform(_ action: SignalAction) async {
        switch action {
        case .none:
            return
        case .stop(let signal, let database):
            // Stops the embedded cluster if this process started it (sessions still loading end with it).
            await database?.close()
            logger.notice("DataRights stopped during start-up")
            exit(128 + signal)
        case .waitForExit:
            await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
        }
    }
}
