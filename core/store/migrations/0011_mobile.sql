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

-- The field planner connector's own tables (servicenow_records,
-- servicenow_cursor, servicenow_seen) were created here until issue 16; they
-- are now in connectors/servicenow/migrations (namespace "servicenow").
