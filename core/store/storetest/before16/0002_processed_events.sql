-- Consumer idempotency: a consumer records the event ID in the same
-- transaction as the event's effect (store.MarkProcessed); a redelivered event
-- finds its row and changes nothing. event_id is text so that IDs from outside
-- systems fit as well as our UUIDv7s. Old rows may be pruned by processed_at
-- once redelivery is impossible (longer than topic retention).
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

-- Wake the outbox relay when rows commit (NOTIFY is delivered at commit, once
-- per transaction for identical payloads), so it need not wait for its poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
