-- Letters sent by post through the hybrid-mail service (connectors/print),
-- in the print connector's own migrations (namespace "print"; until issue 16
-- this was the core's 0007_letters.sql, hence IF NOT EXISTS: a database made
-- then has the table already). A row is one letter to send: the consumer
-- writes it, and a job of the job queue (connectors/jobs) that sends it, in
-- the same transaction as processed_events; the job renders it from the
-- core's data at send time and submits it with idempotency_key, so that a
-- retry never prints twice. No address or name is stored here: the letter
-- is built from the resident's record when it is sent.
CREATE TABLE IF NOT EXISTS letters (
    id                uuid        PRIMARY KEY,
    kind              text        NOT NULL,  -- confirmation, cancellation, changed, waitlist-offer, reminder
    reference         text        NOT NULL,
    resident_id       uuid        NOT NULL,
    idempotency_key   text        NOT NULL UNIQUE,
    trigger           text        NOT NULL,  -- the event type, or "staff"
    event_id          text,
    requested_by      text,
    details           jsonb       NOT NULL DEFAULT '{}',  -- kind specific: cancellation reason, the times before a move
    status            text        NOT NULL DEFAULT 'pending',
        -- pending, submitted, valid, processing, printing, sent, undeliverable, unprintable, failed, skipped
    pingen_letter_id  text        UNIQUE,
    pages             int,
    reason            text,                  -- why unprintable, undeliverable, failed or skipped
    contact_review    boolean     NOT NULL DEFAULT false,  -- staff should check the resident's contact data
    attempts          int         NOT NULL DEFAULT 0,      -- send attempts so far (the job's)
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    submitted_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS letters_in_post ON letters (updated_at) WHERE status IN ('submitted', 'valid', 'processing', 'printing');
CREATE INDEX IF NOT EXISTS letters_reference ON letters (reference);
CREATE INDEX IF NOT EXISTS letters_problems ON letters (updated_at) WHERE status IN ('unprintable', 'undeliverable', 'failed');
