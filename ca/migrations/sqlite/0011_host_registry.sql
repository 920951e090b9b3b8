-- Issue #13: host kinds and the host registry a gateway routes by. Keep in
-- step with the other backend's 0011_host_registry.sql.
--
-- A join token says what it enrols (a host or a gateway); the enrolled
-- identity keeps it. Gateways receive the host registry in their snapshot.
ALTER TABLE host_join_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'host';
ALTER TABLE host_identity ADD COLUMN kind TEXT NOT NULL DEFAULT 'host';
-- Where a gateway connects to reach the host (`HOST` or `HOST:PORT`), set
-- by an administrator; NULL: not reachable through a gateway.
ALTER TABLE hosts ADD COLUMN address TEXT;
