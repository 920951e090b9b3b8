-- Roles and role sessions (issue #14 items 1 and 2). Keep in step with
-- ../sqlite/0012_roles.sql. A role's inline policies and managed policy
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
-- role (AssumeRole): exactly one of user_id and role_id is set.
ALTER TABLE sessions ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE sessions ADD COLUMN role_id TEXT REFERENCES roles(id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN session_name TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN session_policy TEXT;
ALTER TABLE sessions ADD COLUMN session_tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN transitive_tag_keys TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN source_identity TEXT;
ALTER TABLE sessions ADD COLUMN chained BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD CONSTRAINT sessions_one_owner CHECK ((user_id IS NULL) <> (role_id IS NULL));
CREATE INDEX sessions_role ON sessions (role_id);
