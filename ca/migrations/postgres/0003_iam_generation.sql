-- A counter bumped only by mutations that change identities, credentials
-- or policies (not by audit-only events or certificate issuance), so that
-- caches of keys and compiled policies survive unrelated writes.
ALTER TABLE audit_head ADD COLUMN iam_seq BIGINT NOT NULL DEFAULT 0;
