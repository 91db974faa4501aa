-- The management console: operators' sign-in sessions (only a hash of the cookie's token is
-- kept), login throttling per operator, and API keys that can be rolled with a grace period
-- (`hint` is the key's visible prefix; `expires_ms` ends an old key's grace). Keep in step
-- with migrations/postgres/0010.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators(id),
    csrf_token TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL,
    app_id TEXT NOT NULL,
    livemode INTEGER NOT NULL
);
CREATE INDEX console_sessions_by_operator ON console_sessions (operator_id);

ALTER TABLE operators ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN locked_until_ms INTEGER NOT NULL DEFAULT 0;

ALTER TABLE api_keys ADD COLUMN hint TEXT;
ALTER TABLE api_keys ADD COLUMN expires_ms INTEGER;

-- The console's charge filters stay quick on a large store.
CREATE INDEX charges_by_channel ON charges (app_id, livemode, channel, created, id);
CREATE INDEX refunds_listing ON refunds (app_id, livemode, created, id);

-- The charge an event is about (itself, or the charge a refund or recharge belongs to), so a
-- charge's page lists its events; empty for events written before this column.
ALTER TABLE events ADD COLUMN charge_id TEXT;
CREATE INDEX events_by_charge ON events (charge_id, created);

-- A user's recharges, for the console's balance page.
CREATE INDEX recharges_by_user ON recharges (app_id, livemode, user_id, created);
