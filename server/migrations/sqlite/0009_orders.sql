-- Paper orders. Cash a buy may need and shares a sell will deliver are held (reserved) while
-- the order is open, so concurrent orders can never spend the same money or shares twice.
ALTER TABLE accounts ADD COLUMN reserved_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE positions ADD COLUMN reserved_quantity INTEGER NOT NULL DEFAULT 0;

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_order_id    TEXT    NOT NULL,  -- the trader's idempotency key
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    order_type         TEXT    NOT NULL CHECK (order_type IN ('market', 'limit')),
    limit_price_cents  INTEGER,
    time_in_force      TEXT    NOT NULL CHECK (time_in_force IN ('day', 'gtc')),
    status             TEXT    NOT NULL CHECK (status IN ('open', 'filled', 'cancelled', 'expired', 'rejected')),
    reserved_cents     INTEGER NOT NULL,  -- cash held for a buy (0 for a sell)
    seen_open          INTEGER NOT NULL DEFAULT 0,  -- 1 once its symbol traded while it was open
    placed_ms          INTEGER NOT NULL,
    fill_price_cents   INTEGER,
    ended_ms           INTEGER,           -- filled, cancelled, expired or rejected at
    updated_ms         INTEGER NOT NULL,  -- last change: what the lease holder pushes
    reason             TEXT,              -- why it expired or was rejected
    UNIQUE (account_id, client_order_id)
);
CREATE INDEX orders_open ON orders (status) WHERE status = 'open';
CREATE INDEX orders_updated ON orders (updated_ms);
CREATE INDEX orders_account ON orders (account_id, placed_ms);
