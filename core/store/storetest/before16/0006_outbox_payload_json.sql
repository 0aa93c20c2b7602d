-- The relay reads payloads back as text for every published row. jsonb must
-- be rendered again on every read; json keeps the text the use case wrote,
-- so reading is a copy and the published bytes are exactly the written ones.
ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json;
