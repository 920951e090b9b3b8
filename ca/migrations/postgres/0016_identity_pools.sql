-- Issue #14 item 4: identity pools and guest credentials. Keep in step
-- with ../sqlite/0016_identity_pools.sql.
--
-- A pool names its roles by unique id (AROA…), so a role deleted and
-- re-created under the same name is not silently bound to the pool; a
-- pool whose role is gone issues nothing. session_policy is the fixed
-- policy every guest session of the pool is narrowed by.
CREATE TABLE identity_pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    allow_unauthenticated BIGINT NOT NULL,
    unauthenticated_role_id TEXT,
    authenticated_role_id TEXT,
    session_policy TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Identities handed out by GetId: a guest's (user_id NULL) or a signed-in
-- user's (one per user and pool). source_ip caps guest identities per
-- source address.
CREATE TABLE identity_pool_identities (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    source_ip TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX identity_pool_identities_user ON identity_pool_identities (pool_id, user_id);
CREATE INDEX identity_pool_identities_source ON identity_pool_identities (source_ip);
-- The role sessions issued through a pool: deleting the pool ends them,
-- and a guest session may not chain into another role.
CREATE TABLE identity_pool_sessions (
    access_key_id TEXT PRIMARY KEY REFERENCES sessions(access_key_id) ON DELETE CASCADE,
    pool_id TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL,
    guest BIGINT NOT NULL
);
CREATE INDEX identity_pool_sessions_pool ON identity_pool_sessions (pool_id);
