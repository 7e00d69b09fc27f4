-- Users as an operator manages them (`thor users`, `thor accounts import`).

-- A disabled user cannot sign in, and their sessions are deleted when they are disabled.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
-- When the user last signed in (ms since the Unix epoch); NULL: never.
ALTER TABLE users ADD COLUMN last_sign_in_at INTEGER;

-- Every change to users and paper accounts: who made it (the OS user who ran `thor`), to whom.
CREATE TABLE user_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,  -- ms since the Unix epoch
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    username TEXT    NOT NULL,
    detail   TEXT    NOT NULL
);
