-- The SAP stock connector (connectors/sap): its tables as the core's 0008_sap.sql
-- made them at commit 7076939 (the file's stock_withdrawals is unchanged today).
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
