-- Sessions (issue #7 item 8): where each was opened from, for listing,
-- and whether it was opened with a password that must be changed (such a
-- session may only change it).
ALTER TABLE sessions ADD COLUMN source_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN password_change_only BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_user ON sessions (user_id);
