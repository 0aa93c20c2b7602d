-- The SAP stock connector (connectors/sap) and stock withdrawals.
--
-- sap_cursor: where the inbound poller of material documents stands, per
-- SAP system and client: the last material document (year, number) whose
-- items have all been applied. Items are applied idempotently (deliveries and
-- withdrawals keyed by year/document/item), so re-reading after a crash is
-- harmless.
CREATE TABLE sap_cursor (
    name          text PRIMARY KEY,
    document_year text NOT NULL,
    document      text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- sap_goods_issues: one row per hub event (appointment.dose-administered)
-- that became, or is becoming, a 201 goods issue. The row is written with
-- state 'posting' before the POST, so that any later attempt knows a POST may
-- have reached SAP and looks the document up by its header text first.
CREATE TABLE sap_goods_issues (
    event_id      text PRIMARY KEY,
    header_text   text NOT NULL UNIQUE,
    reference     text NOT NULL,
    centre_id     text NOT NULL,
    product       text NOT NULL,
    batch         text NOT NULL,
    day           date NOT NULL,
    state         text NOT NULL CHECK (state IN ('posting', 'posted')),
    document_year text,
    document      text,
    attempts      int NOT NULL DEFAULT 0,
    last_post_at  timestamptz,            -- when the last POST was sent
    created_at    timestamptz NOT NULL DEFAULT now(),
    posted_at     timestamptz
);

-- stock_withdrawals: doses that left a centre's stock other than by a dose
-- given in the hub (scrapping, a goods issue booked elsewhere, a transfer to
-- a mobile team). Keyed by the source's ID, so applying twice changes
-- nothing. applied may be below doses when booked appointments still hold
-- the doses: the difference shows in reconciliation.
CREATE TABLE stock_withdrawals (
    id          text PRIMARY KEY,
    centre_id   text NOT NULL REFERENCES centres(id),
    product     text NOT NULL REFERENCES products(id),
    batch       text NOT NULL,
    day         date NOT NULL,
    doses       int NOT NULL CHECK (doses > 0),
    applied     int NOT NULL CHECK (applied >= 0 AND applied <= doses),
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_withdrawals_batch ON stock_withdrawals (centre_id, product, batch);
CREATE INDEX deliveries_batch ON deliveries (centre_id, product, batch) WHERE batch IS NOT NULL;

-- A delivery whose every dose was withdrawn keeps its row with 0 doses (its
-- batch and expiry stay known); reserved <= doses still holds.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_doses_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_doses_check CHECK (doses >= 0);
