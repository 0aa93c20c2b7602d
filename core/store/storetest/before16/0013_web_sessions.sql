-- Signed-out portal sessions (connectors/web, issue 12). The portal's session
-- lives in a sealed cookie; sign-out puts the session's ID here so that a
-- copy of the cookie is refused on every replica. Each signed-in request does
-- one primary-key look-up. An entry is needed only until the session's
-- absolute expiry (its cookie is refused after that anyway); sign-out prunes
-- entries past keep_until.
-- This table belongs to connectors/web, which has no migrations of its own
-- yet; it lives here like waiting_room_* (0010).
CREATE TABLE web_session_revocations (
    id_hash    bytea PRIMARY KEY CHECK (length(id_hash) = 32), -- SHA-256 of the session ID, never the ID
    revoked_at timestamptz NOT NULL,
    keep_until timestamptz NOT NULL
);

CREATE INDEX web_session_revocations_keep_until ON web_session_revocations (keep_until);
