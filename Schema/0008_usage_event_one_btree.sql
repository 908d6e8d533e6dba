-- 0008: one B-tree per usage event, not two. Since 0007 every event inserts into the unique key index
-- (assignee, idempotency key) and into the primary key on id; the second B-tree cost the durable usage
-- rate a quarter (Benchmarks/RESULTS.md, issue 14). The core assigns event ids from one writer (the
-- writer lease), in order; nothing references usage_event by id. So the key index stays the one per-row
-- B-tree, and ids get a BRIN index (events are appended in id order: ranges of ids are ranges of pages).
--
-- Without a B-tree on id, max(id) would read the whole table: each batch now records its last event's id,
-- and the loader reads it from the newest batch (usage_batch's primary key). The newest batch of a
-- database metered before this migration is given its value here, while the primary key still serves.
ALTER TABLE usage_batch ADD COLUMN last_event int8 CHECK (last_event > 0);

UPDATE usage_batch
SET last_event = (SELECT max(id) FROM usage_event)
WHERE id = (SELECT max(id) FROM usage_batch) AND EXISTS (SELECT FROM usage_event);

ALTER TABLE usage_event DROP CONSTRAINT usage_event_pkey;
CREATE INDEX usage_event_id ON usage_event USING brin (id);
