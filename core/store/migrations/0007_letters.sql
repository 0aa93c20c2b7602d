-- Letters sent by post through the hybrid-mail service (connectors/print).
-- A row is the durable intent to send one letter: the consumer writes it in
-- the same transaction as processed_events, a dispatcher renders it from the
-- core's data at send time and submits it with idempotency_key, so that a
-- retry never prints twice. No address or name is stored here: the letter
-- is built from the resident's record when it is sent.
CREATE TABLE letters (
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
    attempts          int         NOT NULL DEFAULT 0,
    last_error        text,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    submitted_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX letters_pending ON letters (next_attempt_at) WHERE status = 'pending';
CREATE INDEX letters_in_post ON letters (updated_at) WHERE status IN ('submitted', 'valid', 'processing', 'printing');
CREATE INDEX letters_reference ON letters (reference);
CREATE INDEX letters_problems ON letters (updated_at) WHERE status IN ('unprintable', 'undeliverable', 'failed');
