-- Tags on managed policies (AWS's TagPolicy, UntagPolicy, ListPolicyTags;
-- issue #16), kept like user_tags and role_tags: one row per key, keys
-- unique case-insensitively.
CREATE TABLE policy_tags (
    policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    key_lc TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (policy_id, key_lc)
);
