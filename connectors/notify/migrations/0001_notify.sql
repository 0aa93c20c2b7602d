-- connectors/notify: one row per message sent (or refused) by SMS or e-mail,
-- keyed by its idempotency key (<trigger>:<channel>), so that a job run
-- twice sends once. No personal data: IDs, the provider's message ID and the
-- delivery status only; phone numbers and addresses are read from the core
-- at send time.
CREATE TABLE notify_messages (
    key            text        PRIMARY KEY,
    channel        text        NOT NULL CHECK (channel IN ('sms', 'email')),
    kind           text        NOT NULL,  -- confirmation, moved, cancelled, reminder
    reference      text        NOT NULL,
    resident_id    uuid        NOT NULL,
    provider_id    text,                  -- the gateway's message SID, or the e-mail's Message-ID
    status         text        NOT NULL,  -- sent, queued, delivered, failed, undelivered, refused
    error_code     text,
    -- staff should check the resident's contact details: the gateway or the
    -- mail server refused them, or the message was not delivered
    contact_review boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_messages_provider ON notify_messages (provider_id);
CREATE INDEX notify_messages_review ON notify_messages (updated_at) WHERE contact_review;
