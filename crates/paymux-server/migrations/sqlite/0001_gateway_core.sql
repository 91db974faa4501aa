-- The gateway core. Booleans are INTEGER 0/1 and JSON is TEXT so the same SQL runs on
-- SQLite and PostgreSQL through sqlx's Any driver; money is integer fen, time is Unix seconds
-- (jobs use milliseconds).

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    merchant_public_key_pem TEXT,
    require_signature_test INTEGER NOT NULL DEFAULT 0,
    require_signature_live INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created INTEGER NOT NULL
);

-- Secret keys are stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL
);

-- The platform key pair that signs responses and webhooks; one per installation.
CREATE TABLE platform_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    private_key_pem TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE charges (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    channel TEXT NOT NULL,
    order_no TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    description TEXT,
    extra TEXT NOT NULL,
    metadata TEXT NOT NULL,
    credential TEXT NOT NULL,
    time_expire INTEGER NOT NULL,
    paid INTEGER NOT NULL DEFAULT 0,
    time_paid INTEGER,
    transaction_no TEXT,
    reversed INTEGER NOT NULL DEFAULT 0,
    failure_code TEXT,
    failure_msg TEXT,
    amount_refunded INTEGER NOT NULL DEFAULT 0,
    amount_refund_reserved INTEGER NOT NULL DEFAULT 0,
    refunded INTEGER NOT NULL DEFAULT 0,
    recharge_id TEXT,
    -- The last line of defence against over-refund, whatever the code above it does.
    CHECK (amount_refunded <= amount_refund_reserved AND amount_refund_reserved <= amount)
);
CREATE UNIQUE INDEX charges_order_no ON charges (app_id, livemode, order_no);
CREATE INDEX charges_listing ON charges (app_id, livemode, created DESC, id DESC);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    charge_id TEXT NOT NULL REFERENCES charges (id),
    app_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL,
    time_succeed INTEGER,
    description TEXT NOT NULL,
    failure_code TEXT,
    failure_msg TEXT,
    metadata TEXT NOT NULL,
    funding_source TEXT,
    charge_order_no TEXT NOT NULL,
    transaction_no TEXT,
    currency TEXT NOT NULL,
    recharge_id TEXT
);
CREATE INDEX refunds_by_charge ON refunds (charge_id, created DESC, id DESC);
CREATE INDEX refunds_by_recharge ON refunds (recharge_id);

CREATE TABLE app_users (
    app_id TEXT NOT NULL REFERENCES apps (id),
    livemode INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    PRIMARY KEY (app_id, livemode, user_id)
);

CREATE TABLE recharges (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id),
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    from_user TEXT,
    amount INTEGER NOT NULL,
    user_fee INTEGER NOT NULL,
    balance_bonus INTEGER NOT NULL,
    charge_id TEXT NOT NULL REFERENCES charges (id),
    succeeded INTEGER NOT NULL DEFAULT 0,
    time_succeeded INTEGER,
    refunded INTEGER NOT NULL DEFAULT 0,
    description TEXT,
    metadata TEXT NOT NULL
);
CREATE INDEX recharges_listing ON recharges (app_id, livemode, created DESC, id DESC);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    type TEXT NOT NULL,
    object TEXT NOT NULL,
    pending_webhooks INTEGER NOT NULL DEFAULT 0,
    request_id TEXT
);
CREATE INDEX events_listing ON events (account_id, livemode, created DESC, id DESC);

-- Work due later (refund completion, …), written in the same transaction as its cause.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    due_at_ms INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- The API request that caused the job, recorded on the events the job emits.
    request_id TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at_ms);
