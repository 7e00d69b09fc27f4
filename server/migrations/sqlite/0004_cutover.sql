-- The cutover control plane.

-- A feature's flag as changed at run time: it wins over the WS_FEATURE_* variable until cleared.
CREATE TABLE cutover_flags (
    feature     TEXT    PRIMARY KEY,
    stage       TEXT    NOT NULL CHECK (stage IN ('rest', 'shadow', 'live')),
    ramp        INTEGER NOT NULL CHECK (ramp BETWEEN 0 AND 100),
    version     INTEGER NOT NULL,
    changed_at  INTEGER NOT NULL,
    changed_by  TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);

-- Every change, manual or automatic. Its version is the flags version it made.
CREATE TABLE cutover_audit (
    version     INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    feature     TEXT    NOT NULL,
    from_stage  TEXT    NOT NULL,
    from_ramp   INTEGER NOT NULL,
    to_stage    TEXT    NOT NULL,
    to_ramp     INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    forced      BOOLEAN NOT NULL,
    automatic   BOOLEAN NOT NULL,
    evidence    TEXT    NOT NULL
);

-- What each open page last said of each feature, and its parity counts since the feature's
-- last change (since_version).
CREATE TABLE cutover_pages (
    page_id            TEXT    NOT NULL,
    feature            TEXT    NOT NULL,
    user_id            INTEGER NOT NULL,
    since_version      INTEGER NOT NULL,
    source             TEXT    NOT NULL,
    applied_version    INTEGER NOT NULL,
    fell_back_at       INTEGER,
    matched            INTEGER NOT NULL,
    mismatched         INTEGER NOT NULL,
    missing_on_ws      INTEGER NOT NULL,
    ignored            INTEGER NOT NULL,
    gaps               INTEGER NOT NULL,
    lag_ms             INTEGER,
    last_update_age_ms INTEGER,
    first_seen         INTEGER NOT NULL,
    last_seen          INTEGER NOT NULL,
    PRIMARY KEY (page_id, feature)
);

-- The latest disagreements per feature (the server keeps the last 20).
CREATE TABLE cutover_diffs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    feature  TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    page_id  TEXT    NOT NULL,
    diff     TEXT    NOT NULL
);
CREATE INDEX cutover_diffs_by_feature ON cutover_diffs (feature, id);
