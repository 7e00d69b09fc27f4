-- People who sign in: traders see their own account; operators change feature flags.
CREATE TABLE users (
    id                BIGSERIAL PRIMARY KEY,
    username          TEXT    NOT NULL UNIQUE,
    -- Argon2id, PHC string format.
    password_hash     TEXT    NOT NULL,
    role              TEXT    NOT NULL CHECK (role IN ('trader', 'operator')),
    -- Still the seeded demo password: refused on anything but loopback.
    default_password  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL
);

-- Signed-in browsers. Only a SHA-256 of the cookie's token is stored.
CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
