-- Roles and role sessions (issue #14 items 1 and 2). Keep in step with
-- ../postgres/0012_roles.sql. A role's inline policies and managed policy
-- attachments live in `inline_policies` and `attachments` with
-- principal_type = 'role', like those of users and groups. The trust
-- policy is stored with user and role principals rewritten to their unique
-- ids (AIDA…/AROA…), so a deleted and re-created principal is not trusted.
CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    description TEXT NOT NULL,
    trust_policy TEXT NOT NULL,
    max_session_duration BIGINT NOT NULL,
    boundary_policy_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE role_tags (
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    key_lc TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (role_id, key_lc)
);
-- Sessions belong to a user (password login, GetSessionToken) or to a
-- role (AssumeRole): exactly one of user_id and role_id is set. SQLite
-- cannot drop NOT NULL in place, so the table is rebuilt.
CREATE TABLE sessions_new (
    access_key_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    secret_sealed BLOB NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    auth_method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    source_ip TEXT NOT NULL DEFAULT '',
    password_change_only BIGINT NOT NULL DEFAULT 0,
    role_id TEXT REFERENCES roles(id) ON DELETE CASCADE,
    session_name TEXT NOT NULL DEFAULT '',
    session_policy TEXT,
    session_tags TEXT NOT NULL DEFAULT '[]',
    transitive_tag_keys TEXT NOT NULL DEFAULT '[]',
    source_identity TEXT,
    chained BIGINT NOT NULL DEFAULT 0,
    CHECK ((user_id IS NULL) <> (role_id IS NULL))
);
INSERT INTO sessions_new (access_key_id, token_hash, secret_sealed, user_id, auth_method, created_at, expires_at, source_ip, password_change_only)
    SELECT access_key_id, token_hash, secret_sealed, user_id, auth_method, created_at, expires_at, source_ip, password_change_only FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_role ON sessions (role_id);
