-- Issue #14: tags on identity pools (TagResource / UntagResource /
-- ListTagsForResource, as Cognito's). Keep in step with
-- ../postgres/0018_identity_pool_tags.sql. Keys are unique per pool
-- case-insensitively (key_lc), as user and role tags.
CREATE TABLE identity_pool_tags (
    pool_id TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    key_lc TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (pool_id, key_lc)
);
