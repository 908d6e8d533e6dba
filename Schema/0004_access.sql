-- 0004: policies, access requests and grants (R13–R24). The core decides every gate; these tables keep
-- what it decided, whole, so that a restart rebuilds the same state and regulators can query it (R29).

CREATE TABLE dataset_policy (
    dataset_id               int8 PRIMARY KEY REFERENCES dataset (id),
    version                  int4 NOT NULL CHECK (version >= 1),
    -- The ODRL-shaped rules (R20) as the core encodes them; exported as ODRL JSON-LD by the API.
    rules                    jsonb NOT NULL,
    approval                 text NOT NULL CHECK (approval IN ('automatic', 'holder')),
    price_per_million_tokens int8 NOT NULL CHECK (price_per_million_tokens >= 0),
    daily_token_cap          int8 CHECK (daily_token_cap > 0),
    updated_by               int8 NOT NULL REFERENCES party (id),
    updated_at               timestamptz NOT NULL
);

CREATE TABLE access_request (
    id            int8 PRIMARY KEY,
    number        text NOT NULL UNIQUE,
    dataset_id    int8 NOT NULL REFERENCES dataset (id),
    requester_id  int8 NOT NULL REFERENCES party (id),
    purpose       text NOT NULL,
    action        text NOT NULL CHECK (action IN ('use', 'derive', 'distribute')),
    tokens        int8 NOT NULL CHECK (tokens > 0),
    valid_from    timestamptz NOT NULL,
    valid_until   timestamptz NOT NULL CHECK (valid_until > valid_from),
    use_region    text NOT NULL,
    duty          text,
    -- Document digests: riskAssessment, securityAssessment, consentEvidence, impactAssessment, standardContract.
    records       jsonb NOT NULL,
    state         text NOT NULL CHECK (state IN ('requested', 'awaiting_holder', 'refused', 'agreed', 'terminated')),
    refusals      jsonb NOT NULL,
    reply_due_on  date,
    reply         text,
    replied_by    int8 REFERENCES party (id),
    replied_at    timestamptz,
    grant_id      int8,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX access_request_dataset ON access_request (dataset_id);
CREATE INDEX access_request_requester ON access_request (requester_id);
CREATE INDEX access_request_awaiting ON access_request (reply_due_on) WHERE state = 'awaiting_holder';

CREATE TABLE "grant" (
    id                        int8 PRIMARY KEY,
    number                    text NOT NULL UNIQUE,
    request_id                int8 NOT NULL REFERENCES access_request (id),
    dataset_id                int8 NOT NULL REFERENCES dataset (id),
    assignee_id               int8 NOT NULL REFERENCES party (id),
    grantor_id                int8 NOT NULL REFERENCES party (id),
    purpose                   text NOT NULL,
    action                    text NOT NULL CHECK (action IN ('use', 'derive', 'distribute')),
    token_quota               int8 NOT NULL CHECK (token_quota > 0),
    valid_from                timestamptz NOT NULL,
    valid_until               timestamptz NOT NULL CHECK (valid_until > valid_from),
    use_region                text NOT NULL,
    price_per_million_tokens  int8 NOT NULL CHECK (price_per_million_tokens >= 0),
    free                      bool NOT NULL,
    retention_days            int4,
    cross_border              bool NOT NULL,
    individuals_covered       int8 NOT NULL CHECK (individuals_covered >= 0),
    sensitive                 bool NOT NULL,
    state                     text NOT NULL CHECK (state IN ('agreed', 'active', 'suspended', 'revoked', 'expired', 'terminated')),
    state_reason              text,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    CHECK (NOT free OR price_per_million_tokens = 0)
);
CREATE INDEX grant_dataset ON "grant" (dataset_id);
CREATE INDEX grant_assignee ON "grant" (assignee_id);
ALTER TABLE access_request ADD FOREIGN KEY (grant_id) REFERENCES "grant" (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TRIGGER access_request_kept BEFORE DELETE ON access_request FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER grant_kept BEFORE DELETE ON "grant" FOR EACH ROW EXECUTE FUNCTION refuse_change();
