-- The durable job queue (connectors/jobs) shared by outbound connectors: one
-- row per job, unique per (kind, key) so that enqueueing twice yields one job.
-- A worker leases a due row by moving run_at to the end of its lease and
-- setting lease to its token; a worker that dies leaves the row to be taken
-- again when run_at passes. No personal data: payloads carry IDs.
CREATE TABLE jobs (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL,
    key         text        NOT NULL,
    payload     jsonb       NOT NULL DEFAULT '{}',
    status      text        NOT NULL DEFAULT 'pending',  -- pending, done, dead
    run_at      timestamptz NOT NULL,  -- due at; while leased, when the lease runs out
    attempts    int         NOT NULL DEFAULT 0,
    lease       uuid,                  -- the token of the worker holding it
    last_error  text,                  -- the last failure; for a dead job, why it died
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (kind, key)
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_dead ON jobs (updated_at) WHERE status = 'dead';
