-- Certificate authorities and issued certificates (issue #4). Keep in step
-- with ../postgres/0002_ca.sql (only BLOB/BYTEA differ).
CREATE TABLE ca_keys (
    id TEXT PRIMARY KEY,
    authority TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public_text TEXT NOT NULL,
    sealed_private BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX ca_keys_authority ON ca_keys(authority);
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT,
    subject TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    ca_key_id TEXT NOT NULL,
    principals TEXT NOT NULL,
    valid_after BIGINT NOT NULL,
    valid_before BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason TEXT
);
CREATE INDEX certificates_user ON certificates(user_id);
CREATE INDEX certificates_kind ON certificates(kind, revoked_at);
