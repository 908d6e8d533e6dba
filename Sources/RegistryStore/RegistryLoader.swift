import Dispatch
import PostgresClient
public import RegistryCore
import Synchronization

/// Rebuilds the core's state from PostgreSQL: every table in id order, then the audit head.
public enum RegistryLoader {
    /// Loads everything as of one moment: two pooled connections read in parallel — datasets, policies
    /// and lineage on one; registrations, certificates, access requests and grants on the other — in
    /// REPEATABLE READ transactions sharing one exported snapshot, so that the tables and the chain head
    /// are one consistent state. With a pool of one connection, the same on that one.
    /// - Parameter phase: called after each table with its name and how long it took (for operators and
    ///   benchmarks); the two connections' phases interleave.
    public static func load(
        from database: RegistryDatabase, phase: (@Sendable (String, Duration) -> Void)? = nil
    ) async throws -> RegistryState {
        guard database.pool.configuration.maxConnections >= 2 else {
            return try await database.pool.withTransaction(isolation: .repeatableRead) { connection in
                try loadMain(on: connection, limits: database.limits, phase: phase) {
                    try loadSide(on: connection, phase: phase)
                }
            }
        }
        let handoff = SnapshotHandoff()
        async let side = database.pool.withConnection { connection in
            guard let snapshot = handoff.waitForSnapshot() else { throw SnapshotHandoff.Failure.noSnapshot }
            do {
                try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                // SET TRANSACTION SNAPSHOT takes no parameters; the id comes from pg_export_snapshot and
                // is checked to be one before it is written into the statement.
                try connection.execute(PostgresQuery(unsafeSQL: "SET TRANSACTION SNAPSHOT '\(snapshot)'"))
                handoff.markImported(true)
                let tables = try loadSide(on: connection, phase: phase)
                try connection.execute("COMMIT")
                handoff.deliver(.success(tables))
            } catch {
                handoff.markImported(false)
                handoff.deliver(.failure(error))
                _ = try? connection.execute("ROLLBACK")
                throw error
            }
        }
        let state = try await database.pool.withTransaction(isolation: .repeatableRead) { connection in
            do {
                let snapshot = try connection.query("SELECT pg_export_snapshot()")[0].decode(String.self, column: 0)
                guard SnapshotHandoff.isSnapshotID(snapshot) else { throw SnapshotHandoff.Failure.noSnapshot }
                handoff.publish(snapshot)
            } catch {
                handoff.publish(nil)
                throw error
            }
            return try loadMain(on: connection, limits: database.limits, phase: phase) {
                // The exporting transaction must outlive the import; the side's state comes when it is done.
                guard handoff.waitForImport() else { throw SnapshotHandoff.Failure.notImported }
                return try handoff.waitForSide()
            }
        }
        try await side
        return state
    }

    /// Everything but the side's tables; `side` gives the side's state (waiting for the second connection,
    /// or reading it on this one), adopted before the lineage pass so that the policies it holds restrict
    /// the lineage in that one pass.
    static func loadMain(
        on connection: PostgresConnection, limits: Limits, phase: (@Sendable (String, Duration) -> Void)?,
        side: () throws -> RegistryState
    ) throws -> RegistryState {
        var mark = ContinuousClock.now
        func done(_ name: String) {
            let now = ContinuousClock.now
            phase?(name, now - mark)
            mark = now
        }
        var state = RegistryState()
        // Settings first: the calendar dates what follows (R16 counts by calendar year).
        try loadSettings(on: connection, into: &state)
        for row in try connection.query("SELECT id, name, kind, region, jurisdiction, credit_code, sector, created_at FROM party ORDER BY id").map({ $0 }) {
            state.apply(.party(Party(
                id: PartyID(rawValue: try row.decode(Int64.self, column: 0)), name: try row.decode(String.self, column: 1),
                kind: try enumValue(PartyKind.self, row, 2), region: try row.decode(String.self, column: 3),
                jurisdiction: try enumValue(Jurisdiction.self, row, 4), creditCode: try row.decode(String?.self, column: 5),
                sector: try optionalEnumValue(Sector.self, row, 6),
                createdAt: try timestamp(row, 7))))
        }
        done("parties")
        for row in try connection.query("SELECT id, party_id, prefix, secret_hash, label, created_at, revoked_at FROM api_key ORDER BY id").map({ $0 }) {
            state.apply(.apiKey(APIKey(
                id: APIKeyID(rawValue: try row.decode(Int64.self, column: 0)), party: PartyID(rawValue: try row.decode(Int64.self, column: 1)),
                prefix: try row.decode(String.self, column: 2), secretHash: try row.decode(String.self, column: 3),
                label: try row.decode(String.self, column: 4), createdAt: try timestamp(row, 5), revokedAt: try optionalTimestamp(row, 6))))
        }
        done("api keys")
        try connection.copyOut("""
            SELECT id, holder_id, title, description, grade, pi_level, individuals_covered, region, sharing_category, sharing_text,
                   fingerprint, format, update_cycle, size_bytes, tags, flagged, flag_reason, created_at, updated_at
            FROM dataset
            ORDER BY id
            """) { row in
            let sharingName = try row.decode(String?.self, column: 8)
            state.apply(.dataset(Dataset(
                id: DatasetID(rawValue: try row.decode(Int64.self, column: 0)), holder: PartyID(rawValue: try row.decode(Int64.self, column: 1)),
                title: try row.decode(String.self, column: 2), description: try row.decode(String.self, column: 3),
                grade: try enumValue(Grade.self, row, 4), personalInformation: try enumValue(PersonalInformationLevel.self, row, 5),
                individualsCovered: try row.decode(Int64.self, column: 6), region: try row.decode(String.self, column: 7),
                sharing: try sharingName.map { name in
                    guard let sharing = SharingCategory(name: name, text: try row.decode(String?.self, column: 9)) else {
                        throw PostgresError(kind: .decoding, message: "dataset sharing category \(name) is incomplete")
                    }
                    return sharing
                },
                fingerprint: try row.decode(String.self, column: 10), format: try row.decode(String.self, column: 11),
                updateCycle: try row.decode(String.self, column: 12), sizeBytes: try row.decode(Int64.self, column: 13),
                tags: try row.decode([String].self, column: 14), flagged: try row.decode(Bool.self, column: 15),
                flagReason: try row.decode(String?.self, column: 16), createdAt: try timestamp(row, 17), updatedAt: try timestamp(row, 18))))
        }
        done("datasets")
        // Policies before the lineage pass, which computes what they restrict for every descendant at once.
        // Each distinct rule set is stored once (0006): read and compiled once, then the policies name
        // theirs. Only the rule sets some policy uses (a replaced policy leaves its old one behind).
        var templates: [Int64: PolicyTemplate] = [:]
        try connection.copyOut("""
            SELECT id, rules FROM policy_rules AS r
            WHERE EXISTS (SELECT 1 FROM dataset_policy AS p WHERE p.rules_id = r.id)
            ORDER BY id
            """) { row in
            let text = try row.decode(PostgresJSONB.self, column: 1).text
            let rules = try PolicyRule.rules(fromStoredJSON: text) ?? CanonicalJSON.decode([PolicyRule].self, from: text)
            templates[try row.decode(Int64.self, column: 0)] = state.policyTemplate(for: rules)
        }
        try connection.copyOut("""
            SELECT dataset_id, version, rules_id, approval, price_per_million_tokens, daily_token_cap, updated_by, updated_at
            FROM dataset_policy
            ORDER BY dataset_id
            """) { row in
            let dataset = DatasetID(rawValue: try row.decode(Int64.self, column: 0))
            let rulesID = try row.decode(Int64.self, column: 2)
            guard let template = templates[rulesID] else {
                throw PostgresError(kind: .decoding, message: "the policy of dataset \(dataset.rawValue) names rule set \(rulesID), which was not read")
            }
            state.applyLoadedPolicy(
                PolicyRecord(
                    dataset: dataset, version: Int(try row.decode(Int32.self, column: 1)), policy: Policy(dataset: dataset, rules: template.rules),
                    approval: try enumValue(ApprovalMode.self, row, 3), pricePerMillionTokens: try row.decode(Int64.self, column: 4),
                    dailyTokenCap: try row.decode(Int64?.self, column: 5), updatedBy: PartyID(rawValue: try row.decode(Int64.self, column: 6)),
                    updatedAt: try timestamp(row, 7)),
                template: template)
        }
        done("policies")
        try connection.copyOut("SELECT id, source_id, target_id, kind, recorded_by, approved_by, recorded_at FROM derivation ORDER BY id") { row in
            state.appendLoadedDerivation(Derivation(
                id: try row.decode(Int64.self, column: 0), source: DatasetID(rawValue: try row.decode(Int64.self, column: 1)),
                target: DatasetID(rawValue: try row.decode(Int64.self, column: 2)), kind: try enumValue(TransformationKind.self, row, 3),
                recordedBy: PartyID(rawValue: try row.decode(Int64.self, column: 4)),
                approvedBy: try row.decode(Int64?.self, column: 5).map(PartyID.init(rawValue:)), recordedAt: try timestamp(row, 6)))
        }
        done("derivations")
        state.adoptRecords(of: try side())
        done("waiting for the second connection")
        state.finishLoadingDerivations()
        done("lineage pass")
        for row in try connection.query("SELECT id, dataset_id, reason, descendants, by_party, at FROM flag_cascade ORDER BY id").map({ $0 }) {
            state.apply(.flagCascade(FlagCascade(
                id: try row.decode(Int64.self, column: 0), dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 1)),
                reason: try row.decode(String.self, column: 2),
                descendants: try row.decode([Int64].self, column: 3).map(DatasetID.init(rawValue:)),
                by: try row.decode(Int64?.self, column: 4).map(PartyID.init(rawValue:)), at: try timestamp(row, 5))))
        }
        done("flag cascades")
        let head = try connection.query("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
        if head.count == 1 {
            state.restoreAuditHead(AuditHead(lastSequence: try head[0].decode(Int64.self, column: 0), lastHash: try head[0].decode([UInt8].self, column: 1)))
        }
        done("audit head")
        try UsageSQL.load(on: connection, into: &state, limits: limits)
        done("metering")
        return state
    }

    /// The tables a rebuild reads on a second connection while the first reads the rest: registrations,
    /// objections, certificates, access requests and grants, applied to a state of their own (with the
    /// settings, which date grants) that the first connection's state then adopts whole — so that the
    /// records are never held twice.
    static func loadSettings(on connection: PostgresConnection, into state: inout RegistryState) throws {
        let settings = try connection.query("SELECT settings FROM registry_settings WHERE id = 1")
        if settings.count == 1 {
            state.apply(.settings(try jsonValue(RegistrySettings.self, settings[0], 0)))
        }
    }

    static func loadSide(on connection: PostgresConnection, phase: (@Sendable (String, Duration) -> Void)?) throws -> RegistryState {
        var mark = ContinuousClock.now
        func done(_ name: String) {
            let now = ContinuousClock.now
            phase?(name, now - mark)
            mark = now
        }
        var side = RegistryState()
        try loadSettings(on: connection, into: &side)
        try connection.copyOut("""
            SELECT id, number, dataset_id, applicant_id, right_kind, kind, source_type, evidence, truthfulness_commitment,
                   applicant_role, target_certificate_id, transferee_id, authorisation_ends_on, new_fingerprint, statement, status,
                   notice_ends_on, pending_objections, refusals, certificate_id, submitted_at, updated_at
            FROM registration
            ORDER BY id
            """) { row in
            side.apply(.registration(Registration(
                id: RegistrationID(rawValue: try row.decode(Int64.self, column: 0)), number: try row.decode(String.self, column: 1),
                dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 2)), applicant: PartyID(rawValue: try row.decode(Int64.self, column: 3)),
                right: try enumValue(RightKind.self, row, 4), kind: try enumValue(RegistrationKind.self, row, 5),
                sourceType: try optionalEnumValue(SourceType.self, row, 6), evidence: try evidenceValue(row, 7),
                truthfulnessCommitment: try row.decode(Bool.self, column: 8), applicantRole: try enumValue(ApplicantRole.self, row, 9),
                targetCertificate: try row.decode(Int64?.self, column: 10).map(CertificateID.init(rawValue:)),
                transferee: try row.decode(Int64?.self, column: 11).map(PartyID.init(rawValue:)),
                authorisationEndsOn: try optionalDate(row, 12), newFingerprint: try row.decode(String?.self, column: 13),
                statement: try row.decode(String?.self, column: 14), status: try enumValue(RegistrationStatus.self, row, 15),
                noticeEndsOn: try optionalDate(row, 16), pendingObjections: try row.decode(Int.self, column: 17),
                refusals: try refusalsValue(row, 18),
                certificate: try row.decode(Int64?.self, column: 19).map(CertificateID.init(rawValue:)),
                submittedAt: try timestamp(row, 20), updatedAt: try timestamp(row, 21))))
        }
        done("registrations")
        for row in try connection.query("""
            SELECT id, registration_id, objector_id, grounds, lodged_at, ruling, ruled_by, ruling_reason, ruled_at
            FROM objection ORDER BY id
            """).map({ $0 }) {
            side.apply(.objection(Objection(
                id: ObjectionID(rawValue: try row.decode(Int64.self, column: 0)),
                registration: RegistrationID(rawValue: try row.decode(Int64.self, column: 1)),
                objector: PartyID(rawValue: try row.decode(Int64.self, column: 2)), grounds: try row.decode(String.self, column: 3),
                lodgedAt: try timestamp(row, 4), ruling: try optionalEnumValue(ObjectionRuling.self, row, 5),
                ruledBy: try row.decode(Int64?.self, column: 6).map(PartyID.init(rawValue:)),
                rulingReason: try row.decode(String?.self, column: 7), ruledAt: try optionalTimestamp(row, 8))))
        }
        done("objections")
        try connection.copyOut("""
            SELECT id, number, registration_id, dataset_id, fingerprint, right_kind, holder_ids, source_type, issued_on, expires_on,
                   state, superseded_by, state_changed_at
            FROM certificate
            ORDER BY id
            """) { row in
            side.apply(.certificate(Certificate(
                id: CertificateID(rawValue: try row.decode(Int64.self, column: 0)), number: try row.decode(String.self, column: 1),
                registration: RegistrationID(rawValue: try row.decode(Int64.self, column: 2)),
                dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 3)), fingerprint: try row.decode(String.self, column: 4),
                right: try enumValue(RightKind.self, row, 5), holders: try row.decode([Int64].self, column: 6).map(PartyID.init(rawValue:)),
                sourceType: try optionalEnumValue(SourceType.self, row, 7), issuedOn: try date(row, 8), expiresOn: try date(row, 9),
                state: try enumValue(CertificateState.self, row, 10),
                supersededBy: try row.decode(Int64?.self, column: 11).map(CertificateID.init(rawValue:)),
                stateChangedAt: try timestamp(row, 12))))
        }
        done("certificates")
        try connection.copyOut("""
            SELECT id, number, dataset_id, requester_id, purpose, action, tokens, valid_from, valid_until, use_region, duty, records, state,
                   refusals, reply_due_on, reply, replied_by, replied_at, grant_id, created_at, updated_at
            FROM access_request
            ORDER BY id
            """) { row in
            side.apply(.accessRequest(AccessRequest(
                id: AccessRequestID(rawValue: try row.decode(Int64.self, column: 0)), number: try row.decode(String.self, column: 1),
                dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 2)), requester: PartyID(rawValue: try row.decode(Int64.self, column: 3)),
                purpose: try row.decode(String.self, column: 4), action: try enumValue(PolicyAction.self, row, 5),
                tokens: try row.decode(Int64.self, column: 6), validFrom: try timestamp(row, 7), validUntil: try timestamp(row, 8),
                useRegion: try row.decode(String.self, column: 9), duty: try row.decode(String?.self, column: 10),
                records: try accessRecordsValue(row, 11), state: try enumValue(AccessState.self, row, 12),
                refusals: try refusalsValue(row, 13), replyDueOn: try optionalDate(row, 14), reply: try row.decode(String?.self, column: 15),
                repliedBy: try row.decode(Int64?.self, column: 16).map(PartyID.init(rawValue:)), repliedAt: try optionalTimestamp(row, 17),
                grant: try row.decode(Int64?.self, column: 18).map(GrantID.init(rawValue:)),
                createdAt: try timestamp(row, 19), updatedAt: try timestamp(row, 20))))
        }
        done("access requests")
        try connection.copyOut("""
            SELECT id, number, request_id, dataset_id, assignee_id, grantor_id, purpose, action, token_quota, valid_from, valid_until,
                   use_region, price_per_million_tokens, free, retention_days, cross_border, individuals_covered, sensitive, state,
                   state_reason, created_at, updated_at
            FROM "grant"
            ORDER BY id
            """) { row in
            side.apply(.grant(Grant(
                id: GrantID(rawValue: try row.decode(Int64.self, column: 0)), number: try row.decode(String.self, column: 1),
                request: AccessRequestID(rawValue: try row.decode(Int64.self, column: 2)),
                dataset: DatasetID(rawValue: try row.decode(Int64.self, column: 3)), assignee: PartyID(rawValue: try row.decode(Int64.self, column: 4)),
                grantor: PartyID(rawValue: try row.decode(Int64.self, column: 5)), purpose: try row.decode(String.self, column: 6),
                action: try enumValue(PolicyAction.self, row, 7), tokenQuota: try row.decode(Int64.self, column: 8),
                validFrom: try timestamp(row, 9), validUntil: try timestamp(row, 10), useRegion: try row.decode(String.self, column: 11),
                pricePerMillionTokens: try row.decode(Int64.self, column: 12), free: try row.decode(Bool.self, column: 13),
                retentionDays: try row.decode(Int32?.self, column: 14).map(Int.init), crossBorder: try row.decode(Bool.self, column: 15),
                individualsCovered: try row.decode(Int64.self, column: 16), sensitive: try row.decode(Bool.self, column: 17),
                state: try enumValue(AccessState.self, row, 18), stateReason: try row.decode(String?.self, column: 19),
                createdAt: try timestamp(row, 20), updatedAt: try timestamp(row, 21))))
        }
        done("grants")
        return side
    }

    // MARK: Column helpers

    static func enumValue<T: RawRepresentable>(_: T.Type, _ row: some PostgresRowDecoding, _ column: Int) throws -> T where T.RawValue == String {
        let text = try row.decode(String.self, column: column)
        guard let value = T(rawValue: text) else {
            throw PostgresError(kind: .decoding, message: "column \(column) holds \(text), not a \(T.self)")
        }
        return value
    }

    static func optionalEnumValue<T: RawRepresentable>(_: T.Type, _ row: some PostgresRowDecoding, _ column: Int) throws -> T? where T.RawValue == String {
        if row.isNull(column: column) { return nil }
        return try enumValue(T.self, row, column)
    }

    static func timestamp(_ row: some PostgresRowDecoding, _ column: Int) throws -> Timestamp {
        Timestamp(microsecondsSince1970: try row.decode(PostgresTimestamp.self, column: column).microsecondsSince1970)
    }

    static func optionalTimestamp(_ row: some PostgresRowDecoding, _ column: Int) throws -> Timestamp? {
        try row.decode(PostgresTimestamp?.self, column: column).map { Timestamp(microsecondsSince1970: $0.microsecondsSince1970) }
    }

    static func date(_ row: some PostgresRowDecoding, _ column: Int) throws -> CivilDate {
        CivilDate(daysSince1970: try row.decode(PostgresDate.self, column: column).daysSince1970)
    }

    static func optionalDate(_ row: some PostgresRowDecoding, _ column: Int) throws -> CivilDate? {
        try row.decode(PostgresDate?.self, column: column).map { CivilDate(daysSince1970: $0.daysSince1970) }
    }

    /// Evidence lists, read without a JSON decoder in the common shape (`[{"kind": "…", "sha256": "…"}, …]`
    /// as jsonb prints it); anything else goes through the decoder. A rebuild reads hundreds of thousands.
    static func evidenceValue(_ row: some PostgresRowDecoding, _ column: Int) throws -> [Evidence] {
        let text = try row.decode(PostgresJSONB.self, column: column).text
        if text == "[]" { return [] }
        if let fast = FastJSON.evidence(text) { return fast }
        return try CanonicalJSON.decode([Evidence].self, from: text)
    }

    /// An access request's records (R22), read without a JSON decoder in the shape the registry writes.
    static func accessRecordsValue(_ row: some PostgresRowDecoding, _ column: Int) throws -> AccessRecords {
        let text = try row.decode(PostgresJSONB.self, column: column).text
        if let fast = FastJSON.accessRecords(text) { return fast }
        return try CanonicalJSON.decode(AccessRecords.self, from: text)
    }

    static func refusalsValue(_ row: some PostgresRowDecoding, _ column: Int) throws -> [Refusal] {
        let text = try row.decode(PostgresJSONB.self, column: column).text
        if text == "[]" { return [] }
        return try CanonicalJSON.decode([Refusal].self, from: text)
    }

    static func jsonValue<T: Decodable>(_: T.Type, _ row: some PostgresRowDecoding, _ column: Int) throws -> T {
        try CanonicalJSON.decode(T.self, from: try row.decode(PostgresJSONB.self, column: column).text)
    }
}

/// Hands the snapshot id from the connection that exported it to the one that imports it, and the
/// import's success back, between two pool threads (both may block: they are the pool's own threads).
final class SnapshotHandoff: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case noSnapshot, notImported
        var description: String {
            switch self {
            case .noSnapshot: "the rebuild's snapshot could not be exported"
            case .notImported: "the rebuild's second connection could not import the snapshot or did not finish"
            }
        }
    }

    private let snapshot = Mutex<(published: Bool, id: String?)>((false, nil))
    private let imported = Mutex<Bool?>(nil)
    private let snapshotReady = DispatchSemaphore(value: 0)
    private let importDone = DispatchSemaphore(value: 0)
    /// How long either side waits for the other before giving up.
    static let timeout: DispatchTimeInterval = .seconds(Limits.coldStartHandOffSeconds)

    func publish(_ id: String?) {
        snapshot.withLock { $0 = (true, id) }
        snapshotReady.signal()
    }

    func waitForSnapshot() -> String? {
        guard snapshotReady.wait(timeout: .now() + Self.timeout) == .success else { return nil }
        return snapshot.withLock { $0.id }
    }

    func markImported(_ success: Bool) {
        let first = imported.withLock { value -> Bool in
            guard value == nil else { return false }
            value = success
            return true
        }
        if first { importDone.signal() }
    }

    private let side = Mutex<Result<RegistryState, any Error>?>(nil)
    private let sideDone = DispatchSemaphore(value: 0)
    /// How long the first connection waits for the second's tables (a million-dataset registry reads in seconds).
    static let sideTimeout: DispatchTimeInterval = .seconds(Limits.coldStartSideReadSeconds)

    func deliver(_ result: Result<RegistryState, any Error>) {
        side.withLock { $0 = result }
        sideDone.signal()
    }

    func waitForSide() throws -> RegistryState {
        guard sideDone.wait(timeout: .now() + Self.sideTimeout) == .success, let result = side.withLock({ $0 }) else {
            throw Failure.notImported
        }
        return try result.get()
    }

    func waitForImport() -> Bool {
        guard importDone.wait(timeout: .now() + Self.timeout) == .success else { return false }
        return imported.withLock { $0 } ?? false
    }

    /// `00000003-0000001B-1`: hex groups and dashes, nothing that could end the quoted literal.
    static func isSnapshotID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || $0 == 0x2D }
    }
}
