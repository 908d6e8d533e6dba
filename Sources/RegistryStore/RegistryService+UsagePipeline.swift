import Logging
import PostgresClient
public import RegistryCore
import Synchronization

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
            guard (try? await writer.withLock({ await commitPipelined(startingWith: first) })) == true else { return }
        }
    }

    /// A group planned on quota slices and on its way into PostgreSQL.
    private struct InFlight {
        var group: [UsageQueue.Pending]
        var plan: LeasedUsagePlan
        /// Its transaction (nil when every event was a replay: nothing to write).
        var persisted: Task<Void, any Error>?
        var settled: SettledUsage
        var identity: TransactionIdentity
        /// Opens once it is applied to the core, or failed (the group before's, for a replay-only group).
        var gate: CommitGate?
    }

    /// Commits groups two at a time under the writer lock (issue 18, schema 0015: quota leases). While
    /// group k's transaction is in PostgreSQL, group k+1 is planned — on the slices k has not drawn, with
    /// k's keys as replays and its ids after k's — and its transaction writes its events and draws; it
    /// takes the turn only once k is applied to the core (``CommitGate``), so the core it settles on holds
    /// k. If k fails, k+1 rolls back at the gate and both are recovered (``recover(_:after:)``). The
    /// lock is given up after ``maxPipelinedGroups`` so that commands waiting for it get their turn.
    /// - Returns: false when it found the queue empty (draining ends); true when the caller must ask again.
    private func commitPipelined(startingWith first: [UsageQueue.Pending]) async -> Bool {
        var group: [UsageQueue.Pending]? = first
        var inFlight: InFlight?
        var groups = 0
        while let current = group {
            groups += 1
            if let reason = database.fence.reason {
                Self.fail(current, RegistryServiceError.fenced(reason))
            } else {
                do {
                    let flight = try await start(current, after: inFlight)
                    if let pending = inFlight, let error = await finish(pending) {
                        // `flight` waits at the failed group's gate and rolls back there.
                        _ = try? await flight.persisted?.value
                        inFlight = nil
                        await recover(pending.group, after: error)
                        await recover(current, after: UsagePipelineError.previousGroupFailed)
                    } else {
                        inFlight = flight
                    }
                } catch {
                    // Reserving its slices or ids failed: nothing of this group was written.
                    if let pending = inFlight, let error = await finish(pending) { await recover(pending.group, after: error) }
                    inFlight = nil
                    Self.fail(current, error)
                }
            }
            group = groups < Self.maxPipelinedGroups ? usageQueue.nextGroup() : nil
        }
        if let last = inFlight, let error = await finish(last) { await recover(last.group, after: error) }
        return groups >= Self.maxPipelinedGroups
    }

    /// Plans `requests` on the slices (reserving what is missing first) over `pending`, a group not yet
    /// applied, and starts its transaction.
    private func start(_ requests: [UsageQueue.Pending], after pending: InFlight?) async throws -> InFlight {
        let now = self.now()
        let submissions = requests.map(\.submission)
        let ids = try await prepareLeases(for: submissions, at: now, after: pending?.plan)
        let day = registry.read { $0.settings.calendar.date(at: now).daysSince1970 }
        let allowance = quotaLeases.allowance(excluding: pending?.plan.draws ?? [], day: day)
        let (plan, plannedHead) = registry.read { state in
            (state.planLeasedUsage(submissions, at: now, after: pending?.plan.batch, allowance: allowance, batch: ids.batch, firstEvent: ids.firstEvent),
             state.auditHead.lastSequence)
        }
        let settled = SettledUsage()
        let identity = TransactionIdentity()
        guard !plan.batch.isReplayOnly else {
            return InFlight(group: requests, plan: plan, persisted: nil, settled: settled, identity: identity, gate: pending?.gate)
        }
        let gate = CommitGate()
        let task = persist(plan, plannedOn: plannedHead, after: pending?.gate, settled: settled, identity: identity)
        return InFlight(group: requests, plan: plan, persisted: task, settled: settled, identity: identity, gate: gate)
    }

    /// Waits for `flight`'s transaction, then applies it to the core, answers its requests and opens its
    /// gate. Returns nil when it did; otherwise the error, with the requests not answered (the caller
    /// recovers them) and the gate opened with the failure. A COMMIT whose answer was lost is resolved
    /// from PostgreSQL first (``settleLostCommit(_:apply:)``): if it committed, it is applied and
    /// answered like any other.
    private func finish(_ flight: InFlight) async -> (any Error)? {
        guard let task = flight.persisted else {
            Self.answer(flight.group, flight.plan.batch)
            return nil
        }
        let error = await outcome(of: task, flight.plan, flight.settled, flight.identity)
        flight.gate?.open(error)
        if let error { return error }
        Self.answer(flight.group, flight.plan.batch)
        return nil
    }

    /// Commits `requests` alone (no pipeline: recovery) and answers them; returns the error, with the
    /// requests not answered, when nothing of it committed. A group planned on a state a command changed
    /// since, or on a lease another replica reclaimed, is planned again (at most ``maxLeasedAttempts``
    /// times in all). Called under the writer lock.
    private func commitLeased(_ requests: [UsageQueue.Pending]) async -> (any Error)? {
        var attempts = 0
        while true {
            attempts += 1
            if let reason = database.fence.reason { return RegistryServiceError.fenced(reason) }
            let flight: InFlight
            do {
                flight = try await start(requests, after: nil)
            } catch {
                return error
            }
            guard let error = await finish(flight) else { return nil }
            switch error {
            case is LeaseLost, is RulesChangedSincePlan, is LeasedSettlementRefused:
                if attempts >= Self.maxLeasedAttempts { return RegistryServiceError.chainMoved }
            case let behind as FollowingFailed:
                do { try await rebuild(reason: behind.reason) } catch { return error }
                if attempts >= Self.maxLeasedAttempts { return RegistryServiceError.chainMoved }
            default:
                return error
            }
        }
    }

    /// Makes sure the book holds id blocks and slices for what the submissions may draw beyond what
    /// `pending` draws, reserving what is missing in one transaction; returns the batch's ids (after
    /// `pending`'s).
    private func prepareLeases(for submissions: [UsageSubmission], at now: Timestamp, after pending: LeasedUsagePlan?) async throws -> (batch: Int64, firstEvent: Int64) {
        let events = submissions.reduce(0) { $0 + $1.events.count }
        let pendingDraws = pending?.draws ?? []
        let after = pending.map { (batch: $0.batch.id, lastEvent: $0.batch.events.last?.id ?? 0) }
        let requests = quotaLeases.shortfalls(registry.read { $0.quotaDemand(of: submissions, at: now) }, excluding: pendingDraws)
        let ids = quotaLeases.ids(forEvents: events, after: after)
        guard !requests.isEmpty || ids == nil else { return ids! }
        // Slices reserved under a limit since changed are given back first (their own transaction: the
        // reservation then locks subjects in one sorted order).
        await giveBackLeases(quotaLeases.takeDropped())
        let holder = quotaLeases.holder
        let (granted, blocks) = try await database.pool.withTransaction { connection in
            (try QuotaLeaseSQL.reserve(requests, holder: holder, on: connection), ids == nil ? try QuotaLeaseSQL.takeBlocks(on: connection) : nil)
        }
        if !requests.isEmpty { database.following.didReserve() }
        quotaLeases.add(granted)
        if let blocks { quotaLeases.refill(eventBlock: blocks.events, batchBlock: blocks.batches) }
        guard let ids = quotaLeases.ids(forEvents: events, after: after) else { preconditionFailure("a fresh block holds a whole batch") }
        return ids
    }

    /// `plan`'s transaction: its events at once, then — once the group before is applied (`previous`) —
    /// its draws, the turn, the catch-up, the settlement on that state and COMMIT.
    private func persist(
        _ plan: LeasedUsagePlan, plannedOn plannedHead: Int64, after previous: CommitGate?, settled: SettledUsage, identity: TransactionIdentity
    ) -> Task<Void, any Error> {
        let registry = self.registry
        return Task {
            try await self.database.pool.withTransaction { connection in
                try UsageSQL.writeEvents(plan.batch, on: connection)
                // Blocks this pool-owned thread (never an event loop or the cooperative pool). Before the
                // draws: the group before draws from the same leases, and a draw made first here would hold
                // the row it waits for while this waits for it.
                try previous?.wait()
                // The draws, then the turn (one round trip): from here to COMMIT only. Entries since the
                // plan are applied to the core.
                let draws = QuotaLeaseSQL.drawQuery(plan.draws).map { query in
                    (query: query, check: { (result: PostgresResult) throws in try QuotaLeaseSQL.checkDrawn(result, plan.draws) })
                }
                if try self.takeTurn(in: connection, identity: identity, plannedOn: plannedHead, after: draws) { throw RulesChangedSincePlan() }
                try self.checkNotFenced()
                let (batch, audit) = try registry.read { state in
                    let batch = try state.settleLeasedUsage(plan.batch)
                    return (batch, state.usageAuditEntry(for: batch, actor: Self.usageActor))
                }
                settled.set((batch, audit))
                try UsageSQL.writeSettled(batch, audit: audit, on: connection)
            }
        }
    }

    /// Waits for a group's transaction and applies it (the book learns its draws); the error when
    /// nothing of it committed. Lost leases are forgotten and slices a settlement refused are given back,
    /// so that the group, planned again, reserves afresh.
    private func outcome(of task: Task<Void, any Error>, _ plan: LeasedUsagePlan, _ settled: SettledUsage, _ identity: TransactionIdentity) async -> (any Error)? {
        let registry = self.registry
        let leases = quotaLeases
        let apply: @Sendable () -> Void = {
            guard let (batch, audit) = settled.value else { return }
            let applied = registry.applyUsage(batch, actor: Self.usageActor)
            precondition(applied == audit, "the core's audit chain must match what was persisted")
            leases.committed(plan.draws, batch: batch.id, lastEvent: batch.events.last?.id)
        }
        do {
            try await task.value
        } catch let error as PostgresError where error.isCommitOutcomeUnknown {
            guard let (_, audit) = settled.value else { return error }
            switch await settleLostCommit(LostCommit(identity: identity.value, lastAudit: audit), apply: apply) {
            case .committed: return nil
            case .rolledBack: return error
            case .rebuilt, nil: return RegistryServiceError.commitOutcomeUnknown
            }
        } catch let lost as LeaseLost {
            logger.notice("Quota leases were reclaimed; planning again", metadata: ["leases": "\(lost.leases)"])
            quotaLeases.forget(lost.leases)
            database.following.didLoseLeases(lost.leases.count)
            database.following.didReplan()
            return lost
        } catch let refused as LeasedSettlementRefused {
            // What the slices guarantee does not hold on the state the batch would commit on (a cap
            // lowered, or counters written before the slices): they are given back and reserved afresh.
            logger.warning("A usage batch could not be settled on its slices; reserving again", metadata: ["reason": "\(refused)"])
            quotaLeases.drop(subjectsOf: plan.draws)
            database.following.didReplan()
            return refused
        } catch let changed as RulesChangedSincePlan {
            database.following.didReplan()
            return changed
        } catch {
            if !(error is UsagePipelineError) { logger.error("usage group commit failed", metadata: ["error": "\(error)"]) }
            return error
        }
        apply()
        return nil
    }

    private static func answer(_ requests: [UsageQueue.Pending], _ batch: UsageBatch) {
        for (pending, reply) in zip(requests, batch.replies) { pending.continuation.resume(returning: reply) }
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
            guard let error = await commitLeased(Array(part)) else { continue }
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

    /// Plans of one group (entries of other kinds appended meanwhile, leases reclaimed) before it fails with 503.
    static let maxLeasedAttempts = 4

    /// Groups committed under one hold of the writer lock.
    static var maxPipelinedGroups: Int { Limits.maxPipelinedUsageGroups }

    static let usageActor = "system:metering"
}

/// Another replica appended an entry that is not a usage batch after the head a batch was planned on: a
/// rule may have changed, so the batch is planned again on the state that entry made.
struct RulesChangedSincePlan: Error {}

/// Why a group's transaction rolled back without a fault of its own.
enum UsagePipelineError: Error, CustomStringConvertible {
    /// The group before it failed; this one was planned on it and rolled back at the gate.
    case previousGroupFailed

    var description: String { "the usage group before this one failed to commit; nothing of this one was written" }
}

/// A batch settled inside its transaction, kept for after its COMMIT (or a COMMIT whose answer was lost).
final class SettledUsage: Sendable {
    private let settled = Mutex<(batch: UsageBatch, audit: AuditEntry)?>(nil)
    func set(_ value: (batch: UsageBatch, audit: AuditEntry)) { settled.withLock { $0 = value } }
    var value: (batch: UsageBatch, audit: AuditEntry)? { settled.withLock { $0 } }
}
