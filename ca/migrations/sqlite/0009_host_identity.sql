-- Host enrolment and identity (issue #11). Keep in step with the other
-- backend's 0009_host_identity.sql.
--
-- One-time join tokens: only the SHA-256 of the token is stored; a token
-- is consumed (used_at set) in the transaction that enrols the host.
CREATE TABLE host_join_tokens (
    token_hash TEXT PRIMARY KEY,
    host_name TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_by TEXT NOT NULL
);
CREATE INDEX host_join_tokens_host ON host_join_tokens(host_name);

-- What an enrolled host holds and when it was last seen. last_seen,
-- agent_version and generation_held are written outside the audited
-- mutation path and never move the snapshot generation.
CREATE TABLE host_identity (
    host_id TEXT PRIMARY KEY,
    x509_serial TEXT NOT NULL,
    ssh_serial TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    last_seen BIGINT,
    agent_version TEXT,
    generation_held BIGINT
);

-- Audit events delivered by hosts: each (host, event id) is recorded once.
CREATE TABLE host_audit_ids (
    host_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, event_id)
);
