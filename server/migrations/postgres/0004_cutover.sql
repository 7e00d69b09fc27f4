-- The cutover control plane.

-- A feature's flag as changed at run time: it wins over the WS_FEATURE_* variable until cleared.
CREATE TABLE cutover_flags (
    feature     TEXT    PRIMARY KEY,
    stage       TEXT    NOT NULL CHECK (stage IN ('rest', 'shadow', 'live')),
    ramp        BIGINT NOT NULL CHECK (ramp BETWEEN 0 AND 100),
    version     BIGINT NOT NULL,
    changed_at  BIGINT NOT NULL,
    changed_by  TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);

-- Every change, manual or automatic. Its version is the flags version it made.
CREATE TABLE cutover_audit (
    version     BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT    NOT NULL,
    feature     TEXT    NOT NULL,
    from_stage  TEXT    NOT NULL,
    from_ramp   BIGINT NOT NULL,
    to_stage    TEXT    NOT NULL,
    to_ramp     BIGINT NOT NULL,
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
    user_id            BIGINT NOT NULL,
    since_version      BIGINT NOT NULL,
    source             TEXT    NOT NULL,
    applied_version    BIGINT NOT NULL,
    fell_back_at       BIGINT,
    matched            BIGINT NOT NULL,
    mismatched         BIGINT NOT NULL,
    missing_on_ws      BIGINT NOT NULL,
    ignored            BIGINT NOT NULL,
    gaps               BIGINT NOT NULL,
    lag_ms             BIGINT,
    last_update_age_ms BIGINT,
    first_seen         BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    PRIMARY KEY (page_id, feature)
);

-- The latest disagreements per feature (the server keeps the last 20).
CREATE TABLE cutover_diffs (
    id       BIGSERIAL PRIMARY KEY,
    feature  TEXT    NOT NULL,
    at       BIGINT NOT NULL,
    page_id  TEXT    NOT NULL,
    diff     TEXT    NOT NULL
);
CREATE INDEX cutover_diffs_by_feature ON cutover_diffs (feature, id);
