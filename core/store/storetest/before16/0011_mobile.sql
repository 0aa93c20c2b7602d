-- The servicenow tables as the core's 0011_mobile.sql made them at commit
-- 7076939 (the rest of that file is unchanged today).
-- The connector to the field planner (connectors/servicenow).
--
-- servicenow_records: which planner record (sys_id) a hub object became, by
-- the hub key that is also written into the record, so that a create is
-- never repeated; synced_version is the campaign version last written.
CREATE TABLE servicenow_records (
    tbl            text NOT NULL,
    hub_key        text NOT NULL,
    sys_id         text NOT NULL,
    number         text,
    campaign_id    uuid,
    synced_version int NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, hub_key)
);
CREATE UNIQUE INDEX servicenow_records_sys_id ON servicenow_records (tbl, sys_id);

-- servicenow_cursor: the poller's position per table (sys_updated_on of the
-- newest record seen); it reads from a little before it.
CREATE TABLE servicenow_cursor (
    name       text PRIMARY KEY,
    updated_on timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- servicenow_seen: record versions already applied (sys_id + sys_mod_count),
-- so that the overlap of the cursor changes nothing.
CREATE TABLE servicenow_seen (
    tbl       text NOT NULL,
    sys_id    text NOT NULL,
    mod_count int NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, sys_id, mod_count)
);
