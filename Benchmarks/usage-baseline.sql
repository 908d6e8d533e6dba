-- pgbench script of the usage benchmark's baseline (Benchmarks/usage-http.sh): one PostgreSQL
-- transaction per usage event, on the same schema (0005_usage.sql) and the same database as the server.
--
-- One pgbench transaction is one accepted event of 1 token, written the way a per-event implementation
-- writes it: take the grant, count it against the grant (the quota row, returning the new charge), record
-- the event, count it against the assignee's and the dataset's day, post the use transfer, move both
-- ledger accounts; commit (synchronous_commit stays on: acknowledged means durable, as over HTTP).
--
-- What it leaves out, so that the baseline is if anything faster than a real per-event writer: the audit
-- chain entry the server writes per group commit, and royalty postings. Both pay the unique index on
-- (assignee_id, idempotency_key) (0007_usage_key.sql): it is on the table they share.
--
-- Set up by usage-http.sh in the scratch schema usage_bench:
--   usage_bench.target (n, grant_id, dataset_id, assignee_id, payee_id, price): the grants of the HTTP
--     run, numbered 1…:grants, their ids moved by 10^12 so that the counters, accounts and postings
--     written here are rows of their own, never the server's
--   usage_bench.event_id, usage_bench.transfer_id: sequences from 10^12 (the server's ids are small)
--   usage_batch 1000000000000: the one batch row the postings refer to (its foreign key)
-- Variables: -D grants=<rows of usage_bench.target>. Grants are drawn at random, as the HTTP run's
-- requests spread over them; the ledger accounts are updated in party order (no deadlocks).

\set n random(1, :grants)
BEGIN;
SELECT grant_id, dataset_id, assignee_id, payee_id, price,
       nextval('usage_bench.event_id') AS event_id, nextval('usage_bench.transfer_id') AS transfer_id
  FROM usage_bench.target WHERE n = :n \gset
INSERT INTO grant_usage AS u (grant_id, tokens, charged) VALUES (:grant_id, 1, :price / 1000000)
  ON CONFLICT (grant_id) DO UPDATE SET tokens = u.tokens + 1, charged = (u.tokens + 1) * :price / 1000000
  RETURNING u.charged - (u.tokens - 1) * :price / 1000000 AS amount \gset
INSERT INTO usage_event (id, batch_id, assignee_id, grant_id, dataset_id, idempotency_key, tokens, used_at, recorded_at,
                         accepted, rule, quota, reason, amount, metadata)
  VALUES (:event_id, 1000000000000, :assignee_id, :grant_id, :dataset_id, 'baseline.' || :event_id, 1, now(), now(),
          true, NULL, NULL, NULL, :amount, NULL);
INSERT INTO daily_usage AS d (subject, subject_id, day, tokens)
  VALUES ('assignee', :assignee_id, current_date, 1), ('dataset', :dataset_id, current_date, 1)
  ON CONFLICT (subject, subject_id, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens;
INSERT INTO ledger_transfer (id, batch_id, kind, grant_id, dataset_id, debit_party, credit_party, amount, tokens, at)
  VALUES (:transfer_id, 1000000000000, 'use', :grant_id, :dataset_id, :assignee_id, :payee_id, :amount, 1, now());
INSERT INTO ledger_account AS a (party_id, debits, credits)
  SELECT party, sum(debit), sum(credit)
    FROM (VALUES (:assignee_id::int8, :amount::int8, 0::int8), (:payee_id::int8, 0::int8, :amount::int8)) AS m (party, debit, credit)
   GROUP BY party ORDER BY party
  ON CONFLICT (party_id) DO UPDATE SET debits = a.debits + EXCLUDED.debits, credits = a.credits + EXCLUDED.credits;
COMMIT;
