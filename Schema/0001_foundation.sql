-- 0001: foundation.
-- Deployment settings that operators change at run time (the objection policy, the holiday calendar,
-- fee ceilings …) live here as JSON values, one row per setting, so that every node reads the same.
-- Migrations are forward-only: never edit this file once applied; add 0002_… instead.

CREATE TABLE deployment_setting (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.]{0,62}$'),
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL
);

COMMENT ON TABLE deployment_setting IS 'Run-time deployment settings, one JSON value per key.';
