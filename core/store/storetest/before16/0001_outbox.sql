-- The transactional outbox: use cases insert their domain events here in the
-- same transaction as the state change; the relay (connectors/bus) publishes
-- them to Kafka and marks them sent.
--
-- Ordering: every use case locks the aggregate named by "key" before it
-- inserts its outbox row, so for one key the id order is the commit order.
-- The relay selects unsent rows (never "rows above a high-water mark"), so a
-- row whose transaction commits late is still picked up: nothing is skipped.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    shard       int         NOT NULL GENERATED ALWAYS AS ((hashtext(key) & 2147483647) % 16) STORED, -- a relay leases shards
    event_type  text        NOT NULL,
    payload     jsonb       NOT NULL,           -- the whole envelope
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (shard, id) WHERE sent_at IS NULL;
