import Hummingbird
import Logging
import RegistryCore
import RegistryStore
import ServiceLifecycle
import UnixSignals

/// Runs the HTTP application, and what start-up opened, in one service group until SIGTERM or SIGINT,
/// then drains and shuts them all down gracefully.
///
/// The group's list is [embedded cluster, store, registry, app, signal watcher] and a group shuts down in
/// reverse order: the HTTP server stops first (the registry's clock with it, after the server), then the
/// registry's writes are drained and it stops following the log, the pool closes, and the cluster stops last.
/// Any service ending — the watcher after a signal, or the app failing (its port taken) — shuts the
/// whole group down that way; a failure is then rethrown.
enum Serving {
    static func run(_ app: some ApplicationProtocol, startup: Startup, database: RegistryDatabase, limits: Limits, logger: Logger) async throws {
        // Trapped before start-up lets go of the signals, so that none falls between the two.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let resources: [any Service] = await startup.handOver()
        let watcher = DrainOnSignalService(
            signals: signals, database: database, drain: .milliseconds(limits.shutdownDrainMilliseconds), logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: (resources + [app, watcher]).map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            logger: logger)
        // Past this, the services still running are cancelled: each then closes its resource at once.
        configuration.maximumGracefulShutdownDuration = .seconds(limits.shutdownGraceSeconds)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// Waits for SIGTERM or SIGINT, then marks the node not ready and keeps serving for
/// ``Limits/shutdownDrainMilliseconds`` before it ends, which shuts the group down gracefully (waiting
/// at most ``Limits/shutdownGraceSeconds`` for requests in flight).
///
/// The drain lets a client whose request head is still arriving get it through and be answered: the
/// graceful shutdown waits for requests in progress, but closes a connection whose head is incomplete at
/// once, which the client sees as a reset.
struct DrainOnSignalService: Service, CustomStringConvertible {
    let signals: UnixSignalsSequence
    let database: RegistryDatabase
    let drain: Duration
    let logger: Logger
    var description: String { "signal watcher" }

    func run() async throws {
        let signals = self.signals
        // Without a signal when the group shuts down for another reason.
        guard let signal = await cancelWhenGracefulShutdown({ await signals.first { _ in true } }) else { return }
        logger.notice("Shutting down: not ready, draining", metadata: ["signal": "\(signal)", "drain": "\(drain)"])
        database.beginShutdown()
        try? await Task.sleep(for: drain)
    }
}
