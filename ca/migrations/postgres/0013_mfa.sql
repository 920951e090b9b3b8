-- Issue #14 item 3: virtual TOTP MFA devices. Keep in step with the other
-- backend's 0013_mfa.sql.
--
-- A device is created unassigned (user_id NULL) with its RFC 6238 seed
-- sealed under the master key (associated data: the device id), then
-- enabled for one user with two consecutive codes. last_step is the last
-- TOTP time step accepted (a code is accepted once: only later steps
-- pass); drift is the step offset ResyncMFADevice measured.
CREATE TABLE mfa_devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    seed_sealed BYTEA NOT NULL,
    user_id TEXT REFERENCES users(id),
    enabled_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0,
    drift BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mfa_devices_user ON mfa_devices (user_id);
-- When the session's second factor was verified (NULL: none was).
ALTER TABLE sessions ADD COLUMN mfa_authenticated_at BIGINT;
