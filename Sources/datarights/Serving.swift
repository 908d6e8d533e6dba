import Hummingbird
import Logging
import RegistryCore
import RegistryStore
import ServiceLifecycle
import UnixSignals

/// Runs the HTTP application until SIGTERM or SIGINT, then drains and shuts down gracefully.
///
/// A signal first marks the node not ready and keeps serving for ``Limits/shutdownDrainMilliseconds``:
/// a client whose request head is still arriving then gets it through and is answered (the graceful
/// shutdown waits for requests in progress, but closes a connection whose head is incomplete at once,
/// which the client sees as a reset). Then the service group shuts down gracefully, waiting at most
/// ``Limits/shutdownGraceSeconds`` for requests in flight.
enum Serving {
    static func run(_ app: some ApplicationProtocol, database: RegistryDatabase, limits: Limits, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(services: [app], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(limits.shutdownGraceSeconds)
        let group = ServiceGroup(configuration: configuration)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let drain = Duration.milliseconds(limits.shutdownDrainMilliseconds)
        let watcher = Task {
            for await signal in signals {
                logger.notice("Shutting down: not ready, draining", metadata: ["signal": "\(signal)", "drain": "\(drain)"])
                database.beginShutdown()
                try? await Task.sleep(for: drain)
                await group.triggerGracefulShutdown()
                return
            }
        }
        defer { watcher.cancel() }
        try await group.run()
    }
}
