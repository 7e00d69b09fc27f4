-- Every running instance writes a row about itself every couple of seconds: what it counts on
-- its own (REST requests per feature, flag propagation lags) and what it is (address, lease
-- holder, flags version applied, open sockets). The status sums the rows seen lately, so every
-- instance shows the whole fleet's figures; rows gone quiet drop out, and old ones are deleted.
CREATE TABLE cutover_instances (
    id            TEXT    PRIMARY KEY,
    addr          TEXT    NOT NULL,
    started_at    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL,
    lease_holder  BOOLEAN NOT NULL,
    flags_version BIGINT,
    sockets       BIGINT  NOT NULL,
    -- {"feature": requests in the last five minutes}
    rest_5m       TEXT    NOT NULL,
    -- [recent propagation lags, ms]
    lags_ms       TEXT    NOT NULL
);
CREATE INDEX cutover_instances_by_last_seen ON cutover_instances (last_seen);
