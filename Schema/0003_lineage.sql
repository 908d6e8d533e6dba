-- 0003: lineage (R10, R12, R25). Derivation edges run from a source dataset to the dataset derived
-- from it; the core refuses an edge that would close a cycle before it is written. A dataset flagged
-- (source unlawful, or its registration revoked) passes the flag to every descendant in the core; each
-- flagging is recorded with the descendants it reached.

ALTER TABLE dataset
    ADD COLUMN flagged      bool NOT NULL DEFAULT false,
    ADD COLUMN flag_reason  text;

CREATE TABLE derivation (
    id           int8 PRIMARY KEY,
    source_id    int8 NOT NULL REFERENCES dataset (id),
    target_id    int8 NOT NULL REFERENCES dataset (id),
    kind         text NOT NULL CHECK (kind IN ('derived', 'aggregated', 'joined', 'filtered', 'sampled', 'anonymisation', 'approved_anonymisation')),
    recorded_by  int8 NOT NULL,
    approved_by  int8 REFERENCES party (id),
    recorded_at  timestamptz NOT NULL,
    UNIQUE (source_id, target_id),
    CHECK (source_id <> target_id)
);
CREATE INDEX derivation_target ON derivation (target_id);

CREATE TABLE flag_cascade (
    id           int8 PRIMARY KEY,
    dataset_id   int8 NOT NULL REFERENCES dataset (id),
    reason       text NOT NULL,
    descendants  int8[] NOT NULL,
    by_party     int8 REFERENCES party (id),
    at           timestamptz NOT NULL
);

CREATE TRIGGER derivation_kept BEFORE DELETE ON derivation FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER flag_cascade_kept BEFORE DELETE ON flag_cascade FOR EACH ROW EXECUTE FUNCTION refuse_change();
