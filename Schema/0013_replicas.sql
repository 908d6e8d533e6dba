-- 0013: many `serve` replicas on one database (issue 18).
--
-- Each replica keeps its core by following the committed log: the audit chain, in sequence order. A
-- command's entries carry whole records; a usage batch's entry carries only counts and a digest, so the
-- batch's effect on the counters is stored with its row, as the planner computed it (absolute values
-- of the counters it touched, its rollup deltas: `UsageBatchEffects`, a compact binary form), and a
-- following replica applies exactly that. Batches written before this migration have none: a replica
-- that meets one rebuilds its core from the tables instead.
ALTER TABLE usage_batch ADD COLUMN effects bytea;
CREATE UNIQUE INDEX usage_batch_audit_seq ON usage_batch (audit_seq);

-- Replicas wake when the chain grows: one notification per inserting statement (its payload empty, so
-- PostgreSQL folds a transaction's notifications into one), delivered at COMMIT. They also look every
-- half second, so a notification lost with a broken connection delays nothing for long.
CREATE FUNCTION audit_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('datarights_log', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_event_notify AFTER INSERT ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_notify();
