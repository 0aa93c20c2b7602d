-- The core vaccination domain.

CREATE TABLE products (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    eu_number      text NOT NULL,
    platform       text NOT NULL,
    doses_per_vial int  NOT NULL
);

CREATE TABLE centres (
    id          text PRIMARY KEY,
    district_ags text NOT NULL,
    definition  jsonb NOT NULL          -- the domain.Centre as loaded from the campaign
);

CREATE TABLE proxies (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    phone      text,
    email      text,
    token_hash bytea NOT NULL
);

-- Health data (indications, intolerances) is encrypted (AES-256-GCM, key from
-- configuration): a dump alone does not reveal it.
CREATE TABLE residents (
    id               uuid PRIMARY KEY,
    given_names      text NOT NULL,
    family_name      text NOT NULL,
    birth_date       date NOT NULL,
    sex              text NOT NULL,
    street           text NOT NULL,
    postal_code      text NOT NULL,
    city             text NOT NULL,
    municipality_key text NOT NULL,
    phone            text,
    email            text,
    health_sealed    bytea NOT NULL,
    proxy_id         uuid REFERENCES proxies(id),
    channel          text NOT NULL,
    registered_at    timestamptz NOT NULL,
    token_hash       bytea NOT NULL
);
CREATE INDEX residents_proxy ON residents (proxy_id) WHERE proxy_id IS NOT NULL;

CREATE TABLE rulesets (
    version        text PRIMARY KEY,
    effective_from timestamptz NOT NULL,
    published_at   timestamptz NOT NULL DEFAULT now(),
    definition     jsonb NOT NULL
);
CREATE INDEX rulesets_effective ON rulesets (effective_from DESC, published_at DESC);

-- A slot never has more bookings than places: the CHECK holds under any
-- concurrency because every booking increments "booked" with a row lock.
CREATE TABLE slots (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre_id text NOT NULL REFERENCES centres(id),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    day       date NOT NULL,
    places    int NOT NULL CHECK (places >= 0),
    booked    int NOT NULL DEFAULT 0,
    CHECK (booked >= 0 AND booked <= places),
    UNIQUE (centre_id, starts_at)
);
CREATE INDEX slots_free ON slots (centre_id, starts_at) WHERE booked < places;

-- Stock: deliveries (received or announced) per centre and product. A dose
-- reserved for day D is taken from a delivery that arrives on or before D and
-- does not expire before D, so no day ever has more reserved doses than
-- stock; the CHECK holds under any concurrency.
CREATE TABLE deliveries (
    id           text PRIMARY KEY,
    centre_id    text NOT NULL REFERENCES centres(id),
    product      text NOT NULL REFERENCES products(id),
    arrives_on   date NOT NULL,
    expires_on   date,
    batch        text,
    announced    boolean NOT NULL DEFAULT false,
    doses        int NOT NULL CHECK (doses > 0),
    reserved     int NOT NULL DEFAULT 0,
    administered int NOT NULL DEFAULT 0,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (reserved >= 0 AND reserved <= doses AND administered <= reserved)
);
CREATE INDEX deliveries_pick ON deliveries (centre_id, product, arrives_on);

-- A resident never holds two open series: the partial unique index.
CREATE TABLE appointments (
    reference      text PRIMARY KEY,
    resident_id    uuid NOT NULL REFERENCES residents(id),
    centre_id      text NOT NULL REFERENCES centres(id),
    product        text NOT NULL REFERENCES products(id),
    priority_group int NOT NULL,
    status         text NOT NULL,
    booked_at      timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX appointments_one_open ON appointments (resident_id) WHERE status = 'booked';
CREATE INDEX appointments_resident ON appointments (resident_id);

CREATE TABLE doses (
    reference       text NOT NULL REFERENCES appointments(reference),
    dose_number     int  NOT NULL,
    product         text NOT NULL,
    slot_id         bigint NOT NULL REFERENCES slots(id),
    delivery_id     text REFERENCES deliveries(id),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    status          text NOT NULL,
    batch           text,
    vaccinator_id   text,
    checked_in_at   timestamptz,
    administered_at timestamptz,
    PRIMARY KEY (reference, dose_number)
);
CREATE INDEX doses_open_by_time ON doses (starts_at) WHERE status IN ('booked', 'checked-in');
CREATE INDEX doses_slot ON doses (slot_id);

CREATE TABLE waitlist (
    id             uuid PRIMARY KEY,
    resident_id    uuid NOT NULL REFERENCES residents(id),
    centre_id      text REFERENCES centres(id),
    district_ags   text,
    product        text,
    priority_group int NOT NULL,
    joined_at      timestamptz NOT NULL,
    status         text NOT NULL,           -- waiting, served, withdrawn
    reference      text,
    CHECK ((centre_id IS NULL) <> (district_ags IS NULL))
);
CREATE UNIQUE INDEX waitlist_one_waiting ON waitlist (resident_id) WHERE status = 'waiting';
CREATE INDEX waitlist_order ON waitlist (priority_group, joined_at) WHERE status = 'waiting';
