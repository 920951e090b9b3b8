-- Registered hosts (issue #4: host certificates; the host agent enrols
-- them later).
CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL UNIQUE,
    aliases TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
