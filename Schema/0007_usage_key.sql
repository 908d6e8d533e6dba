-- 0007: idempotency in PostgreSQL itself (R26). An assignee's idempotency key names one event, for
-- good: a second event with the same key is refused here, whatever the core remembers. The core keeps a
-- bounded number of keys in memory (Limits.usageKeyMemory); when PostgreSQL refuses a key the core has
-- forgotten, the store reads the first event's answer back and answers the retry with it.
--
-- Databases metered before this migration may hold the same key twice (the core used to forget keys
-- after the report window, and a key reused later was counted as new). Those rows stay as they are
-- (nothing is deleted); the unique index covers the events after the last such repeat, and
-- usage_key_horizon records where it starts. On a database without repeats (the usual case) it is 0
-- and every event is covered. Finding repeats reads usage_event once.
CREATE TABLE usage_key_horizon (
    singleton      bool PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The unique index covers events with a greater id.
    covered_after  int8 NOT NULL CHECK (covered_after >= 0)
);

DO $$
DECLARE
    horizon int8;
BEGIN
    SELECT coalesce(max(id), 0) INTO horizon FROM (
        SELECT id, row_number() OVER (PARTITION BY assignee_id, idempotency_key ORDER BY id) AS use
        FROM usage_event
    ) AS event WHERE use > 1;
    INSERT INTO usage_key_horizon (covered_after) VALUES (horizon);
    EXECUTE format('CREATE UNIQUE INDEX usage_event_key ON usage_event (assignee_id, idempotency_key) WHERE id > %s', horizon);
END
$$;
