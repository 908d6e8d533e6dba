import Synchronization

/// Bounds the answers of one kind of public route computed at once: they need no key, so no key's rate
/// limit applies. A request beyond the limit is told to retry after a second (429) rather than queue
/// behind the core's read lock.
final class PublicGate: Sendable {
    private let inFlight = Atomic<Int>(0)
    private let limit: Int
    /// What is computed, for the refusal: "public statistics answers".
    private let answers: String

    init(limit: Int, answers: String) {
        precondition(limit > 0, "a gate admits at least one answer")
        self.limit = limit
        self.answers = answers
    }

    func run<T>(_ body: () throws -> T) throws -> T {
        let (admitted, _) = inFlight.wrappingAdd(1, ordering: .acquiring)
        defer { inFlight.wrappingSubtract(1, ordering: .releasing) }
        guard admitted < limit else {
            throw Problem.tooManyRequests("at most \(limit) \(answers) are computed at once; retry after 1 s", retryAfterSeconds: 1)
        }
        return try body()
    }
}
