-- 0015: quota leases (issue 18, docs/SCALING.md "Quotas across replicas").
--
-- Usage no longer needs the turn to decide and write its events: a replica answers from slices of the
-- quotas it reserved here — a range of a grant's cumulative tokens, or tokens of an assignee's or a
-- dataset's daily cap — and takes the turn only to append the batch's audit entry and set the counters.
--
-- The invariant, per subject (a grant, or an assignee or a dataset on one day):
--     committed tokens + Σ unused tokens of live leases ≤ limit
-- A reservation holds the subject's row and every live lease row of it, and grants at most
-- limit − committed − Σ unused. A draw moves tokens from a lease's unused part to the committed counter
-- in one transaction (`used + Δ <= size AND NOT ended`, re-checked on the row version it waited for), so
-- the sum does not grow; ending a lease shrinks it. Hence committed ≤ limit at every commit: overspend is
-- impossible, whatever any replica's clock says. Lock order everywhere: by (scope, subject_id, day), a
-- subject's row before its lease rows, lease rows by id; a draw locks its lease rows only, in that order
-- (QuotaLeaseSQL.draw), and takes the turn after.

-- Ids without the turn: replicas take blocks (one nextval = one block).
DO $$
DECLARE
    next_event int8 := coalesce((SELECT max(last_event) FROM usage_batch), 0) + 1;
    next_batch int8 := coalesce((SELECT max(id) FROM usage_batch), 0) + 1;
BEGIN
    EXECUTE format('CREATE SEQUENCE usage_event_id_block INCREMENT BY 65536 START WITH %s', next_event);
    EXECUTE format('CREATE SEQUENCE usage_batch_id_block INCREMENT BY 256 START WITH %s', next_batch);
END
$$;
-- Ids come in blocks, so the newest batch need not hold the highest event id: the loader asks for the maximum.
CREATE INDEX usage_batch_last_event ON usage_batch (last_event);

-- One row per subject ever leased: the lock a reservation takes, and for a grant the next position of its
-- cumulative tokens not yet reserved (R28 charges each event by its position: ⌊(p + t)·price ÷ 10⁶⌋ −
-- ⌊p·price ÷ 10⁶⌋, so a replica prices its events exactly without knowing the others').
CREATE TABLE quota_subject (
    scope      text NOT NULL CHECK (scope IN ('grant', 'assignee', 'dataset')),
    subject_id int8 NOT NULL,
    day        int4 NOT NULL,  -- days since 1970-01-01 for daily caps; 0 for a grant
    cursor     int8 NOT NULL CHECK (cursor >= 0),
    PRIMARY KEY (scope, subject_id, day)
);

CREATE TABLE quota_lease (
    id          int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope       text NOT NULL,
    subject_id  int8 NOT NULL,
    day         int4 NOT NULL,
    holder      text NOT NULL,
    range_start int8 NOT NULL CHECK (range_start >= 0),
    size        int8 NOT NULL CHECK (size > 0),
    used        int8 NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= size),
    expires_at  timestamptz NOT NULL,
    ended       bool NOT NULL DEFAULT false,
    FOREIGN KEY (scope, subject_id, day) REFERENCES quota_subject
);
CREATE INDEX quota_lease_live ON quota_lease (scope, subject_id, day) WHERE NOT ended;
CREATE INDEX quota_lease_holder ON quota_lease (holder) WHERE NOT ended;

-- Reserves slices for one replica, one subject per array index, in the order given (the caller sorts
-- them, so two replicas lock subjects in one order). For each: `need` tokens if available, plus up to
-- `extra` (the replica's recent rate) but never more than the available tokens beyond `need` divided by
-- twice the number of replicas holding the subject — so a busy replica is not starved and cannot starve
-- the others. Expired leases are ended first (a crashed replica's slices come back here).
-- Returns one row per lease made (none for a subject with nothing available).
CREATE FUNCTION datarights_reserve_quota(
    holder_name text, scopes text[], subjects int8[], days int4[], limits int8[], needs int8[], extras int8[], ttl_ms integer
) RETURNS TABLE (subject_index integer, lease_id int8, start_position int8, granted int8)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    i integer;
    position int8;
    committed int8;
    unused int8;
    others integer;
    available int8;
    amount int8;
BEGIN
    FOR i IN 1 .. coalesce(array_length(scopes, 1), 0) LOOP
        IF scopes[i] = 'grant' THEN
            committed := coalesce((SELECT tokens FROM grant_usage WHERE grant_id = subjects[i]), 0);
        ELSE
            committed := coalesce((SELECT tokens FROM daily_usage
                                   WHERE subject = scopes[i] AND subject_id = subjects[i] AND day = DATE '1970-01-01' + days[i]), 0);
        END IF;
        INSERT INTO quota_subject (scope, subject_id, day, cursor) VALUES (scopes[i], subjects[i], days[i], committed)
            ON CONFLICT DO NOTHING;
        SELECT s.cursor INTO position FROM quota_subject s
            WHERE s.scope = scopes[i] AND s.subject_id = subjects[i] AND s.day = days[i] FOR UPDATE;
        -- Wait for draws in flight on the subject's live leases; the statements after see them committed.
        PERFORM 1 FROM quota_lease l
            WHERE l.scope = scopes[i] AND l.subject_id = subjects[i] AND l.day = days[i] AND NOT l.ended ORDER BY l.id FOR UPDATE;
        UPDATE quota_lease l SET ended = true
            WHERE l.scope = scopes[i] AND l.subject_id = subjects[i] AND l.day = days[i] AND NOT l.ended AND l.expires_at < now();
        SELECT coalesce(sum(l.size - l.used), 0), count(DISTINCT l.holder) FILTER (WHERE l.holder <> holder_name)
            INTO unused, others
            FROM quota_lease l WHERE l.scope = scopes[i] AND l.subject_id = subjects[i] AND l.day = days[i] AND NOT l.ended;
        -- Read again after the waits: a draw commits its counter with its lease.
        IF scopes[i] = 'grant' THEN
            committed := coalesce((SELECT tokens FROM grant_usage WHERE grant_id = subjects[i]), 0);
        ELSE
            committed := coalesce((SELECT tokens FROM daily_usage
                                   WHERE subject = scopes[i] AND subject_id = subjects[i] AND day = DATE '1970-01-01' + days[i]), 0);
        END IF;
        available := limits[i] - committed - unused;
        CONTINUE WHEN available <= 0;
        amount := least(available, needs[i] + least(extras[i], (available - least(available, needs[i])) / (2 * (others + 1))));
        CONTINUE WHEN amount <= 0;
        INSERT INTO quota_lease (scope, subject_id, day, holder, range_start, size, expires_at)
            VALUES (scopes[i], subjects[i], days[i], holder_name, position, amount, now() + ttl_ms * interval '1 millisecond')
            RETURNING id INTO lease_id;
        UPDATE quota_subject s SET cursor = position + amount
            WHERE s.scope = scopes[i] AND s.subject_id = subjects[i] AND s.day = days[i];
        subject_index := i;
        start_position := position;
        granted := amount;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Gives back the unused part of a replica's leases (idle, or the replica stopping). A grant's cursor
-- moves back over a range that was the last reserved, so that one replica's positions stay contiguous
-- and its charges equal ⌊tokens·price ÷ 10⁶⌋ exactly. Subject rows are locked first (the lock order).
CREATE FUNCTION datarights_end_leases(holder_name text, lease_ids int8[]) RETURNS integer
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lease record;
    ended_count integer := 0;
BEGIN
    FOR lease IN
        SELECT l.id, l.scope, l.subject_id, l.day FROM quota_lease l
        WHERE l.id = ANY (lease_ids) AND l.holder = holder_name AND NOT l.ended
        ORDER BY l.scope, l.subject_id, l.day
    LOOP
        PERFORM 1 FROM quota_subject s
            WHERE s.scope = lease.scope AND s.subject_id = lease.subject_id AND s.day = lease.day FOR UPDATE;
        UPDATE quota_subject s SET cursor = l.range_start + l.used
            FROM quota_lease l
            WHERE l.id = lease.id AND NOT l.ended
              AND s.scope = lease.scope AND s.subject_id = lease.subject_id AND s.day = lease.day
              AND s.cursor = l.range_start + l.size;
        UPDATE quota_lease l SET ended = true WHERE l.id = lease.id AND NOT l.ended;
        IF FOUND THEN ended_count := ended_count + 1; END IF;
    END LOOP;
    RETURN ended_count;
END
$$;
