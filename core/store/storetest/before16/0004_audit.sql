-- The audit trail (connectors/audit): one row per event seen on the bus, with
-- where it was (topic, partition, offset) and when it happened and arrived.
-- Only envelope metadata: the event's data, and with it any personal data,
-- is never stored here. subject is the aggregate's ID (a reference, a
-- resident ID), never a name.
--
-- Idempotency: the consumer records the event in processed_events (consumer
-- "audit") in the same transaction; a redelivered event adds nothing. The
-- primary key is the second line of defence.
CREATE TABLE audit_events (
    event_id       text        PRIMARY KEY,
    type           text        NOT NULL,
    subject        text        NOT NULL,
    topic          text        NOT NULL,
    "partition"    int         NOT NULL,
    "offset"       bigint      NOT NULL,
    correlation_id text,
    event_time     timestamptz,            -- the envelope's time: when the change happened
    received_at    timestamptz NOT NULL DEFAULT now()  -- when the audit consumer handled it
);
CREATE INDEX audit_events_subject ON audit_events (subject, event_time);
CREATE INDEX audit_events_correlation ON audit_events (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX audit_events_received ON audit_events (received_at);
