-- Paper accounts: one per trader. Money in whole cents.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    account_number  TEXT    NOT NULL UNIQUE,
    cash_cents      INTEGER NOT NULL
);

CREATE TABLE positions (
    account_id         INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    symbol             TEXT    NOT NULL,
    quantity           INTEGER NOT NULL,
    entry_price_cents  INTEGER NOT NULL,
    PRIMARY KEY (account_id, symbol)
);

-- The first valuation of each UTC day: the base of the day change.
CREATE TABLE account_days (
    account_id         INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day                TEXT    NOT NULL,  -- YYYY-MM-DD, UTC
    open_equity_cents  INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
);

-- Closed 1-minute bars, as the intraday job closes them.
CREATE TABLE intraday_bars (
    symbol            TEXT    NOT NULL,
    minute_ms         INTEGER NOT NULL,  -- bar open time, ms since the Unix epoch
    country           TEXT    NOT NULL,
    open              REAL NOT NULL,
    high              REAL NOT NULL,
    low               REAL NOT NULL,
    close             REAL NOT NULL,
    volume            INTEGER NOT NULL,
    vwap              REAL NOT NULL,
    trades            INTEGER NOT NULL,
    PRIMARY KEY (symbol, minute_ms)
);
