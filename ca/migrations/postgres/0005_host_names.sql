-- Issue #7: every name a host certificate carries (the host's name and its
-- aliases, lower-cased) belongs to exactly one registered host, enforced by
-- the primary key; and host certificates remember their certified key so
-- that `@revoked` known_hosts lines can name it. Keep in step with
-- ../sqlite/0005_host_names.sql.
CREATE TABLE host_names (
    name_lc TEXT PRIMARY KEY,
    host_id TEXT NOT NULL
);
CREATE INDEX host_names_host ON host_names(host_id);
INSERT INTO host_names (name_lc, host_id)
    SELECT name_lc, id FROM hosts ON CONFLICT DO NOTHING;
INSERT INTO host_names (name_lc, host_id)
    SELECT lower(j.value), h.id FROM hosts h, json_array_elements_text(h.aliases::json) AS j(value)
    ON CONFLICT DO NOTHING;
ALTER TABLE certificates ADD COLUMN public_key TEXT;
CREATE INDEX certificates_subject ON certificates(subject);
