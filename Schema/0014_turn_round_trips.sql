-- 0014: fewer round trips on the replicas' write path (issue 18).
--
-- A notification now says how far the chain reached: its payload is the highest sequence the notifying
-- statement inserted. A replica whose core already holds that entry — its own write, applied when it
-- committed — does not look again. PostgreSQL folds notifications only when their payloads are equal, so
-- each committing statement still yields one.
CREATE OR REPLACE FUNCTION audit_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('datarights_log', (SELECT max(seq) FROM inserted)::text);
    RETURN NULL;
END
$$;
DROP TRIGGER audit_event_notify ON audit_event;
CREATE TRIGGER audit_event_notify AFTER INSERT ON audit_event
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_notify();

-- Taking the turn and reading the chain's head in one round trip. The head is read after the lock is
-- held: a VOLATILE function takes a fresh snapshot for each statement it runs, so the head includes every
-- write of the replica that held the turn before. (A plain `SELECT pg_advisory_lock(k), (SELECT max(seq)
-- …)` would read the head as of the statement's start, before it waited.) `lock_timeout` bounds the wait:
-- 55P03 when another replica holds the turn longer.
--
-- `in_transaction`: a write that is one transaction (a command) takes the transaction's lock, so its
-- COMMIT or ROLLBACK lets go and no round trip is spent on unlocking, and the wait bound is the
-- transaction's too; a run of usage groups (several transactions) takes the session's and unlocks.
-- Both levels of one key exclude each other across sessions.
CREATE FUNCTION datarights_take_turn(turn_key bigint, wait_ms integer, in_transaction boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('lock_timeout', wait_ms::text || 'ms', in_transaction);
    IF in_transaction THEN
        PERFORM pg_advisory_xact_lock(turn_key);
    ELSE
        PERFORM pg_advisory_lock(turn_key);
    END IF;
    RETURN coalesce((SELECT max(seq) FROM audit_event), 0);
END
$$;
