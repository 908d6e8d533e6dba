import PostgresClient
public import RegistryCore

/// Loads a whole registry into an empty database in one transaction with binary COPY: every table,
/// and the audit chain with one entry per record. For demos, benchmarks and migrations from another
/// system; the running service's writes go through ``RegistryService`` instead.
public enum BulkLoader {
    public struct Report: Sendable {
        public var records: Int
        public var auditEntries: Int64
    }

    public enum Failure: Error, CustomStringConvertible {
        case notEmpty
        case replicaWriting
        public var description: String {
            switch self {
            case .notEmpty: "the database already holds a registry; bulk loading needs an empty one (a fresh --data-dir or database)"
            case .replicaWriting: "a DataRights replica is writing this database (it holds the turn lock); stop it first"
            }
        }
    }

    /// Loads `registry` (made at `now`) and chains its audit entries. Holds the replicas' turn lock for
    /// the duration, so it cannot race a writing replica.
    ///
    /// - Parameter chainAudit: false only for benchmarks that measure the tables alone; the registry then
    ///   has no audit entries for these records.
    public static func load(
        _ registry: SyntheticRegistry, into database: RegistryDatabase, at now: Timestamp, chainAudit: Bool = true
    ) async throws -> Report {
        try await database.pool.withConnection { connection in
            let leased = try connection.query("SELECT pg_try_advisory_lock(\(RegistryService.turnKey))")[0].decode(Bool.self, column: 0)
            guard leased else { throw Failure.replicaWriting }
            defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(RegistryService.turnKey))") }
            return try connection.withTransaction { connection in
                let existing = try connection.query("SELECT (SELECT count(*) FROM party) + (SELECT count(*) FROM audit_event)")[0].decode(Int64.self, column: 0)
                guard existing == 0 else { throw Failure.notEmpty }
                try copy(registry, on: connection)
                try copyAccess(registry, on: connection)
                let audit = chainAudit ? try chain(registry.changeEntries, at: now, on: connection) : 0
                let records = registry.parties.count + registry.datasets.count + registry.derivations.count
                    + registry.registrations.count + registry.objections.count + registry.certificates.count
                    + registry.policies.count + registry.accessRequests.count + registry.grants.count
                return Report(records: records, auditEntries: audit)
            }
        }
    }

    static func ts(_ value: Timestamp) -> PostgresTimestamp { RecordSQL.timestamp(value) }

    static func copy(_ registry: SyntheticRegistry, on connection: PostgresConnection) throws {
        // `sector` (migration 0011) only when a party has one: a registry without sectors also loads into a
        // database from before it (MigrationTests load one there to test later migrations' back-fills).
        let sectors = registry.parties.contains { $0.sector != nil }
        try connection.copyFrom(
            table: "party", columns: ["id", "name", "kind", "region", "jurisdiction", "credit_code"] + (sectors ? ["sector"] : []) + ["created_at"]
        ) { writer in
            for party in registry.parties {
                if sectors {
                    try writer.append(
                        party.id.rawValue, party.name, party.kind.rawValue, party.region, party.jurisdiction.rawValue, party.creditCode,
                        party.sector?.rawValue, ts(party.createdAt))
                } else {
                    try writer.append(
                        party.id.rawValue, party.name, party.kind.rawValue, party.region, party.jurisdiction.rawValue, party.creditCode,
                        ts(party.createdAt))
                }
            }
        }
        try connection.copyFrom(table: "dataset", columns: [
            "id", "holder_id", "title", "description", "grade", "pi_level", "individuals_covered", "region", "sharing_category",
            "sharing_text", "fingerprint", "format", "update_cycle", "size_bytes", "tags", "flagged", "flag_reason", "created_at", "updated_at",
        ]) { writer in
            for dataset in registry.datasets {
                try writer.append(
                    dataset.id.rawValue, dataset.holder.rawValue, dataset.title, dataset.description, dataset.grade.rawValue,
                    dataset.personalInformation.rawValue, dataset.individualsCovered, dataset.region, dataset.sharing?.name,
                    dataset.sharing?.text, dataset.fingerprint, dataset.format, dataset.updateCycle, dataset.sizeBytes, dataset.tags,
                    dataset.flagged, dataset.flagReason, ts(dataset.createdAt), ts(dataset.updatedAt))
            }
        }
        try connection.copyFrom(table: "derivation", columns: ["id", "source_id", "target_id", "kind", "recorded_by", "approved_by", "recorded_at"]) { writer in
            for derivation in registry.derivations {
                try writer.append(
                    derivation.id, derivation.source.rawValue, derivation.target.rawValue, derivation.kind.rawValue,
                    derivation.recordedBy.rawValue, derivation.approvedBy?.rawValue, ts(derivation.recordedAt))
            }
        }
        try connection.copyFrom(table: "registration", columns: [
            "id", "number", "dataset_id", "applicant_id", "right_kind", "kind", "source_type", "evidence", "truthfulness_commitment",
            "applicant_role", "target_certificate_id", "transferee_id", "authorisation_ends_on", "new_fingerprint", "statement", "status",
            "notice_ends_on", "pending_objections", "refusals", "certificate_id", "submitted_at", "updated_at",
        ]) { writer in
            for registration in registry.registrations {
                var bindings = PostgresBindings(
                    registration.id.rawValue, registration.number, registration.dataset.rawValue, registration.applicant.rawValue,
                    registration.right.rawValue, registration.kind.rawValue, registration.sourceType?.rawValue,
                    RecordSQL.json(registration.evidence), registration.truthfulnessCommitment, registration.applicantRole.rawValue,
                    registration.targetCertificate?.rawValue)
                bindings.append(registration.transferee?.rawValue)
                bindings.append(registration.authorisationEndsOn.map(RecordSQL.date))
                bindings.append(registration.newFingerprint)
                bindings.append(registration.statement)
                bindings.append(registration.status.rawValue)
                bindings.append(registration.noticeEndsOn.map(RecordSQL.date))
                bindings.append(Int32(registration.pendingObjections))
                bindings.append(RecordSQL.json(registration.refusals))
                bindings.append(registration.certificate?.rawValue)
                bindings.append(ts(registration.submittedAt))
                bindings.append(ts(registration.updatedAt))
                try writer.append(bindings)
            }
        }
        try connection.copyFrom(table: "objection", columns: [
            "id", "registration_id", "objector_id", "grounds", "lodged_at", "ruling", "ruled_by", "ruling_reason", "ruled_at",
        ]) { writer in
            for objection in registry.objections {
                try writer.append(
                    objection.id.rawValue, objection.registration.rawValue, objection.objector.rawValue, objection.grounds,
                    ts(objection.lodgedAt), objection.ruling?.rawValue, objection.ruledBy?.rawValue, objection.rulingReason,
                    objection.ruledAt.map(ts))
            }
        }
        try connection.copyFrom(table: "certificate", columns: [
            "id", "number", "registration_id", "dataset_id", "fingerprint", "right_kind", "holder_ids", "source_type", "issued_on",
            "expires_on", "state", "superseded_by", "state_changed_at",
        ]) { writer in
            for certificate in registry.certificates {
                try writer.append(
                    certificate.id.rawValue, certificate.number, certificate.registration.rawValue, certificate.dataset.rawValue,
                    certificate.fingerprint, certificate.right.rawValue, certificate.holders.map(\.rawValue), certificate.sourceType?.rawValue,
                    RecordSQL.date(certificate.issuedOn), RecordSQL.date(certificate.expiresOn), certificate.state.rawValue,
                    certificate.supersededBy?.rawValue, ts(certificate.stateChangedAt))
            }
        }
    }

    static func copyAccess(_ registry: SyntheticRegistry, on connection: PostgresConnection) throws {
        // Each distinct rule set once, numbered here (0006); the policies name theirs.
        var ruleSets: [String: Int64] = [:]
        var policyRules: [Int64] = []
        policyRules.reserveCapacity(registry.policies.count)
        try connection.copyFrom(table: "policy_rules", columns: ["id", "rules"]) { writer in
            for record in registry.policies {
                let text = RecordSQL.json(record.policy.rules)
                if let id = ruleSets[text.text] {
                    policyRules.append(id)
                } else {
                    let id = Int64(ruleSets.count + 1)
                    ruleSets[text.text] = id
                    policyRules.append(id)
                    try writer.append(id, text)
                }
            }
        }
        ruleSets = [:]
        _ = try connection.execute("SELECT setval(pg_get_serial_sequence('policy_rules', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM policy_rules), false)")
        try connection.copyFrom(table: "dataset_policy", columns: [
            "dataset_id", "version", "rules_id", "approval", "price_per_million_tokens", "daily_token_cap", "updated_by", "updated_at",
        ]) { writer in
            for (record, rules) in zip(registry.policies, policyRules) {
                try writer.append(
                    record.dataset.rawValue, Int32(record.version), rules, record.approval.rawValue,
                    record.pricePerMillionTokens, record.dailyTokenCap, record.updatedBy.rawValue, ts(record.updatedAt))
            }
        }
        try connection.copyFrom(table: "access_request", columns: [
            "id", "number", "dataset_id", "requester_id", "purpose", "action", "tokens", "valid_from", "valid_until", "use_region", "duty",
            "records", "state", "refusals", "reply_due_on", "reply", "replied_by", "replied_at", "grant_id", "created_at", "updated_at",
        ]) { writer in
            for request in registry.accessRequests {
                var bindings = PostgresBindings(
                    request.id.rawValue, request.number, request.dataset.rawValue, request.requester.rawValue, request.purpose,
                    request.action.rawValue, request.tokens, ts(request.validFrom), ts(request.validUntil), request.useRegion, request.duty)
                bindings.append(RecordSQL.json(request.records))
                bindings.append(request.state.rawValue)
                bindings.append(RecordSQL.json(request.refusals))
                bindings.append(request.replyDueOn.map(RecordSQL.date))
                bindings.append(request.reply)
                bindings.append(request.repliedBy?.rawValue)
                bindings.append(request.repliedAt.map(ts))
                bindings.append(request.grant?.rawValue)
                bindings.append(ts(request.createdAt))
                bindings.append(ts(request.updatedAt))
                try writer.append(bindings)
            }
        }
        try connection.copyFrom(table: "grant", columns: [
            "id", "number", "request_id", "dataset_id", "assignee_id", "grantor_id", "purpose", "action", "token_quota", "valid_from",
            "valid_until", "use_region", "price_per_million_tokens", "free", "retention_days", "cross_border", "individuals_covered",
            "sensitive", "state", "state_reason", "created_at", "updated_at",
        ]) { writer in
            for grant in registry.grants {
                var bindings = PostgresBindings(
                    grant.id.rawValue, grant.number, grant.request.rawValue, grant.dataset.rawValue, grant.assignee.rawValue,
                    grant.grantor.rawValue, grant.purpose, grant.action.rawValue, grant.tokenQuota, ts(grant.validFrom), ts(grant.validUntil))
                bindings.append(grant.useRegion)
                bindings.append(grant.pricePerMillionTokens)
                bindings.append(grant.free)
                bindings.append(grant.retentionDays.map(Int32.init))
                bindings.append(grant.crossBorder)
                bindings.append(grant.individualsCovered)
                bindings.append(grant.sensitive)
                bindings.append(grant.state.rawValue)
                bindings.append(grant.stateReason)
                bindings.append(ts(grant.createdAt))
                bindings.append(ts(grant.updatedAt))
                try writer.append(bindings)
            }
        }
    }

    /// One audit entry per record, chained from genesis, written with COPY.
    static func chain(_ entries: [ChangeEntry], at now: Timestamp, on connection: PostgresConnection) throws -> Int64 {
        var head = AuditHead()
        try connection.copyFrom(table: "audit_event", columns: ["seq", "at", "actor", "kind", "payload", "prev_hash", "hash"]) { writer in
            for entry in entries {
                let audit = head.append(at: now, actor: "system", kind: entry.kind, payload: CanonicalJSON.encode(entry.record))
                try writer.append(audit.sequence, ts(audit.at), audit.actor, audit.kind, audit.payload, audit.previousHash, audit.hash)
            }
        }
        return head.lastSequence
    }
}
