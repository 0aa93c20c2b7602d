-- The attempt ledger (issue 12): failed identifications by booking
-- reference and date of birth (portal, API, hotline, check-in) counted per
-- key, so that guessing a date of birth locks the reference and the resident
-- on every channel at once. key is "reference:<reference>" or
-- "resident:<resident id>"; a key exists only while it has failures, a lock
-- or a remembered back-off level (a success deletes it). Rows for references
-- nobody holds are kept too: an unknown reference must lock like a real one,
-- or the lock would tell which references exist.
--
-- failures holds the times of the failures not yet forgiven (at most the
-- long window's limit); locked_until is the end of the current or last lock;
-- lockouts is the back-off level (how many locks in a row).
CREATE TABLE attempt_ledger (
    key          text PRIMARY KEY CHECK (key ~ '^(reference|resident):[0-9a-zA-Z-]{1,64}$'),
    failures     timestamptz[] NOT NULL DEFAULT '{}',
    locked_until timestamptz,
    lockouts     int NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Every failed identification, every lock, every attempt refused while
-- locked and every staff check-in of a locked resident. Never the date of
-- birth that was typed. Never deleted.
CREATE TABLE attempt_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference      text,
    resident_id    text,
    channel        text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('failure', 'locked', 'refused', 'override')),
    failures       int NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    correlation_id text,
    at             timestamptz NOT NULL
);
CREATE INDEX attempt_log_reference ON attempt_log (reference, id) WHERE reference IS NOT NULL;
CREATE INDEX attempt_log_resident ON attempt_log (resident_id, id) WHERE resident_id IS NOT NULL;
