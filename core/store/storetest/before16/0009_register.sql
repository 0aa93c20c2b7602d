-- Population register verification (issue 5). A resident without a row is
-- unverified. Data minimisation: the register's ID of the matched person,
-- the match score and the outcome are kept, never the register's record.
CREATE TABLE resident_verifications (
    resident_id  uuid PRIMARY KEY REFERENCES residents(id),
    status       text NOT NULL CHECK (status IN ('unverified', 'verified', 'rejected', 'needs-review')),
    reason       text,
    register_id  text,
    score        double precision,
    flags        text[] NOT NULL DEFAULT '{}',
    duplicate_of uuid REFERENCES residents(id),
    decided_by   text,
    decided_at   timestamptz,
    note         text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- One register person holds at most one verified registration: a second
-- verdict for the same person is refused (rejected, duplicate) and flagged.
CREATE UNIQUE INDEX resident_verifications_one_per_person
    ON resident_verifications (register_id) WHERE status = 'verified';
CREATE INDEX resident_verifications_open ON resident_verifications (status, decided_at)
    WHERE status IN ('needs-review', 'rejected');

-- Every change of a verification: who (the register connector or a staff
-- member), when, what and the staff member's note. Never deleted.
CREATE TABLE resident_verification_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id uuid NOT NULL REFERENCES residents(id),
    status      text NOT NULL,
    reason      text,
    register_id text,
    score       double precision,
    flags       text[] NOT NULL DEFAULT '{}',
    decided_by  text NOT NULL,
    note        text,
    at          timestamptz NOT NULL
);
CREATE INDEX resident_verification_log_resident ON resident_verification_log (resident_id, id);

-- The burst check counts recent registrations by phone number and e-mail.
CREATE INDEX residents_phone_recent ON residents (phone, registered_at) WHERE phone IS NOT NULL;
CREATE INDEX residents_email_recent ON residents (email, registered_at) WHERE email IS NOT NULL;
