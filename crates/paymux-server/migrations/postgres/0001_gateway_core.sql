-- The gateway core, PostgreSQL edition of migrations/sqlite/0001 (keep the two in step).
-- Booleans are BIGINT 0/1 and JSON is TEXT so the same SQL runs on both engines through
-- sqlx's Any driver. Ids collate as "C" (byte order): they start with their creation time,
-- and lists order by (created, id).

CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    merchant_public_key_pem TEXT,
    require_signature_test BIGINT NOT NULL DEFAULT 0,
    require_signature_live BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE apps (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created BIGINT NOT NULL
);

-- Secret keys are stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    key_hash TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    livemode BIGINT NOT NULL,
    created BIGINT NOT NULL
);

-- The platform key pair that signs responses and webhooks; one per installation.
CREATE TABLE platform_keys (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    private_key_pem TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE charges (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    livemode BIGINT NOT NULL,
    created BIGINT NOT NULL,
    channel TEXT NOT NULL,
    order_no TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    description TEXT,
    extra TEXT NOT NULL,
    metadata TEXT NOT NULL,
    credential TEXT NOT NULL,
    time_expire BIGINT NOT NULL,
    paid BIGINT NOT NULL DEFAULT 0,
    time_paid BIGINT,
    transaction_no TEXT,
    reversed BIGINT NOT NULL DEFAULT 0,
    failure_code TEXT,
    failure_msg TEXT,
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    amount_refund_reserved BIGINT NOT NULL DEFAULT 0,
    refunded BIGINT NOT NULL DEFAULT 0,
    recharge_id TEXT COLLATE "C",
    -- The last line of defence against over-refund, whatever the code above it does.
    CHECK (amount_refunded <= amount_refund_reserved AND amount_refund_reserved <= amount)
);
CREATE UNIQUE INDEX charges_order_no ON charges (app_id, livemode, order_no);
CREATE INDEX charges_listing ON charges (app_id, livemode, created DESC, id DESC);

CREATE TABLE refunds (
    id TEXT COLLATE "C" PRIMARY KEY,
    charge_id TEXT COLLATE "C" NOT NULL REFERENCES charges (id),
    app_id TEXT COLLATE "C" NOT NULL,
    livemode BIGINT NOT NULL,
    created BIGINT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL,
    time_succeed BIGINT,
    description TEXT NOT NULL,
    failure_code TEXT,
    failure_msg TEXT,
    metadata TEXT NOT NULL,
    funding_source TEXT,
    charge_order_no TEXT NOT NULL,
    transaction_no TEXT,
    currency TEXT NOT NULL,
    recharge_id TEXT COLLATE "C"
);
CREATE INDEX refunds_by_charge ON refunds (charge_id, created DESC, id DESC);
CREATE INDEX refunds_by_recharge ON refunds (recharge_id);

CREATE TABLE app_users (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    livemode BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    created BIGINT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    PRIMARY KEY (app_id, livemode, user_id)
);

CREATE TABLE recharges (
    id TEXT COLLATE "C" PRIMARY KEY,
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    livemode BIGINT NOT NULL,
    created BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    from_user TEXT,
    amount BIGINT NOT NULL,
    user_fee BIGINT NOT NULL,
    balance_bonus BIGINT NOT NULL,
    charge_id TEXT COLLATE "C" NOT NULL REFERENCES charges (id),
    succeeded BIGINT NOT NULL DEFAULT 0,
    time_succeeded BIGINT,
    refunded BIGINT NOT NULL DEFAULT 0,
    description TEXT,
    metadata TEXT NOT NULL
);
CREATE INDEX recharges_listing ON recharges (app_id, livemode, created DESC, id DESC);

CREATE TABLE events (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    app_id TEXT COLLATE "C" NOT NULL,
    livemode BIGINT NOT NULL,
    created BIGINT NOT NULL,
    type TEXT NOT NULL,
    object TEXT NOT NULL,
    pending_webhooks BIGINT NOT NULL DEFAULT 0,
    request_id TEXT
);
CREATE INDEX events_listing ON events (account_id, livemode, created DESC, id DESC);

-- Work due later (refund completion, …), written in the same transaction as its cause.
CREATE TABLE jobs (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT COLLATE "C" NOT NULL,
    due_at_ms BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- The API request that caused the job, recorded on the events the job emits.
    request_id TEXT,
    created BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at_ms);
