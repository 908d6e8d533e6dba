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
        while let group = usageQueue.nextGroup() {
            _ = try? await writer.withLock {
                if let error = await commitLeased(group) { await recover(group, after: error) }
            }
        }
    }

    /// Commits `requests` as one batch, planned on this replica's quota leases (issue 18, schema 0015),
    /// and answers them; returns the error, with the requests not answered, when nothing of it committed
    /// (the caller recovers them). Called under the writer lock.
    ///
    /// 1. Slices: what the group may draw beyond the leases held is reserved first (one transaction),
    ///    and id blocks taken when used up.
    /// 2. Planned on the core and the slices: R27 against the slices, every other rule against the core.
    /// 3. One transaction: the events (most of the bytes) and the draws, without the turn — several
    ///    replicas write theirs at once; then the turn (transaction-scoped) and the chain's head: entries
    ///    other replicas appended since the plan are applied; if one of them is not a usage batch (a rule
    ///    may have changed: a suspension, a flag, a cap) the transaction rolls back and the group is
    ///    planned again. Else the batch is settled on that state — counters, transfers, ledger, one audit
    ///    entry after the head — and COMMIT ends the turn.
    /// 4. Applied to the core and answered; the slices shrink by what was drawn.
    private func commitLeased(_ requests: [UsageQueue.Pending]) async -> (any Error)? {
        var attempts = 0
        while true {
            attempts += 1
            if let reason = database.fence.reason { return RegistryServiceError.fenced(reason) }
            let now = self.now()
            let submissions = requests.map(\.submission)
            let events = submissions.reduce(0) { $0 + $1.events.count }
            let ids: (batch: Int64, firstEvent: Int64)
            do {
                ids = try await prepareLeases(for: submissions, events: events, at: now)
            } catch {
                return error
            }
            let allowance = quotaLeases.allowance()
            let (plan, plannedHead) = registry.read { state in
                (state.planLeasedUsage(submissions, at: now, allowance: allowance, batch: ids.batch, firstEvent: ids.firstEvent),
                 state.auditHead.lastSequence)
            }
            if plan.batch.isReplayOnly {
                Self.answer(requests, plan.batch)
                return nil
            }
            do {
                try await persist(plan, plannedOn: plannedHead)
                Self.answer(requests, plan.batch)
                return nil
            } catch let lost as LeaseLost {
                logger.notice("Quota leases were reclaimed; planning again", metadata: ["leases": "\(lost.leases)"])
                quotaLeases.forget(lost.leases)
                database.following.didLoseLeases(lost.leases.count)
                database.following.didReplan()
                if attempts >= Self.maxLeasedAttempts { return RegistryServiceError.chainMoved }
            } catch is RulesChangedSincePlan {
                database.following.didReplan()
                if attempts >= Self.maxLeasedAttempts { return RegistryServiceError.chainMoved }
            } catch let refused as LeasedSettlementRefused {
                // What the slices guarantee does not hold on the state the batch would commit on (a cap
                // lowered, or counters written before the slices): they are given back and reserved afresh.
                logger.warning("A usage batch could not be settled on its slices; reserving again", metadata: ["reason": "\(refused)"])
                quotaLeases.drop(subjectsOf: plan.draws)
                database.following.didReplan()
                if attempts >= Self.maxLeasedAttempts { return RegistryServiceError.chainMoved }
            } catch let behind as FollowingFailed {
                do { try await rebuild(reason: behind.reason) } catch { return error }
                if attempts >= Self.maxLeasedAttempts { return RegistryServiceError.chainMoved }
            } catch {
                return error
            }
        }
    }

    /// Makes sure the book holds id blocks for `events` events and slices for what the submissions may
    /// draw, reserving what is missing in one transaction; returns the batch's ids.
    private func prepareLeases(for submissions: [UsageSubmission], events: Int, at now: Timestamp) async throws -> (batch: Int64, firstEvent: Int64) {
        let requests = quotaLeases.shortfalls(registry.read { $0.quotaDemand(of: submissions, at: now) })
        let ids = quotaLeases.ids(forEvents: events)
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
        guard let ids = quotaLeases.ids(forEvents: events) else { preconditionFailure("a fresh block holds a whole batch") }
        return ids
    }

    /// `plan`'s transaction (step 3 of ``commitLeased(_:)``), then its application to the core. A COMMIT
    /// whose answer was lost is resolved from PostgreSQL: applied if it committed, else thrown.
    private func persist(_ plan: LeasedUsagePlan, plannedOn plannedHead: Int64) async throws {
        let identity = TransactionIdentity()
        let settled = SettledUsage()
        let registry = self.registry
        let leases = quotaLeases
        let apply: @Sendable () -> Void = {
            guard let (batch, audit) = settled.value else { return }
            let applied = registry.applyUsage(batch, actor: Self.usageActor)
            precondition(applied == audit, "the core's audit chain must match what was persisted")
            leases.committed(plan.draws, batch: batch.id, lastEvent: batch.events.last?.id)
        }
        do {
            try await database.pool.withTransaction { connection in
                try UsageSQL.writeEvents(plan.batch, on: connection)
                try QuotaLeaseSQL.draw(plan.draws, on: connection)
                // The turn: from here to COMMIT only. Entries since the plan are applied to the core.
                if try self.takeTurn(in: connection, identity: identity, plannedOn: plannedHead) { throw RulesChangedSincePlan() }
                try self.checkNotFenced()
                let (batch, audit) = try registry.read { state in
                    let batch = try state.settleLeasedUsage(plan.batch)
                    return (batch, state.usageAuditEntry(for: batch, actor: Self.usageActor))
                }
                settled.set((batch, audit))
                try UsageSQL.writeSettled(batch, audit: audit, on: connection)
            }
        } catch let error as PostgresError where error.isCommitOutcomeUnknown {
            guard let (_, audit) = settled.value else { throw error }
            switch await settleLostCommit(LostCommit(identity: identity.value, lastAudit: audit), apply: apply) {
            case .committed: return
            case .rolledBack: throw error
            case .rebuilt, nil: throw RegistryServiceError.commitOutcomeUnknown
            }
        }
        apply()
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

    static let usageActor = "system:metering"
}

/// Another replica appended an entry that is not a usage batch after the head a batch was planned on: a
/// rule may have changed, so the batch is planned again on the state that entry made.
struct RulesChangedSincePlan: Error {}

/// A batch settled inside its transaction, kept for after its COMMIT (or a COMMIT whose answer was lost).
final class SettledUsage: Sendable {
    private let settled = Mutex<(batch: UsageBatch, audit: AuditEntry)?>(nil)
    func set(_ value: (batch: UsageBatch, audit: AuditEntry)) { settled.withLock { $0 = value } }
    var value: (batch: UsageBatch, audit: AuditEntry)? { settled.withLock { $0 } }
}
