import PostgresClient
import RegistryCore

/// How each core record is written: one upsert per record, whole, by id.
enum RecordSQL {
    static func upsert(_ change: RecordChange, on connection: PostgresConnection) throws {
        switch change {
        case .party(let party):
            try connection.execute("""
                INSERT INTO party (id, name, kind, region, jurisdiction, credit_code, sector, created_at)
                VALUES (\(party.id.rawValue), \(party.name), \(party.kind.rawValue), \(party.region), \(party.jurisdiction.rawValue),
                        \(party.creditCode), \(party.sector?.rawValue), \(timestamp(party.createdAt)))
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, region = EXCLUDED.region,
                    jurisdiction = EXCLUDED.jurisdiction, credit_code = EXCLUDED.credit_code, sector = EXCLUDED.sector
                """)
        case .apiKey(let key):
            try connection.execute("""
                INSERT INTO api_key (id, party_id, prefix, secret_hash, label, created_at, revoked_at)
                VALUES (\(key.id.rawValue), \(key.party.rawValue), \(key.prefix), \(key.secretHash), \(key.label),
                        \(timestamp(key.createdAt)), \(key.revokedAt.map(timestamp)))
                ON CONFLICT (id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, label = EXCLUDED.label
                """)
        case .dataset(let dataset):
            try connection.execute("""
                INSERT INTO dataset (id, holder_id, title, description, grade, pi_level, individuals_covered, region,
                    sharing_category, sharing_text, fingerprint, format, update_cycle, size_bytes, tags, flagged, flag_reason,
                    created_at, updated_at)
                VALUES (\(dataset.id.rawValue), \(dataset.holder.rawValue), \(dataset.title), \(dataset.description),
                        \(dataset.grade.rawValue), \(dataset.personalInformation.rawValue), \(dataset.individualsCovered),
                        \(dataset.region), \(dataset.sharing?.name), \(dataset.sharing?.text), \(dataset.fingerprint),
                        \(dataset.format), \(dataset.updateCycle), \(dataset.sizeBytes), \(dataset.tags), \(dataset.flagged),
                        \(dataset.flagReason), \(timestamp(dataset.createdAt)), \(timestamp(dataset.updatedAt)))
                ON CONFLICT (id) DO UPDATE SET holder_id = EXCLUDED.holder_id, title = EXCLUDED.title,
                    description = EXCLUDED.description, grade = EXCLUDED.grade, pi_level = EXCLUDED.pi_level,
                    individuals_covered = EXCLUDED.individuals_covered, region = EXCLUDED.region,
                    sharing_category = EXCLUDED.sharing_category, sharing_text = EXCLUDED.sharing_text,
                    fingerprint = EXCLUDED.fingerprint, format = EXCLUDED.format, update_cycle = EXCLUDED.update_cycle,
                    size_bytes = EXCLUDED.size_bytes, tags = EXCLUDED.tags, flagged = EXCLUDED.flagged,
                    flag_reason = EXCLUDED.flag_reason, updated_at = EXCLUDED.updated_at
                """)
        case .registration(let registration):
            try connection.execute("""
                INSERT INTO registration (id, number, dataset_id, applicant_id, right_kind, kind, source_type, evidence,
                    truthfulness_commitment, applicant_role, target_certificate_id, transferee_id, authorisation_ends_on,
                    new_fingerprint, statement, status, notice_ends_on, pending_objections, refusals, certificate_id,
                    submitted_at, updated_at)
                VALUES (\(registration.id.rawValue), \(registration.number), \(registration.dataset.rawValue),
                        \(registration.applicant.rawValue), \(registration.right.rawValue), \(registration.kind.rawValue),
                        \(registration.sourceType?.rawValue), \(json(registration.evidence)), \(registration.truthfulnessCommitment),
                        \(registration.applicantRole.rawValue), \(registration.targetCertificate?.rawValue),
                        \(registration.transferee?.rawValue), \(registration.authorisationEndsOn.map(date)),
                        \(registration.newFingerprint), \(registration.statement), \(registration.status.rawValue),
                        \(registration.noticeEndsOn.map(date)), \(Int32(registration.pendingObjections)), \(json(registration.refusals)),
                        \(registration.certificate?.rawValue), \(timestamp(registration.submittedAt)), \(timestamp(registration.updatedAt)))
                ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, notice_ends_on = EXCLUDED.notice_ends_on,
                    pending_objections = EXCLUDED.pending_objections, refusals = EXCLUDED.refusals,
                    certificate_id = EXCLUDED.certificate_id, updated_at = EXCLUDED.updated_at
                """)
        case .objection(let objection):
            try connection.execute("""
                INSERT INTO objection (id, registration_id, objector_id, grounds, lodged_at, ruling, ruled_by, ruling_reason, ruled_at)
                VALUES (\(objection.id.rawValue), \(objection.registration.rawValue), \(objection.objector.rawValue), \(objection.grounds),
                        \(timestamp(objection.lodgedAt)), \(objection.ruling?.rawValue), \(objection.ruledBy?.rawValue),
                        \(objection.rulingReason), \(objection.ruledAt.map(timestamp)))
                ON CONFLICT (id) DO UPDATE SET ruling = EXCLUDED.ruling, ruled_by = EXCLUDED.ruled_by,
                    ruling_reason = EXCLUDED.ruling_reason, ruled_at = EXCLUDED.ruled_at
                """)
        case .certificate(let certificate):
            try connection.execute("""
                INSERT INTO certificate (id, number, registration_id, dataset_id, fingerprint, right_kind, holder_ids, source_type,
                    issued_on, expires_on, state, superseded_by, state_changed_at)
                VALUES (\(certificate.id.rawValue), \(certificate.number), \(certificate.registration.rawValue),
                        \(certificate.dataset.rawValue), \(certificate.fingerprint), \(certificate.right.rawValue),
                        \(certificate.holders.map(\.rawValue)), \(certificate.sourceType?.rawValue), \(date(certificate.issuedOn)),
                        \(date(certificate.expiresOn)), \(certificate.state.rawValue), \(certificate.supersededBy?.rawValue),
                        \(timestamp(certificate.stateChangedAt)))
                ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, superseded_by = EXCLUDED.superseded_by,
                    state_changed_at = EXCLUDED.state_changed_at
                """)
        case .derivation(let derivation):
            try connection.execute("""
                INSERT INTO derivation (id, source_id, target_id, kind, recorded_by, approved_by, recorded_at)
                VALUES (\(derivation.id), \(derivation.source.rawValue), \(derivation.target.rawValue), \(derivation.kind.rawValue),
                        \(derivation.recordedBy.rawValue), \(derivation.approvedBy?.rawValue), \(timestamp(derivation.recordedAt)))
                ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, approved_by = EXCLUDED.approved_by
                """)
        case .flagCascade(let cascade):
            try connection.execute("""
                INSERT INTO flag_cascade (id, dataset_id, reason, descendants, by_party, at)
                VALUES (\(cascade.id), \(cascade.dataset.rawValue), \(cascade.reason), \(cascade.descendants.map(\.rawValue)),
                        \(cascade.by?.rawValue), \(timestamp(cascade.at)))
                ON CONFLICT (id) DO NOTHING
                """)
        case .policy(let record):
            // The rule set is stored once (0006): added if new, else the stored one with the same digest.
            let rules = json(record.policy.rules)
            try connection.execute("""
                WITH added AS (INSERT INTO policy_rules (rules) VALUES (\(rules)) ON CONFLICT (digest) DO NOTHING RETURNING id)
                INSERT INTO dataset_policy (dataset_id, version, rules_id, approval, price_per_million_tokens, daily_token_cap,
                    updated_by, updated_at)
                VALUES (\(record.dataset.rawValue), \(Int32(record.version)),
                        COALESCE((SELECT id FROM added), (SELECT id FROM policy_rules WHERE digest = policy_rules_digest(\(rules)))),
                        \(record.approval.rawValue), \(record.pricePerMillionTokens), \(record.dailyTokenCap), \(record.updatedBy.rawValue),
                        \(timestamp(record.updatedAt)))
                ON CONFLICT (dataset_id) DO UPDATE SET version = EXCLUDED.version, rules_id = EXCLUDED.rules_id, approval = EXCLUDED.approval,
                    price_per_million_tokens = EXCLUDED.price_per_million_tokens, daily_token_cap = EXCLUDED.daily_token_cap,
                    updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
                """)
        case .accessRequest(let request):
            try connection.execute("""
                INSERT INTO access_request (id, number, dataset_id, requester_id, purpose, action, tokens, valid_from, valid_until,
                    use_region, duty, records, state, refusals, reply_due_on, reply, replied_by, replied_at, grant_id, created_at, updated_at)
                VALUES (\(request.id.rawValue), \(request.number), \(request.dataset.rawValue), \(request.requester.rawValue),
                        \(request.purpose), \(request.action.rawValue), \(request.tokens), \(timestamp(request.validFrom)),
                        \(timestamp(request.validUntil)), \(request.useRegion), \(request.duty), \(json(request.records)),
                        \(request.state.rawValue), \(json(request.refusals)), \(request.replyDueOn.map(date)), \(request.reply),
                        \(request.repliedBy?.rawValue), \(request.repliedAt.map(timestamp)), \(request.grant?.rawValue),
                        \(timestamp(request.createdAt)), \(timestamp(request.updatedAt)))
                ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, refusals = EXCLUDED.refusals, reply = EXCLUDED.reply,
                    replied_by = EXCLUDED.replied_by, replied_at = EXCLUDED.replied_at, grant_id = EXCLUDED.grant_id,
                    updated_at = EXCLUDED.updated_at
                """)
        case .grant(let grant):
            try connection.execute("""
                INSERT INTO "grant" (id, number, request_id, dataset_id, assignee_id, grantor_id, purpose, action, token_quota, valid_from,
                    valid_until, use_region, price_per_million_tokens, free, retention_days, cross_border, individuals_covered, sensitive,
                    state, state_reason, created_at, updated_at)
                VALUES (\(grant.id.rawValue), \(grant.number), \(grant.request.rawValue), \(grant.dataset.rawValue), \(grant.assignee.rawValue),
                        \(grant.grantor.rawValue), \(grant.purpose), \(grant.action.rawValue), \(grant.tokenQuota), \(timestamp(grant.validFrom)),
                        \(timestamp(grant.validUntil)), \(grant.useRegion), \(grant.pricePerMillionTokens), \(grant.free),
                        \(grant.retentionDays.map(Int32.init)), \(grant.crossBorder), \(grant.individualsCovered), \(grant.sensitive),
                        \(grant.state.rawValue), \(grant.stateReason), \(timestamp(grant.createdAt)), \(timestamp(grant.updatedAt)))
                ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, state_reason = EXCLUDED.state_reason, updated_at = EXCLUDED.updated_at
                """)
        case .settings(let settings):
            try connection.execute("""
                INSERT INTO registry_settings (id, settings, updated_at) VALUES (1, \(json(settings)), now())
                ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at
                """)
        }
    }

    static func insert(_ entry: AuditEntry, on connection: PostgresConnection) throws {
        try connection.execute(insertion(of: entry))
    }

    /// The statement appending `entry` to the chain.
    static func insertion(of entry: AuditEntry) -> PostgresQuery {
        """
        INSERT INTO audit_event (seq, at, actor, kind, payload, prev_hash, hash)
        VALUES (\(entry.sequence), \(timestamp(entry.at)), \(entry.actor), \(entry.kind), \(entry.payload),
                \(entry.previousHash), \(entry.hash))
        """
    }

    static func timestamp(_ value: Timestamp) -> PostgresTimestamp {
        PostgresTimestamp(microsecondsSince1970: value.microsecondsSince1970)
    }

    static func date(_ value: CivilDate) -> PostgresDate {
        PostgresDate(daysSince1970: value.daysSince1970)
    }

    static func json(_ value: some Encodable) -> PostgresJSONB {
        PostgresJSONB(CanonicalJSON.encode(value))
    }
}
