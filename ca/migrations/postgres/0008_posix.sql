-- POSIX identities (issue #11): a user-private group per user (gid = uid),
-- home, shell and gecos (NULL home/shell mean the configured defaults), a
-- disabled flag (NULL = enabled), and ONE counter for uids and gids so a
-- uid and a gid never name two different entities.
ALTER TABLE users ADD COLUMN gid BIGINT;
ALTER TABLE users ADD COLUMN home TEXT;
ALTER TABLE users ADD COLUMN shell TEXT;
ALTER TABLE users ADD COLUMN gecos TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
UPDATE users SET gid = uid;

-- Groups whose gid equals some user's uid (both counters started at the
-- same value) move above every id in use; no host has seen these gids yet
-- (there was no host agent before this migration). New gids stay distinct:
-- M + 1 + (gid - U) with M the largest id in use and U the smallest uid
-- (a moved gid equals some uid, so gid - U >= 0 whatever uid_min was).
UPDATE iam_groups SET gid = (
    SELECT MAX(m) FROM (
        SELECT COALESCE(MAX(uid), 0) AS m FROM users
        UNION ALL SELECT COALESCE(MAX(g2.gid), 0) FROM iam_groups g2
        UNION ALL SELECT COALESCE(MAX(next_id), 0) FROM id_counters
    ) AS t
) + 1 + (gid - (SELECT MIN(u2.uid) FROM users u2))
WHERE gid IN (SELECT uid FROM users);

-- The shared counter holds the last id handed out ('uid'/'gid' held the
-- next one, so counting them in only skips ids); on a fresh database init
-- creates it.
INSERT INTO id_counters (name, next_id)
SELECT 'unix_id', s.x FROM (
    SELECT MAX(m) AS x FROM (
        SELECT COALESCE(MAX(uid), 0) AS m FROM users
        UNION ALL SELECT COALESCE(MAX(gid), 0) FROM iam_groups
        UNION ALL SELECT COALESCE(MAX(next_id), 0) FROM id_counters
    ) AS t
) AS s
WHERE EXISTS (SELECT 1 FROM id_counters WHERE name = 'uid');
