-- What a restart needs to carry on where the desk was.
-- Each symbol's last traded price (the simulator continues its path from it) and its session
-- so far (the VWAP continues from it), written every second by the intraday job.
CREATE TABLE market_prices (
    symbol            TEXT PRIMARY KEY,
    price             REAL NOT NULL,
    at_ms             INTEGER NOT NULL,  -- when it traded, ms since the Unix epoch
    session_day       TEXT,             -- YYYY-MM-DD, UTC: the session the sums are of
    session_volume    INTEGER,           -- Σ size
    session_notional  REAL           -- Σ price × size
);

-- The last valuation of each UTC day: the next day's change counts from it (the previous
-- close). Rows from before this column use their opening equity.
ALTER TABLE account_days ADD COLUMN close_equity_cents INTEGER;
