-- 0005: metering and settlement (R26–R28). The core checks and debits quotas and plans each group
-- commit; one transaction writes its events, postings, the counters' new values and one audit entry.
-- Counters are stored with their absolute values, so a restart reads them back instead of summing events.

-- One group commit: many requests' events, one audit chain entry with a digest of the events.
CREATE TABLE usage_batch (
    id            int8 PRIMARY KEY,
    committed_at  timestamptz NOT NULL,
    events        int4 NOT NULL CHECK (events > 0),
    accepted      int4 NOT NULL CHECK (accepted >= 0 AND accepted <= events),
    tokens        int8 NOT NULL CHECK (tokens >= 0),
    amount        int8 NOT NULL CHECK (amount >= 0),
    events_digest bytea NOT NULL,
    audit_seq     int8 NOT NULL REFERENCES audit_event (seq)
);

-- Every event answered, accepted or denied (a retry with the same key gets the same answer, R26).
-- The core assigns ids; it alone enforces key uniqueness, remembering keys for at least 24 hours and
-- refusing events older than that — a unique index on (assignee, key) would cost the hot path a random
-- B-tree insert per event for a guarantee the writer already gives.
CREATE TABLE usage_event (
    id              int8 PRIMARY KEY,
    batch_id        int8 NOT NULL,
    assignee_id     int8 NOT NULL,
    grant_id        int8,
    dataset_id      int8,
    idempotency_key text NOT NULL,
    tokens          int8 NOT NULL CHECK (tokens > 0),
    used_at         timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    accepted        bool NOT NULL,
    rule            text,
    quota           text CHECK (quota IN ('grant', 'assignee_daily', 'dataset_daily')),
    reason          text,
    amount          int8 NOT NULL CHECK (amount >= 0),
    metadata        jsonb,
    CHECK (accepted = (rule IS NULL))
);
-- Time-ordered inserts: a BRIN index finds the retention window at start-up and periods for regulators.
CREATE INDEX usage_event_recorded_at ON usage_event USING brin (recorded_at);

-- What each grant has used and been charged in total.
CREATE TABLE grant_usage (
    grant_id int8 PRIMARY KEY,
    tokens   int8 NOT NULL CHECK (tokens >= 0),
    charged  int8 NOT NULL CHECK (charged >= 0)
);

-- Tokens counted against daily caps (R27), per assignee or dataset and calendar day.
CREATE TABLE daily_usage (
    subject    text NOT NULL CHECK (subject IN ('assignee', 'dataset')),
    subject_id int8 NOT NULL,
    day        date NOT NULL,
    tokens     int8 NOT NULL CHECK (tokens >= 0),
    PRIMARY KEY (subject, subject_id, day)
);

-- Double-entry postings (R28): each moves `amount` fen from the debit party to the credit party.
CREATE TABLE ledger_transfer (
    id           int8 PRIMARY KEY,
    batch_id     int8 NOT NULL REFERENCES usage_batch (id),
    kind         text NOT NULL CHECK (kind IN ('use', 'royalty')),
    grant_id     int8 NOT NULL,
    dataset_id   int8 NOT NULL,
    debit_party  int8 NOT NULL,
    credit_party int8 NOT NULL,
    amount       int8 NOT NULL CHECK (amount >= 0),
    tokens       int8 NOT NULL CHECK (tokens >= 0),
    at           timestamptz NOT NULL
);
CREATE INDEX ledger_transfer_debit ON ledger_transfer (debit_party, at);
CREATE INDEX ledger_transfer_credit ON ledger_transfer (credit_party, at);

-- Every party's totals, kept with each batch: balance = credits - debits; all debits = all credits.
CREATE TABLE ledger_account (
    party_id int8 PRIMARY KEY,
    debits   int8 NOT NULL CHECK (debits >= 0),
    credits  int8 NOT NULL CHECK (credits >= 0)
);

-- The ledger balances: kept true by every batch, and checked here by anyone.
CREATE VIEW ledger_balance AS
    SELECT coalesce(sum(debits), 0) AS debits, coalesce(sum(credits), 0) AS credits FROM ledger_account;
