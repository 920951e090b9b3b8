-- Issue #15: the account root signs in to the dashboard with a password
-- set on the server machine (`ward-ca root-password`), and the sessions
-- that password opens. Root is not a user row, so neither fits
-- login_profiles or sessions (whose rows belong to a user or a role).
-- Keep in step with ../postgres/0019_root_password.sql.
CREATE TABLE root_login_profile (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE root_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    source_ip TEXT NOT NULL
);
