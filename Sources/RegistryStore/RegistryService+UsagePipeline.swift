import Logging
import PostgresClient
public import RegistryCore

extension RegistryService {
    /// Meters `submission`'s events (R26–R28) and returns an answer for each, in order, once they are
    /// durable.
    ///
    /// Requests are committed in groups: while one group's transaction is in PostgreSQL, the requests
    /// that arrive queue up, and the next group takes them all (up to ``Limits/maxUsageEventsPerCommit``
    /// events) into one plan, one transaction and one audit entry. No answer is given before the
    /// transaction holding its event has committed. If it fails because the database is unavailable,
    /// every request of the group fails and the core is unchanged; if PostgreSQL refused something in
    /// it, the requests are committed again apart so that only the culprit fails. A COMMIT whose answer
    /// was lost is resolved from PostgreSQL before anything else is written. Precondition:
    /// `submission.validate()` is empty.
    public func recordUsage(_ submission: UsageSubmission) async throws -> [UsageReply] {
        // While fenced, fail at once (503) rather than queue behind the resolution.
        try checkNotFenced()
        return try await withCheckedThrowingContinuation { continuation in
            if usageQueue.enqueue(submission, continuation) {
                Task { await self.drainUsage() }
            }
        }
    }

    /// Commits groups until the queue is empty.
    private func drainUsage() async {
        while let first = usageQueue.nextGroup() {
            guard await commitPipelined(startingWith: first) else { return }
        }
    }

    /// A group planned and on its way into PostgreSQL.
    private struct InFlight {
        var group: [UsageQueue.Pending]
        var batch: UsageBatch
        var audit: AuditEntry?
        /// Its transaction (nil when every event was a replay: nothing to write).
        var persisted: Task<Void, any Error>?
        /// Opens when its transaction has committed or failed (the group before's, for a replay-only group).
        var gate: CommitGate?
        /// Its transaction's id, taken before COMMIT, to resolve a lost COMMIT answer.
        var identity: TransactionIdentity
    }

    /// Commits groups in a pipeline under the writer lock. While one group's transaction is in
    /// PostgreSQL, the next is planned in the core (counting the first as if applied) and its
    /// transaction starts writing its events on a second connection; it sets the counters and commits
    /// only once the first has committed (``CommitGate``), so transactions commit in order and a later
    /// one never commits without the one before. Each group is applied and answered after its own
    /// COMMIT. If one fails, the group planned on top of it rolls back at the gate and both are
    /// recovered (``recover(_:after:)``): planned afresh, and a culprit isolated, unless the database is
    /// unavailable. The lock is given up after ``maxPipelinedGroups`` so that commands waiting for it
    /// get their turn.
    /// - Returns: false when it found the queue empty (``UsageQueue/nextGroup()`` returned nil, which
    ///   ends draining); true when the caller must ask the queue again.
    private func commitPipelined(startingWith first: [UsageQueue.Pending]) async -> Bool {
        do {
            return try await withTurn {
                var group: [UsageQueue.Pending]? = first
                var inFlight: InFlight?
                var groups = 0
                while let current = group {
                    groups += 1
                    if let reason = database.fence.reason {
                        // The core may differ from PostgreSQL: plan nothing on it.
                        Self.fail(current, RegistryServiceError.fenced(reason))
                    } else {
                        let flight = plan(current, after: inFlight)
                        if let pending = inFlight, let error = await finish(pending) {
                            // `flight` was planned on the group that failed: its transaction rolls back at the gate.
                            _ = try? await flight.persisted?.value
                            inFlight = nil
                            await recover(pending.group, after: error)
                            await recover(current, after: UsagePipelineError.previousGroupFailed)
                        } else {
                            inFlight = flight
                        }
                    }
                    group = groups < Self.maxPipelinedGroups ? usageQueue.nextGroup() : nil
                }
                if let last = inFlight, let error = await finish(last) { await recover(last.group, after: error) }
                return groups >= Self.maxPipelinedGroups
            }
        } catch {
            // Only taking the turn throws (the database unreachable, another replica's turn too long, a
            // rebuild that failed): before any group was planned.
            Self.fail(first, error)
            return true
        }
    }

    /// Plans `group` in the core (over `pending`, a group not applied yet) and starts its transaction.
    private func plan(_ group: [UsageQueue.Pending], after pending: InFlight?) -> InFlight {
        let now = self.now()
        let (batch, audit) = registry.read { state in
            let batch = state.planUsage(group.map(\.submission), at: now, after: pending?.batch)
            return (batch, batch.isReplayOnly ? nil : state.usageAuditEntry(for: batch, actor: Self.usageActor, after: pending?.audit))
        }
        return startPersisting(group, batch, audit, after: pending?.gate)
    }

    /// Starts `batch`'s transaction: it writes the batch's rows at once, waits at `previous` for the
    /// group before to commit, then sets the counters and commits (or rolls back if that one failed).
    private func startPersisting(_ group: [UsageQueue.Pending], _ batch: UsageBatch, _ audit: AuditEntry?, after previous: CommitGate?) -> InFlight {
        let identity = TransactionIdentity()
        guard let audit else { return InFlight(group: group, batch: batch, audit: nil, persisted: nil, gate: previous, identity: identity) }
        let gate = CommitGate()
        let task = Task {
            do {
                try await self.database.pool.withConnection { connection in
                    try connection.withTransaction { connection in
                        try identity.record(connection)
                        try UsageSQL.write(batch, audit: audit, on: connection)
                        // Blocks this pool-owned thread (never an event loop or the cooperative pool).
                        try previous?.wait()
                        try UsageSQL.settle(batch, on: connection)
                    }
                }
                gate.open(nil)
            } catch {
                gate.open(error)
                throw error
            }
        }
        return InFlight(group: group, batch: batch, audit: audit, persisted: task, gate: gate, identity: identity)
    }

    /// Waits for `flight`'s transaction, then applies it to the core and answers its requests. Returns
    /// nil when it did; otherwise the error, with the requests not answered (the caller recovers them).
    ///
    /// A COMMIT whose answer was lost is resolved from PostgreSQL first (``settleLostCommit(_:apply:)``):
    /// if it committed, it is applied and answered like any other.
    private func finish(_ flight: InFlight) async -> (any Error)? {
        do {
            try await flight.persisted?.value
        } catch let error as PostgresError where error.isCommitOutcomeUnknown {
            guard let audit = flight.audit else { return error }
            let registry = self.registry
            let batch = flight.batch
            let outcome = await settleLostCommit(LostCommit(identity: flight.identity.value, lastAudit: audit)) {
                let applied = registry.applyUsage(batch, actor: Self.usageActor)
                precondition(applied == audit, "the core's audit chain must match what was persisted")
            }
            switch outcome {
            case .committed:
                Self.answer(flight)
                return nil
            case .rolledBack: return error
            case .rebuilt, nil: return RegistryServiceError.commitOutcomeUnknown
            }
        } catch {
            logger.error("usage group commit failed", metadata: ["requests": "\(flight.group.count)", "error": "\(error)"])
            return error
        }
        if let audit = flight.audit {
            let applied = registry.applyUsage(flight.batch, actor: Self.usageActor)
            precondition(applied == audit, "the core's audit chain must match what was persisted")
        }
        Self.answer(flight)
        return nil
    }

    private static func answer(_ flight: InFlight) {
        for (pending, reply) in zip(flight.group, flight.batch.replies) { pending.continuation.resume(returning: reply) }
    }

    /// Requests whose group failed with `error` (nothing of it committed): answered with the error when
    /// the database is unavailable or the outcome unknown; otherwise committed again without the
    /// pipeline, halving the group until the request PostgreSQL refuses is alone (finding 9: one
    /// tenant's bad event never fails another's). Called under the writer lock.
    ///
    /// A key PostgreSQL refuses (used before, and forgotten by the core's bounded memory) is answered
    /// from the event PostgreSQL holds: the answers of the requests' keys are read back and remembered,
    /// and the requests planned again, where those keys are now replays (R26).
    private func recover(_ requests: [UsageQueue.Pending], after error: any Error) async {
        var parts: [(requests: ArraySlice<UsageQueue.Pending>, recalled: Bool)] = []
        if let error = error as? PostgresError, Self.isChainConflict(error) {
            // Another replica wrote after this one caught up: caught up again, the group is planned anew.
            do {
                try await catchUpLocked()
                parts.append((requests[...], false))
            } catch {
                Self.fail(requests, error)
            }
        } else if UsageSQL.isKeyConflict(error), (try? await recallKeys(of: requests[...])) != nil {
            parts.append((requests[...], true))
        } else if Self.isolatable(error) {
            parts.append((requests[...], false))
        } else {
            Self.fail(requests, error)
        }
        while let (part, recalled) = parts.popLast() {
            if let reason = database.fence.reason {
                Self.fail(Array(part), RegistryServiceError.fenced(reason))
                continue
            }
            guard let error = await finish(plan(Array(part), after: nil)) else { continue }
            if let error = error as? PostgresError, Self.isChainConflict(error) {
                Self.fail(Array(part), RegistryServiceError.chainMoved)
                continue
            }
            if UsageSQL.isKeyConflict(error), !recalled {
                do {
                    try await recallKeys(of: part)
                    parts.append((part, true))
                    continue
                } catch {
                    logger.error("could not read back the answers of used keys", metadata: ["error": "\(error)"])
                }
            }
            if Self.isolatable(error), part.count > 1 {
                let middle = part.startIndex + part.count / 2
                parts.append((part[middle...], false))  // popped second: arrival order is kept
                parts.append((part[..<middle], false))
            } else {
                if part.count == 1 {
                    logger.warning("usage request refused by PostgreSQL, alone", metadata: ["party": "\(part.first!.submission.party.rawValue)", "error": "\(error)"])
                }
                Self.fail(Array(part), error)
            }
        }
    }

    /// Reads back from PostgreSQL the answers to the keys of `requests` that it holds, and remembers
    /// them in the core.
    private func recallKeys(of requests: ArraySlice<UsageQueue.Pending>) async throws {
        let keys = requests.flatMap { pending in pending.submission.events.map { (party: pending.submission.party, key: $0.key) } }
        let answers = try await database.pool.withConnection { connection in try UsageSQL.recall(keys, on: connection) }
        logger.notice("used keys answered from PostgreSQL", metadata: ["keys": "\(answers.count)"])
        registry.rememberUsageAnswers(answers)
    }

    /// True when a group's failure may be one request's doing (PostgreSQL refused a value), so that its
    /// requests are worth committing again apart; false when the database is unavailable or the outcome
    /// is unknown (every request would fail the same).
    private static func isolatable(_ error: any Error) -> Bool {
        switch error {
        case UsagePipelineError.previousGroupFailed: return true
        case is RegistryServiceError: return false
        case let postgresError as PostgresError:
            return postgresError.kind == .server && !postgresError.isCommitOutcomeUnknown && !postgresError.isResourceOrOperatorError
        default: return StoreErrors.overloadDescription(error) == nil
        }
    }

    private static func fail(_ group: [UsageQueue.Pending], _ error: any Error) {
        for pending in group { pending.continuation.resume(throwing: error) }
    }

    /// Groups committed under one hold of the writer lock.
    static var maxPipelinedGroups: Int { Limits.maxPipelinedUsageGroups }

    static let usageActor = "system:metering"
}

/// Why a group's transaction rolled back without a fault of its own.
enum UsagePipelineError: Error, CustomStringConvertible {
    /// The group committed before it failed; this one was planned on it and rolled back at the gate.
    case previousGroupFailed

    var description: String { "the usage group before this one failed to commit; nothing of this one was written" }
}
