-- The field planner connector's own tables (connectors/servicenow), in its
-- own migrations (namespace "servicenow"; until issue 16 they were in the
-- core's 0011_mobile.sql, hence IF NOT EXISTS: a database made then has them
-- already). The mobile campaign tables stay in the core: core/store writes
-- and reports them, the connector reaches them through core/app.
--
-- servicenow_records: which planner record (sys_id) a hub object became, by
-- the hub key that is also written into the record, so that a create is
-- never repeated; synced_version is the campaign version last written.
CREATE TABLE IF NOT EXISTS servicenow_records (
    tbl            text NOT NULL,
    hub_key        text NOT NULL,
    sys_id         text NOT NULL,
    number         text,
    campaign_id    uuid,
    synced_version int NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, hub_key)
);
CREATE UNIQUE INDEX IF NOT EXISTS servicenow_records_sys_id ON servicenow_records (tbl, sys_id);

-- servicenow_cursor: the poller's position per table (sys_updated_on of the
-- newest record seen); it reads from a little before it.
CREATE TABLE IF NOT EXISTS servicenow_cursor (
    name       text PRIMARY KEY,
    updated_on timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- servicenow_seen: record versions already applied (sys_id + sys_mod_count),
-- so that the overlap of the cursor changes nothing.
CREATE TABLE IF NOT EXISTS servicenow_seen (
    tbl       text NOT NULL,
    sys_id    text NOT NULL,
    mod_count int NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, sys_id, mod_count)
);
