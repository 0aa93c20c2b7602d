-- Mobile teams for care homes (issue 7): campaigns planned in the hub and in
-- the field planner (connectors/servicenow), doses issued to teams, doses
-- given in the field, and what came back.

-- mobile_campaigns: one team's visit to one care home on one day. roster and
-- doses are the domain's JSON; version grows with every change.
CREATE TABLE mobile_campaigns (
    id              uuid PRIMARY KEY,
    care_home       text NOT NULL,
    day             date NOT NULL,
    team            text NOT NULL,
    centre_id       text NOT NULL REFERENCES centres(id),
    planned_start   timestamptz NOT NULL,
    roster          jsonb NOT NULL,
    doses           jsonb NOT NULL,
    version         int NOT NULL,
    planner_status  text NOT NULL DEFAULT 'planned',
    planner_team    text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX mobile_campaigns_team_day ON mobile_campaigns (team, day);

-- mobile_issues: doses of a batch issued to a team (the 311 transfer from
-- the central store to the team's storage location, as confirmed). Keyed by
-- the source's ID: recording twice changes nothing.
CREATE TABLE mobile_issues (
    id          text PRIMARY KEY,
    team        text NOT NULL,
    day         date NOT NULL,
    product     text NOT NULL REFERENCES products(id),
    batch       text NOT NULL,
    doses       int NOT NULL CHECK (doses > 0),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mobile_issues_team_batch ON mobile_issues (team, batch);
CREATE INDEX mobile_issues_batch ON mobile_issues (batch);

-- mobile_returns: doses a team brought back or wasted (open vials), per day.
CREATE TABLE mobile_returns (
    id          text PRIMARY KEY,
    team        text NOT NULL,
    day         date NOT NULL,
    product     text NOT NULL REFERENCES products(id),
    batch       text NOT NULL,
    returned    int NOT NULL CHECK (returned >= 0),
    wasted      int NOT NULL CHECK (wasted >= 0),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- mobile_doses: every dose reported from the field, keyed by the field
-- record's ID (exactly once). status accepted: counted and announced
-- (appointment.dose-administered with reference); held: waiting for staff,
-- with the reason; rejected: staff decided it was not given.
CREATE TABLE mobile_doses (
    record_id       text PRIMARY KEY,
    campaign_id     uuid REFERENCES mobile_campaigns(id),
    team            text NOT NULL,
    resident_id     text NOT NULL,
    product         text NOT NULL,
    batch           text NOT NULL,
    dose_number     int NOT NULL,
    vaccinator_id   text NOT NULL,
    administered_at timestamptz NOT NULL,
    centre_id       text,
    status          text NOT NULL CHECK (status IN ('accepted', 'held', 'rejected')),
    reason          text,
    detail          text,
    reference       text UNIQUE,
    event_id        text,
    recorded_at     timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text
);
CREATE INDEX mobile_doses_resident ON mobile_doses (resident_id, administered_at) WHERE status = 'accepted';
CREATE INDEX mobile_doses_held ON mobile_doses (recorded_at) WHERE status = 'held';
CREATE INDEX mobile_doses_team_day ON mobile_doses (team, administered_at);

-- mobile_dose_edits: a later change of a field record already recorded (an
-- offline edit that arrived after the dose was counted). Never applied by
-- itself: held for review with what changed.
CREATE TABLE mobile_dose_edits (
    record_id   text NOT NULL,
    revision    int NOT NULL,
    changes     jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'resolved')),
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (record_id, revision)
);

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
