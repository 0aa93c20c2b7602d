-- Digital waiting room in front of the web booking flow (issue 9). Shared by
-- every hub replica, and deliberately WITHOUT a row per waiting visitor: a
-- waiting visitor is a signed arrival number in a cookie (drawn from one
-- sequence per room, created by the room at start-up), and the queue is the
-- one row below with its admitted-up-to counter. Rows exist only for
-- admitted booking sessions (bounded by the session limit and their lifetime)
-- and for the few admission steps of the last minutes.
CREATE TABLE waiting_room_state (
    room           text PRIMARY KEY CHECK (room ~ '^[a-z][a-z0-9_]{0,31}$'),
    paused         boolean NOT NULL DEFAULT false,
    -- Active booking sessions at most (web only: hotline callers never queue).
    session_limit  integer NOT NULL CHECK (session_limit >= 0),
    -- Operator's ceiling on admissions per second; 0 = the measured booking capacity alone.
    max_rate       double precision NOT NULL DEFAULT 0 CHECK (max_rate >= 0),
    -- Release round: tickets drawn before release_at are shuffled among
    -- themselves. pre_base/post_base are the two sequences' values and
    -- rank_base the queue rank when the round was announced; pre_total is
    -- the number of pre-release tickets, fixed shortly after release_at.
    release_at     timestamptz,
    pre_base       bigint NOT NULL DEFAULT 0,
    post_base      bigint NOT NULL DEFAULT 0,
    rank_base      bigint NOT NULL DEFAULT 0,
    pre_total      bigint,
    -- Every ticket with rank <= admitted_up_to has been called; a called
    -- ticket with rank <= expired_up_to can no longer be redeemed.
    admitted_up_to bigint NOT NULL DEFAULT 0,
    expired_up_to  bigint NOT NULL DEFAULT 0,
    -- Virtual time of the admission rate limiter (GCRA): admissions never run
    -- ahead of the booking capacity.
    rate_clock     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Each step of admitted_up_to (one row per step, not per visitor), kept for
-- the call grace period so that called-but-not-yet-arrived visitors are
-- counted against the session limit and late ones expire.
CREATE TABLE waiting_room_calls (
    room      text NOT NULL REFERENCES waiting_room_state(room) ON DELETE CASCADE,
    up_to     bigint NOT NULL,
    called_at timestamptz NOT NULL,
    PRIMARY KEY (room, up_to)
);

-- Admitted booking sessions. ticket_rank is unique per room: a ticket is
-- consumed by the admission it bought, so a replayed ticket admits nobody.
-- A row is kept until keep_until (the ticket's own expiry) and then pruned.
CREATE TABLE waiting_room_sessions (
    id          uuid PRIMARY KEY,
    room        text NOT NULL REFERENCES waiting_room_state(room) ON DELETE CASCADE,
    sid_hash    bytea NOT NULL,
    ticket_rank bigint,
    admitted_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    keep_until  timestamptz NOT NULL,
    UNIQUE (room, ticket_rank)
);
CREATE INDEX waiting_room_sessions_active ON waiting_room_sessions (room, expires_at) WHERE ended_at IS NULL;
CREATE INDEX waiting_room_sessions_keep ON waiting_room_sessions (keep_until);
