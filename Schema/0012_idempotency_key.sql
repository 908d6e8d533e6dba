-- 0012: idempotency keys of creating requests (issue 17: `datarights import`, and any client that retries).
-- A POST that creates a dataset, a derivation or a registration may carry an `Idempotency-Key` header;
-- the answer it got is stored here in the same transaction as the records it created, so a retry by the
-- same party with the same key gets the same answer (status, location, body) and creates nothing. Only
-- answers that wrote something are stored: a refused request wrote nothing, and its retry is judged
-- afresh. Unlike usage keys (R26, in `usage_event`), these are transport metadata, not records of the
-- registry: they are outside the audit chain and the core, and rows older than the retention
-- (Limits.idempotencyKeyRetentionDays) are deleted by the clock, a bounded batch a minute.
CREATE TABLE idempotency_key (
    party_id bigint NOT NULL,
    key text NOT NULL,
    -- SHA-256 over the method, the request target and the body's bytes: the same key with another
    -- request is refused (422), never answered with the first request's answer.
    request_sha256 bytea NOT NULL CHECK (octet_length(request_sha256) = 32),
    status smallint NOT NULL,
    location text,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (party_id, key)
);
-- The pruning reads the oldest rows first.
CREATE INDEX idempotency_key_created_at ON idempotency_key (created_at);
