-- Issue #13: gateway sessions an administrator asked to end (`ward session
-- terminate ID`). Keep in step with the other backend's
-- 0014_gateway_terminations.sql.
--
-- Rows are kept 24 hours and carried in every gateway's snapshot, so the
-- gateway holding the session learns it through its long-poll. `host_id`
-- is the gateway that reported the session (from its audit events).
CREATE TABLE gateway_terminations (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    at BIGINT NOT NULL
);
