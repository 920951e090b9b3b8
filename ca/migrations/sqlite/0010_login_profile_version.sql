-- Login profile versions (issue #12). Keep in step with the other
-- backend's 0010_login_profile_version.sql.
--
-- A host keeps an offline verifier of a user's password and drops it when
-- this number moves. Every create, update, reset and change sets it to the
-- audit sequence number of the mutation that made it, so it only grows,
-- also across a delete and re-create of the profile (a deleted profile's
-- number is never reused). Existing rows start at 1.
ALTER TABLE login_profiles ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
