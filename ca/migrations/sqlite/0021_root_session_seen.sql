-- Issue #15: root sees its open dashboard sessions (when each was last
-- used, and from which browser) and can end the others. last_seen is
-- kept to the minute by authentication; user_agent is the sign-in's
-- User-Agent header, cut to 256 characters.
-- Keep in step with ../postgres/0021_root_session_seen.sql.
ALTER TABLE root_sessions ADD COLUMN last_seen BIGINT;
ALTER TABLE root_sessions ADD COLUMN user_agent TEXT;
