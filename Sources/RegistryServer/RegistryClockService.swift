import Logging
import RegistryCore
import RegistryStore
import ServiceLifecycle

/// Completes what the clock makes due (notice periods that ended) once a minute, and once at start; and
/// deletes idempotency keys past their retention (``RegistryService/pruneIdempotencyKeys()``).
struct RegistryClockService: Service, CustomStringConvertible {
    let service: RegistryService
    let logger: Logger
    var interval: Duration = .seconds(Limits.clockTickSeconds)
    var description: String { "registry clock" }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let changes = try await service.execute(.tick, by: nil)
                if !changes.isEmpty {
                    logger.info("Clock completed due registrations", metadata: ["changes": "\(changes.count)"])
                }
            } catch {
                logger.error("Clock tick failed", metadata: ["error": "\(error)"])
            }
            do {
                let pruned = try await service.pruneIdempotencyKeys()
                if pruned > 0 { logger.info("Idempotency keys past their retention deleted", metadata: ["keys": "\(pruned)"]) }
            } catch {
                logger.warning("Idempotency keys could not be pruned", metadata: ["error": "\(error)"])
            }
            // Sleep, but wake for a graceful shutdown.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
