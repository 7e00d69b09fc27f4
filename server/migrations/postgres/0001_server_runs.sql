-- Each start of a thor server. Its id is the hub's epoch: sequence numbers restart with a new run,
-- and pages tell runs apart by it.
CREATE TABLE server_runs (
    id          BIGSERIAL PRIMARY KEY,
    started_at  BIGINT NOT NULL,           -- ms since the Unix epoch
    version     TEXT   NOT NULL,
    site_addr   TEXT   NOT NULL
);
