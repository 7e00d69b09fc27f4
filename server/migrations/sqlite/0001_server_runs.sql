-- Each start of a thor server. Its id is the hub's epoch: sequence numbers restart with a new run,
-- and pages tell runs apart by it.
CREATE TABLE server_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  INTEGER NOT NULL,          -- ms since the Unix epoch
    version     TEXT    NOT NULL,
    site_addr   TEXT    NOT NULL
);
