-- Keyed audit chain and signed checkpoints (issue #7, item 12). Keep in
-- step with ../sqlite/0005_audit_keyed.sql (only BLOB/BYTEA differ).
--
-- chain_version: 1 = the old plain SHA-256 chain, 2 = HMAC-SHA256 under a
-- key derived from the master key. Events written before this migration
-- keep version 1 and are never re-chained: at its next start ward-ca
-- appends one keyed cut-over event (ward:AuditChainKeyed) whose MAC binds
-- the legacy head, and from then on every event is keyed.
ALTER TABLE audit_events ADD COLUMN chain_version BIGINT NOT NULL DEFAULT 1;
-- Set only when there are legacy events to cut over from; consumed (in
-- the same transaction as the cut-over event) by the next start.
INSERT INTO meta (name, value) SELECT 'audit_cutover_pending', 'yes' FROM audit_head WHERE id = 1 AND seq > 0;
-- Ed25519 keys that sign checkpoints of the audit head, sealed under the
-- master key like the CA keys (associated data: the id).
CREATE TABLE audit_signing_keys (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
