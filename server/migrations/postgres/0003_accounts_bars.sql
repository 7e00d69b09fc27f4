-- Paper accounts: one per trader. Money in whole cents.
CREATE TABLE accounts (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    account_number  TEXT    NOT NULL UNIQUE,
    cash_cents      BIGINT NOT NULL
);

CREATE TABLE positions (
    account_id         BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    symbol             TEXT    NOT NULL,
    quantity           BIGINT NOT NULL,
    entry_price_cents  BIGINT NOT NULL,
    PRIMARY KEY (account_id, symbol)
);

-- The first valuation of each UTC day: the base of the day change.
CREATE TABLE account_days (
    account_id         BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day                TEXT    NOT NULL,  -- YYYY-MM-DD, UTC
    open_equity_cents  BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);

-- Closed 1-minute bars, as the intraday job closes them.
CREATE TABLE intraday_bars (
    symbol            TEXT    NOT NULL,
    minute_ms         BIGINT NOT NULL,  -- bar open time, ms since the Unix epoch
    country           TEXT    NOT NULL,
    open              DOUBLE PRECISION NOT NULL,
    high              DOUBLE PRECISION NOT NULL,
    low               DOUBLE PRECISION NOT NULL,
    close             DOUBLE PRECISION NOT NULL,
    volume            BIGINT NOT NULL,
    vwap              DOUBLE PRECISION NOT NULL,
    trades            BIGINT NOT NULL,
    PRIMARY KEY (symbol, minute_ms)
);
