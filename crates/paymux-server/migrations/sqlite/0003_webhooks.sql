-- Webhooks: where events go, the obligation to deliver each one, and every attempt made.
-- Keep in step with migrations/postgres/0003.

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    livemode INTEGER NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event types; ["*"] subscribes to every type.
    events TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    -- HMAC key of the replay-protected signature (`whsec_…`, Standard Webhooks).
    secret TEXT NOT NULL,
    description TEXT,
    created INTEGER NOT NULL,
    -- Removed endpoints stay, so the delivery log keeps naming them.
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, livemode);

-- The webhook body is rendered and signed once; every attempt sends these bytes.
ALTER TABLE events ADD COLUMN webhook_body TEXT;
ALTER TABLE events ADD COLUMN webhook_signature TEXT;

-- One event to one endpoint: pending until an attempt gets a 2xx (succeeded), the schedule
-- runs out (failed) or the endpoint is removed (cancelled). Written in the same transaction
-- as the event.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    -- A worker that claimed the delivery holds it until then; see store::webhooks::claim.
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    finished_ms INTEGER
);
-- What the dispatcher reads on every pass, each bounded by what it returns: an endpoint's
-- next due deliveries, its leased ones (its attempts in flight), and the earliest due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_ms, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id, lease_until_ms)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_next ON webhook_deliveries (next_attempt_ms)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    url TEXT NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    -- The first bytes of the response body, or what went wrong.
    response_excerpt TEXT,
    error TEXT,
    succeeded INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (event_id, started_ms);
