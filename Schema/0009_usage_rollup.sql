-- 0009: daily usage rollups (issue 16, for R29). Statistics and use-of-dataset answers read these, never
-- the raw usage events per request. Each group commit adds its batch's deltas in its own transaction,
-- after the batch before has committed (so two transactions never wait on each other's rows); the core
-- keeps the same cells in memory and a rebuild reads them back.
--
-- The day is the registry calendar's day the batch was committed on (usage_event.recorded_at at the
-- calendar's UTC offset): the day the daily caps count the use against (R27), not the day the assignee
-- dated it. Purpose and use region are the grant's.

-- Accepted use by (day, dataset, assignee, purpose, use region).
CREATE TABLE usage_rollup (
    day          date NOT NULL,
    dataset_id   int8 NOT NULL,
    assignee_id  int8 NOT NULL,
    purpose      text NOT NULL,
    use_region   text NOT NULL,
    events       int8 NOT NULL CHECK (events > 0),
    tokens       int8 NOT NULL CHECK (tokens > 0),
    amount       int8 NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (day, dataset_id, assignee_id, purpose, use_region)
);

-- Quota denials (R27) by (day, assignee, dataset, quota): "quota denials per lab and per dataset".
CREATE TABLE usage_denial_rollup (
    day          date NOT NULL,
    assignee_id  int8 NOT NULL,
    dataset_id   int8 NOT NULL,
    quota        text NOT NULL CHECK (quota IN ('grant', 'assignee_daily', 'dataset_daily')),
    events       int8 NOT NULL CHECK (events > 0),
    tokens       int8 NOT NULL CHECK (tokens > 0),
    PRIMARY KEY (day, assignee_id, dataset_id, quota)
);

-- A database metered before this migration gets its rollups from the events it holds (read once). The
-- calendar's offset is today's setting (8 hours when none was ever set): a registry whose offset was
-- changed gets the days of its earlier events at the new offset, as its daily counters would read them.
DO $$
DECLARE
    offset_seconds int4;
BEGIN
    SELECT coalesce((SELECT (settings -> 'calendar' ->> 'utcOffsetSeconds')::int4 FROM registry_settings WHERE id = 1), 8 * 3600)
    INTO offset_seconds;

    INSERT INTO usage_rollup (day, dataset_id, assignee_id, purpose, use_region, events, tokens, amount)
    SELECT ((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => offset_seconds))::date, e.dataset_id, e.assignee_id, g.purpose,
           g.use_region, count(*), sum(e.tokens), sum(e.amount)
    FROM usage_event e JOIN "grant" g ON g.id = e.grant_id
    WHERE e.accepted
    GROUP BY 1, 2, 3, 4, 5;

    INSERT INTO usage_denial_rollup (day, assignee_id, dataset_id, quota, events, tokens)
    SELECT ((e.recorded_at AT TIME ZONE 'UTC') + make_interval(secs => offset_seconds))::date, e.assignee_id, e.dataset_id, e.quota,
           count(*), sum(e.tokens)
    FROM usage_event e
    WHERE NOT e.accepted AND e.quota IS NOT NULL AND e.dataset_id IS NOT NULL
    GROUP BY 1, 2, 3, 4;
END
$$;
