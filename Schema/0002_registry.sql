-- 0002: the registry — parties and API keys, datasets, rights registrations with objections and
-- certificates, the registry's settings, and the append-only audit chain (R30).
--
-- Every row is written whole by the core's single writer (INSERT … ON CONFLICT (id) DO UPDATE) in the
-- same transaction as its audit entries; ids are assigned by the core, densely, from 1.
-- R3: nothing is deleted. Registrations, objections and certificates refuse DELETE; the audit chain
-- refuses UPDATE, DELETE and TRUNCATE.

CREATE TABLE party (
    id            int8 PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('department', 'enterprise', 'model_lab', 'registrar', 'regulator', 'operator')),
    region        text NOT NULL,
    jurisdiction  text NOT NULL CHECK (jurisdiction IN ('mainland', 'outside')),
    credit_code   text UNIQUE,
    created_at    timestamptz NOT NULL
);

CREATE TABLE api_key (
    id            int8 PRIMARY KEY,
    party_id      int8 NOT NULL REFERENCES party (id),
    prefix        text NOT NULL UNIQUE,
    secret_hash   text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    label         text NOT NULL,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);

CREATE TABLE dataset (
    id                   int8 PRIMARY KEY,
    holder_id            int8 NOT NULL REFERENCES party (id),
    title                text NOT NULL,
    description          text NOT NULL,
    grade                text NOT NULL CHECK (grade IN ('general', 'important', 'core')),
    pi_level             text NOT NULL CHECK (pi_level IN ('none', 'personal', 'sensitive')),
    individuals_covered  int8 NOT NULL CHECK (individuals_covered >= 0),
    region               text NOT NULL,
    sharing_category     text CHECK (sharing_category IN ('unconditional', 'conditional', 'not_shared')),
    sharing_text         text,
    fingerprint          text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    format               text NOT NULL,
    update_cycle         text NOT NULL,
    size_bytes           int8 NOT NULL CHECK (size_bytes >= 0),
    tags                 text[] NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX dataset_holder ON dataset (holder_id);

CREATE TABLE registration (
    id                       int8 PRIMARY KEY,
    number                   text NOT NULL UNIQUE,
    dataset_id               int8 NOT NULL REFERENCES dataset (id),
    applicant_id             int8 NOT NULL REFERENCES party (id),
    right_kind               text NOT NULL CHECK (right_kind IN ('hold', 'use', 'operate')),
    kind                     text NOT NULL CHECK (kind IN ('initial', 'change', 'transfer', 'renewal', 'cancellation', 'revocation')),
    source_type              text,
    evidence                 jsonb NOT NULL,
    truthfulness_commitment  bool NOT NULL,
    applicant_role           text NOT NULL,
    target_certificate_id    int8,
    transferee_id            int8 REFERENCES party (id),
    authorisation_ends_on    date,
    new_fingerprint          text,
    statement                text,
    status                   text NOT NULL,
    notice_ends_on           date,
    pending_objections       int4 NOT NULL,
    refusals                 jsonb NOT NULL,
    certificate_id           int8,
    submitted_at             timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);
CREATE INDEX registration_dataset ON registration (dataset_id);
CREATE INDEX registration_open ON registration (status) WHERE status NOT IN ('issued', 'recorded', 'refused');

CREATE TABLE objection (
    id               int8 PRIMARY KEY,
    registration_id  int8 NOT NULL REFERENCES registration (id),
    objector_id      int8 NOT NULL REFERENCES party (id),
    grounds          text NOT NULL,
    lodged_at        timestamptz NOT NULL,
    ruling           text CHECK (ruling IN ('upheld', 'dismissed')),
    ruled_by         int8 REFERENCES party (id),
    ruling_reason    text,
    ruled_at         timestamptz
);

CREATE TABLE certificate (
    id                int8 PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    registration_id   int8 NOT NULL REFERENCES registration (id),
    dataset_id        int8 NOT NULL REFERENCES dataset (id),
    fingerprint       text NOT NULL,
    right_kind        text NOT NULL,
    holder_ids        int8[] NOT NULL,
    source_type       text,
    issued_on         date NOT NULL,
    expires_on        date NOT NULL,
    state             text NOT NULL CHECK (state IN ('active', 'revoked', 'superseded')),
    superseded_by     int8,
    state_changed_at  timestamptz NOT NULL
);
CREATE INDEX certificate_dataset ON certificate (dataset_id);

-- The core's settings (objection policy R5, working calendar R4, sandbox clock offset), one row.
CREATE TABLE registry_settings (
    id          int4 PRIMARY KEY CHECK (id = 1),
    settings    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- R30: the audit chain. hash = SHA-256(prev_hash, seq, at, actor, kind, payload); the payload is kept
-- as the exact canonical JSON text that was hashed.
CREATE TABLE audit_event (
    seq        int8 PRIMARY KEY CHECK (seq >= 1),
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    kind       text NOT NULL,
    payload    text NOT NULL,
    prev_hash  bytea NOT NULL UNIQUE CHECK (length(prev_hash) = 32),
    hash       bytea NOT NULL UNIQUE CHECK (length(hash) = 32)
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: records are kept (R3) and the audit chain is append-only (R30)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER registration_kept BEFORE DELETE ON registration FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER objection_kept BEFORE DELETE ON objection FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER certificate_kept BEFORE DELETE ON certificate FOR EACH ROW EXECUTE FUNCTION refuse_change();
