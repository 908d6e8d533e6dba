import Foundation
import Logging
import PostgresClient
import RegistryCore
import Synchronization

/// This replica's quota leases and id blocks (issue 18; schema 0015; docs/SCALING.md "Quotas across
/// replicas"): the slices of grants' quotas and of daily caps it reserved in PostgreSQL, which its usage
/// batches draw from without the turn, and the blocks of event and batch ids it numbers them from.
///
/// The book is this process's view; PostgreSQL's `quota_lease` rows are the truth. A batch's draws are
/// checked there in the batch's own transaction (a lease another replica reclaimed after it expired
/// refuses them: ``LeaseLost``), and the book learns of a draw only once its batch committed.
final class QuotaLeases: Sendable {
    struct Lease: Sendable {
        var id: Int64
        var position: Int64
        var remaining: Int64
        /// The quota or cap it was reserved under: a lease reserved under a cap since changed is given back.
        var limit: Int64
        var lastDraw: ContinuousClock.Instant
    }

    private struct State {
        var leases: [QuotaSubject: [Lease]] = [:]
        var subjectOfLease: [Int64: QuotaSubject] = [:]
        /// Tokens drawn per subject since the last sweep, and the rate measured at it (tokens a second).
        var drawn: [QuotaSubject: Int64] = [:]
        var rate: [QuotaSubject: Int64] = [:]
        var lastSweep = ContinuousClock.now
        /// Leases dropped from the book that PostgreSQL still holds live (given back at the next sweep).
        var toEnd: [Int64] = []
        var events = (next: Int64(0), end: Int64(0))
        var batches = (next: Int64(0), end: Int64(0))
    }

    /// Names this replica's leases: host, process and a random part (a restarted process is another holder).
    let holder: String
    private let state = Mutex(State())

    init() {
        var generator = SystemRandomNumberGenerator()
        holder = "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 16))"
    }

    // MARK: Ids

    /// The batch id and first event id for a batch of `events` events — after `pending`'s, a batch not
    /// committed yet — or nil when a block is used up (``QuotaLeaseSQL/takeBlocks(on:)`` refills).
    /// Nothing is consumed until ``committed(_:batch:lastEvent:)``.
    func ids(forEvents events: Int, after pending: (batch: Int64, lastEvent: Int64)?) -> (batch: Int64, firstEvent: Int64)? {
        state.withLock { state in
            let batch = max(state.batches.next, (pending?.batch ?? 0) + 1)
            let event = max(state.events.next, (pending?.lastEvent ?? 0) + 1)
            guard batch < state.batches.end, state.events.end - event >= Int64(events) else { return nil }
            return (batch, event)
        }
    }

    /// Blocks fresh from PostgreSQL's sequences, above every id handed out before: they replace the
    /// current ones (what is left of those is not used).
    func refill(eventBlock: Int64, batchBlock: Int64) {
        state.withLock { state in
            state.events = (eventBlock, eventBlock + QuotaLeaseSQL.eventBlockSize)
            state.batches = (batchBlock, batchBlock + QuotaLeaseSQL.batchBlockSize)
        }
    }

    // MARK: Slices

    /// What to reserve so that `demand` can be met: per subject, the tokens the book lacks (`need`) and a
    /// second's worth at the subject's recent rate (`extra`, at least ``Limits/minQuotaSliceTokens``) —
    /// and, when anything is to be reserved, a top-up (`need` 0) to one such slice for the demand's other
    /// subjects holding under half of one beyond their part of the demand: one reservation for many
    /// subjects, not one each, as they run low at different times.
    /// Leases reserved under another limit than today's are dropped first (to be given back).
    /// `pending`: draws of a batch not committed yet (not in the book yet, and not to be counted twice).
    func shortfalls(_ demand: [QuotaSubject: (limit: Int64, tokens: Int64)], excluding pending: [(lease: Int64, tokens: Int64)]) -> [QuotaLeaseSQL.Request] {
        let drawn = Dictionary(pending.map { ($0.lease, $0.tokens) }, uniquingKeysWith: +)
        return state.withLock { state in
            var requests: [QuotaLeaseSQL.Request] = []
            // Subjects that can meet this demand but hold under half a slice beyond it: topped up too
            // when a reservation is made anyway, so that they do not each need one of their own soon after.
            var low: [QuotaLeaseSQL.Request] = []
            for (subject, wanted) in demand {
                var held: Int64 = 0
                if let leases = state.leases[subject] {
                    // Not while a batch draws from them: its slices stay until it has committed or failed.
                    for lease in leases where lease.limit != wanted.limit && drawn[lease.id] == nil { Self.drop(lease.id, in: &state) }
                    held = state.leases[subject]?.reduce(0) { $0 + $1.remaining - (drawn[$1.id] ?? 0) } ?? 0
                }
                let rate = state.rate[subject] ?? 0
                let slice = max(Limits.minQuotaSliceTokens, rate.multipliedReportingOverflow(by: Limits.quotaSliceSeconds).partialValue)
                if wanted.tokens > held {
                    requests.append(QuotaLeaseSQL.Request(subject: subject, limit: wanted.limit, need: wanted.tokens - held, extra: slice))
                } else if held - wanted.tokens < slice / 2 {
                    // Up to one slice beyond the demand, never more: what one replica holds stays within a
                    // slice, which docs/SCALING.md's under-use bound counts on.
                    low.append(QuotaLeaseSQL.Request(subject: subject, limit: wanted.limit, need: 0, extra: slice - (held - wanted.tokens)))
                }
            }
            if !requests.isEmpty { requests += low }
            return requests.sorted { $0.subject < $1.subject }
        }
    }

    func add(_ granted: [(subject: QuotaSubject, limit: Int64, lease: Int64, position: Int64, size: Int64)]) {
        let now = ContinuousClock.now
        state.withLock { state in
            for grant in granted {
                state.leases[grant.subject, default: []].append(
                    Lease(id: grant.lease, position: grant.position, remaining: grant.size, limit: grant.limit, lastDraw: now))
                state.subjectOfLease[grant.lease] = grant.subject
            }
        }
    }

    /// The slices held now, for a plan, less what `pending` (a batch not committed yet) draws from them:
    /// a batch draws each slice from its start, so what is left begins after it.
    ///
    /// Daily caps' slices only of `day` (days since 1970-01-01, the registry calendar's day the batch is
    /// planned on): another day's slices count against another day's cap.
    func allowance(excluding pending: [(lease: Int64, tokens: Int64)], day: Int32) -> QuotaAllowance {
        let drawn = Dictionary(pending.map { ($0.lease, $0.tokens) }, uniquingKeysWith: +)
        return state.withLock { state in
            var allowance = QuotaAllowance()
            for (subject, leases) in state.leases where subject.scope == .grant || subject.day == day {
                let slices = leases.compactMap { lease -> QuotaAllowance.Slice? in
                    let taken = drawn[lease.id] ?? 0
                    return lease.remaining > taken
                        ? QuotaAllowance.Slice(lease: lease.id, position: lease.position + taken, remaining: lease.remaining - taken) : nil
                }
                switch subject.scope {
                case .grant: allowance.grants[GrantID(rawValue: subject.id)] = slices
                case .assignee: allowance.assignees[PartyID(rawValue: subject.id)] = slices
                case .dataset: allowance.datasets[DatasetID(rawValue: subject.id)] = slices
                }
            }
            return allowance
        }
    }

    /// A batch committed: its draws leave the slices, its ids are used.
    func committed(_ draws: [(lease: Int64, tokens: Int64)], batch: Int64, lastEvent: Int64?) {
        let now = ContinuousClock.now
        state.withLock { state in
            for draw in draws {
                guard let subject = state.subjectOfLease[draw.lease], let index = state.leases[subject]?.firstIndex(where: { $0.id == draw.lease }) else {
                    continue
                }
                state.leases[subject]![index].position += draw.tokens
                state.leases[subject]![index].remaining -= draw.tokens
                state.leases[subject]![index].lastDraw = now
                state.drawn[subject, default: 0] += draw.tokens
                // Used up: its draw ended it in PostgreSQL (QuotaLeaseSQL.drawQuery), nothing to give back.
                if state.leases[subject]![index].remaining <= 0 { Self.drop(draw.lease, in: &state, end: false) }
            }
            state.batches.next = max(state.batches.next, batch + 1)
            if let lastEvent { state.events.next = max(state.events.next, lastEvent + 1) }
        }
    }

    /// Leases PostgreSQL no longer honours (expired and reclaimed): dropped without giving back.
    func forget(_ leases: [Int64]) {
        state.withLock { state in
            for lease in leases { Self.drop(lease, in: &state, end: false) }
        }
    }

    /// Drops every lease of `subjects` (a batch could not be settled on them), to be given back.
    func drop(subjectsOf draws: [(lease: Int64, tokens: Int64)]) {
        state.withLock { state in
            let subjects = Set(draws.compactMap { state.subjectOfLease[$0.lease] })
            for subject in subjects { for lease in state.leases[subject] ?? [] { Self.drop(lease.id, in: &state) } }
        }
    }

    /// The sweep: measures each subject's rate and picks the leases to give back — idle for
    /// ``Limits/quotaLeaseIdleMilliseconds`` (`idleMilliseconds`), of a past day, or dropped — removing them from the book.
    func sweep(today: Int32, idleMilliseconds: Int64) -> [Int64] {
        let now = ContinuousClock.now
        let idle = Duration.milliseconds(idleMilliseconds)
        return state.withLock { state in
            let elapsed = max(now - state.lastSweep, .milliseconds(1))
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.rate = state.drawn.mapValues { Int64(Double($0) / seconds) }
            state.drawn = [:]
            state.lastSweep = now
            for (subject, leases) in state.leases {
                for lease in leases where now - lease.lastDraw >= idle || (subject.scope != .grant && subject.day < today) {
                    Self.drop(lease.id, in: &state)
                }
            }
            defer { state.toEnd = [] }
            return state.toEnd
        }
    }

    /// Leases dropped from the book since the last call, to be given back before reserving again (a cap
    /// changed: the old slices must not count against the new cap).
    func takeDropped() -> [Int64] {
        state.withLock { state in
            defer { state.toEnd = [] }
            return state.toEnd
        }
    }

    /// Every lease held (a stopping replica gives them all back).
    func takeAll() -> [Int64] {
        state.withLock { state in
            for lease in state.subjectOfLease.keys { Self.drop(lease, in: &state) }
            defer { state.toEnd = [] }
            return state.toEnd
        }
    }

    /// Live leases in the book and the tokens they hold unused (for /metrics).
    var held: (leases: Int, tokens: Int64) {
        state.withLock { state in
            (state.subjectOfLease.count, state.leases.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.remaining } })
        }
    }

    private static func drop(_ lease: Int64, in state: inout State, end: Bool = true) {
        guard let subject = state.subjectOfLease.removeValue(forKey: lease) else { return }
        state.leases[subject]?.removeAll { $0.id == lease }
        if state.leases[subject]?.isEmpty == true { state.leases[subject] = nil }
        if end { state.toEnd.append(lease) }
    }
}

/// A batch drew from leases PostgreSQL no longer honours: reclaimed by another replica after they expired.
struct LeaseLost: Error, CustomStringConvertible {
    var leases: [Int64]
    var description: String { "quota leases \(leases) were reclaimed after they expired" }
}

/// The statements of schema 0015.
enum QuotaLeaseSQL {
    static let eventBlockSize: Int64 = 65_536
    static let batchBlockSize: Int64 = 256

    struct Request: Sendable {
        var subject: QuotaSubject
        var limit: Int64
        var need: Int64
        var extra: Int64
    }

    /// A block of event ids and one of batch ids (one nextval each: the sequences step by a block).
    static func takeBlocks(on connection: PostgresConnection) throws -> (events: Int64, batches: Int64) {
        try connection.query("SELECT nextval('usage_event_id_block'), nextval('usage_batch_id_block')")[0].decode((Int64, Int64).self)
    }

    /// Reserves slices for `requests` (sorted by subject: the lock order), in one transaction.
    static func reserve(
        _ requests: [QuotaLeaseSQL.Request], holder: String, on connection: PostgresConnection
    ) throws -> [(subject: QuotaSubject, limit: Int64, lease: Int64, position: Int64, size: Int64)] {
        guard !requests.isEmpty else { return [] }
        let rows = try connection.query("""
            SELECT subject_index, lease_id, start_position, granted FROM datarights_reserve_quota(
                \(holder), \(requests.map(\.subject.scope.rawValue)), \(requests.map(\.subject.id)), \(requests.map(\.subject.day)),
                \(requests.map(\.limit)), \(requests.map(\.need)), \(requests.map(\.extra)), \(Int32(Limits.quotaLeaseSeconds * 1000)))
            """)
        return try (0..<rows.count).map { index in
            let (subjectIndex, lease, position, size) = try rows[index].decode((Int32, Int64, Int64, Int64).self)
            let request = requests[Int(subjectIndex) - 1]
            return (request.subject, request.limit, lease, position, size)
        }
    }

    /// The statement drawing a batch's tokens from its leases, in the batch's transaction (nil when there is
    /// nothing to draw; sent with the turn, ``RegistryService/takeTurn(in:identity:plannedOn:after:)``).
    /// It extends the leases while in use and ends one it uses up (its unused part is nothing: ending it
    /// changes no sum, and spares the replica a transaction to give it back before its next
    /// reservation). The rows are locked first in schema
    /// 0015's order (subject, then lease), the order in which a reservation locks every live lease of a
    /// subject: an UPDATE alone would lock them in whatever order its join visits them, and meet a
    /// reservation locking the other way (a deadlock).
    static func drawQuery(_ draws: [(lease: Int64, tokens: Int64)]) -> PostgresQuery? {
        guard !draws.isEmpty else { return nil }
        return """
            WITH locked AS (
                SELECT l.id FROM quota_lease l WHERE l.id = ANY (\(draws.map(\.lease)))
                ORDER BY l.scope, l.subject_id, l.day, l.id FOR UPDATE
            )
            UPDATE quota_lease l SET used = l.used + d.tokens, ended = l.used + d.tokens = l.size,
                expires_at = greatest(l.expires_at, now() + \(Int32(Limits.quotaLeaseSeconds)) * interval '1 second')
            FROM unnest(\(draws.map(\.lease)), \(draws.map(\.tokens))) AS d (id, tokens)
            WHERE l.id = d.id AND l.id IN (SELECT id FROM locked) AND NOT l.ended AND l.used + d.tokens <= l.size
            RETURNING l.id
            """
    }

    /// - Throws: ``LeaseLost`` naming the leases the draw's `result` did not update (ended: reclaimed
    ///   after they expired).
    static func checkDrawn(_ result: PostgresResult, _ draws: [(lease: Int64, tokens: Int64)]) throws {
        guard result.count < draws.count else { return }
        let drawn = Set(try (0..<result.count).map { try result[$0].decode(Int64.self, column: 0) })
        throw LeaseLost(leases: draws.map(\.lease).filter { !drawn.contains($0) })
    }

    /// Gives back the unused part of `leases` (schema 0015's `datarights_end_leases`).
    static func end(_ leases: [Int64], holder: String, on connection: PostgresConnection) throws {
        guard !leases.isEmpty else { return }
        _ = try connection.query("SELECT datarights_end_leases(\(holder), \(leases))")
    }
}

extension RegistryService {
    /// Every ``Limits/quotaLeaseSweepMilliseconds`` until cancelled: measures rates and gives back idle
    /// leases (an idle grant holds nothing; docs/SCALING.md). The book is swept under the writer lock, so
    /// no batch is between its plan and its commit; the giving back runs after.
    func sweepLeases() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Limits.quotaLeaseSweepMilliseconds))
            guard !Task.isCancelled else { return }
            let today = registry.read { $0.settings.calendar.date(at: now()).daysSince1970 }
            guard let idle = try? await writer.withLock({ quotaLeases.sweep(today: today, idleMilliseconds: database.limits.quotaLeaseIdleMilliseconds) }) else { continue }
            await giveBackLeases(idle)
        }
    }

    /// Ends `leases` in PostgreSQL; what fails is left to expire (``Limits/quotaLeaseSeconds``).
    func giveBackLeases(_ leases: [Int64]) async {
        guard !leases.isEmpty else { return }
        let holder = quotaLeases.holder
        do {
            try await database.pool.withConnection { connection in try QuotaLeaseSQL.end(leases, holder: holder, on: connection) }
        } catch {
            logger.warning("Could not give back quota leases; they expire", metadata: ["leases": "\(leases.count)", "error": "\(error)"])
        }
    }
}
