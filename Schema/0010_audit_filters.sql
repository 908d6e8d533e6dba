-- 0010: audit entries found by kind, actor, time and dataset (issue 16, `GET /v1/audit/events`).
--
-- An entry's payload is the canonical JSON of the record it changed, `{"record": {…}, "type": "…"}`;
-- which datasets that record concerns is read from it once, when the entry is written, into
-- audit_event_dataset (dataset, sequence). Nothing reads it at a cold start. The entries themselves are
-- untouched: the chain's hashes cover exactly what they covered (R30).
--
-- The datasets of a record: a dataset its own id; a registration, certificate, policy, access request,
-- grant or flag cascade its `dataset` (a cascade also every descendant it flagged, R25); a derivation
-- both ends; an objection the dataset of the registration it objects to. Parties, API keys, settings,
-- the clock and usage batches (one per group commit of usage, which `GET /v1/grants/{number}/usage/events`
-- lists by grant) concern none.

CREATE TABLE audit_event_dataset (
    dataset_id  int8 NOT NULL,
    seq         int8 NOT NULL,
    PRIMARY KEY (dataset_id, seq)
);

-- Only the payloads of kinds that carry a record naming datasets are parsed (once, the CTE being read
-- more than once): not the usage batches written with every group commit.
CREATE FUNCTION audit_event_datasets(kind text, payload text) RETURNS SETOF int8
LANGUAGE sql STABLE AS $$
    WITH entry AS (
        SELECT document->>'type' AS type, document->'record' AS record
        FROM (SELECT CASE WHEN split_part(kind, '.', 1) IN
                ('dataset', 'registration', 'certificate', 'policy', 'access_request', 'grant', 'lineage', 'derivation', 'objection')
            THEN payload::jsonb END AS document) AS parsed
    )
    SELECT (record->>'id')::int8 FROM entry WHERE type = 'dataset'
    UNION
    SELECT (record->>'dataset')::int8 FROM entry
    WHERE type IN ('registration', 'certificate', 'policy', 'access_request', 'grant', 'flag_cascade')
    UNION
    SELECT descendant::int8 FROM entry, jsonb_array_elements_text(record->'descendants') AS descendant WHERE type = 'flag_cascade'
    UNION
    SELECT (record->>'source')::int8 FROM entry WHERE type = 'derivation'
    UNION
    SELECT (record->>'target')::int8 FROM entry WHERE type = 'derivation'
    UNION
    SELECT registration.dataset_id FROM entry JOIN registration ON registration.id = (entry.record->>'registration')::int8
    WHERE type = 'objection'
$$;

-- Once per statement, over the rows it inserted: one INSERT … SELECT for a COPY of a bulk load as for
-- a single write's entries.
CREATE FUNCTION audit_event_link_datasets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_event_dataset (dataset_id, seq)
    SELECT dataset.id, inserted.seq
    FROM inserted, audit_event_datasets(inserted.kind, inserted.payload) AS dataset (id)
    WHERE dataset.id IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_event_datasets AFTER INSERT ON audit_event
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION audit_event_link_datasets();

-- The entries already written.
INSERT INTO audit_event_dataset (dataset_id, seq)
SELECT dataset.id, audit_event.seq
FROM audit_event, audit_event_datasets(audit_event.kind, audit_event.payload) AS dataset (id)
WHERE dataset.id IS NOT NULL;

-- Kept as the chain is (R30): derived from it, never changed.
CREATE TRIGGER audit_event_dataset_kept BEFORE UPDATE OR DELETE ON audit_event_dataset
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_event_dataset_no_truncate BEFORE TRUNCATE ON audit_event_dataset
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The other filters, each with the sequence so that a page in sequence order is one index range.
CREATE INDEX audit_event_kind ON audit_event (kind, seq);
CREATE INDEX audit_event_actor ON audit_event (actor, seq);
-- Entries are appended in time order: a BRIN index finds a period's pages.
CREATE INDEX audit_event_at ON audit_event USING brin (at);
