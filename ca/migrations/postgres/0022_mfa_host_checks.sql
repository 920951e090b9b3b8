-- Review 7 item 1 (issues #13/#14): which host verified each MFA code.
-- POST /v1/host/mfa/verify records one row per accepted code: the device,
-- the TOTP step it accepted (a step is accepted once per device, hence the
-- key), the verifying host's id and the time of the check it answered.
-- A gateway's mfaAuthenticatedAt is honoured only if a row of the user's
-- device has that time and the claiming gateway as its host. Rows of a
-- device go when it is deactivated or deleted. No foreign keys: a device
-- deactivated while a check commits must not make its deletion fail.
-- Keep in step with ../sqlite/0022_mfa_host_checks.sql.
CREATE TABLE mfa_host_checks (
    device_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    host_id TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, step)
);
CREATE INDEX mfa_host_checks_at ON mfa_host_checks (device_id, checked_at);
