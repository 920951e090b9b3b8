-- Issue #15: session recordings (asciicast v2) uploaded by the gateway
-- that recorded them, so the dashboard and `ward recording get` can
-- replay them. The bytes live in the database, not in a file under the
-- data directory: several ward-ca replicas may share one PostgreSQL, and
-- each must serve every recording; backups and the store's own
-- durability cover them too. A recording is capped (MAX_RECORDING_BYTES,
-- about 64 MiB), written once and never changed: `host_id` is the
-- gateway that uploaded it, the only one that may upload that id again
-- (the same bytes only).
-- Keep in step with ../postgres/0020_recordings.sql (only BLOB/BYTEA differ).
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    host_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX recordings_created ON recordings (created_at);
