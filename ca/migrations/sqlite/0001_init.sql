-- ward-ca schema v1 (SQLite). Keep in step with ../postgres/0001_init.sql:
-- same tables and columns; only BLOB/BYTEA differ.
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE id_counters (name TEXT PRIMARY KEY, next_id BIGINT NOT NULL);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    uid BIGINT NOT NULL UNIQUE,
    boundary_policy_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE user_tags (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    key_lc TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (user_id, key_lc)
);
CREATE TABLE iam_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    gid BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES iam_groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    description TEXT NOT NULL,
    default_version BIGINT NOT NULL,
    next_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE policy_versions (
    policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, version)
);
CREATE TABLE attachments (
    policy_id TEXT NOT NULL REFERENCES policies(id),
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    PRIMARY KEY (principal_type, principal_id, policy_id)
);
CREATE INDEX attachments_policy ON attachments(policy_id);
CREATE TABLE inline_policies (
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (principal_type, principal_id, name_lc)
);

CREATE TABLE login_profiles (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    reset_required BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed BLOB NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    last_used_region TEXT,
    last_used_service TEXT
);
CREATE INDEX access_keys_user ON access_keys(user_id);
-- The account root's access keys (root is not a user row).
CREATE TABLE root_access_keys (
    id TEXT PRIMARY KEY,
    secret_sealed BLOB NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE ssh_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    UNIQUE (user_id, fingerprint)
);
CREATE TABLE sessions (
    access_key_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    secret_sealed BLOB NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE throttle (
    scope TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

CREATE TABLE audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    decision TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_principal ON audit_events(principal);
CREATE INDEX audit_events_at ON audit_events(at);
