-- Stock withdrawals (written by the SAP stock connector through core/app,
-- read by reconciliation and reports). The connector's own tables
-- (sap_cursor, sap_goods_issues) were created here until issue 16; they are
-- now in connectors/sap/migrations (namespace "sap"). The file keeps its
-- name: databases that applied it know it by that name.

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
