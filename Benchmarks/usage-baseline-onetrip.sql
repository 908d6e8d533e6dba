-- pgbench script: the usage benchmark's second baseline (Benchmarks/usage-http.sh, ONETRIP=1, the default).
--
-- The same per-event transaction as usage-baseline.sql — the same rows written to the same tables, one
-- transaction and one durable commit per event — written as one statement (data-modifying CTEs) in
-- autocommit, so that an event costs one round trip instead of nine. This is the cheapest way one
-- event can be its own transaction; the ratio against it is the conservative one.
--
-- Uses the scratch schema and variables described in usage-baseline.sql.

\set n random(1, :grants)
WITH t AS (
    SELECT grant_id, dataset_id, assignee_id, payee_id, price,
           nextval('usage_bench.event_id') AS event_id, nextval('usage_bench.transfer_id') AS transfer_id
      FROM usage_bench.target WHERE n = :n
), g AS (
    INSERT INTO grant_usage AS u (grant_id, tokens, charged)
        SELECT grant_id, 1, price / 1000000 FROM t
        ON CONFLICT (grant_id) DO UPDATE SET tokens = u.tokens + 1, charged = (u.tokens + 1) * (SELECT price FROM t) / 1000000
        RETURNING u.charged - (u.tokens - 1) * (SELECT price FROM t) / 1000000 AS amount
), e AS (
    INSERT INTO usage_event (id, batch_id, assignee_id, grant_id, dataset_id, idempotency_key, tokens, used_at, recorded_at,
                             accepted, rule, quota, reason, amount, metadata)
        SELECT event_id, 1000000000000, assignee_id, grant_id, dataset_id, 'baseline.' || event_id, 1, now(), now(),
               true, NULL, NULL, NULL, g.amount, NULL
          FROM t, g
), d AS (
    INSERT INTO daily_usage AS d (subject, subject_id, day, tokens)
        SELECT 'assignee', assignee_id, current_date, 1 FROM t
        UNION ALL SELECT 'dataset', dataset_id, current_date, 1 FROM t
        ON CONFLICT (subject, subject_id, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens
), l AS (
    INSERT INTO ledger_transfer (id, batch_id, kind, grant_id, dataset_id, debit_party, credit_party, amount, tokens, at)
        SELECT transfer_id, 1000000000000, 'use', grant_id, dataset_id, assignee_id, payee_id, g.amount, 1, now() FROM t, g
)
INSERT INTO ledger_account AS a (party_id, debits, credits)
    SELECT party, sum(debit), sum(credit)
      FROM (SELECT assignee_id AS party, g.amount AS debit, 0::int8 AS credit FROM t, g
            UNION ALL SELECT payee_id, 0, g.amount FROM t, g) AS m
     GROUP BY party ORDER BY party
    ON CONFLICT (party_id) DO UPDATE SET debits = a.debits + EXCLUDED.debits, credits = a.credits + EXCLUDED.credits;
