-- The management console's sessions, login throttling and API key rolling. PostgreSQL edition
-- of migrations/sqlite/0010.
CREATE TABLE console_sessions (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    operator_id TEXT COLLATE "C" NOT NULL REFERENCES operators(id),
    csrf_token TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    seen_ms BIGINT NOT NULL,
    app_id TEXT COLLATE "C" NOT NULL,
    livemode BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_operator ON console_sessions (operator_id);

ALTER TABLE operators ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN locked_until_ms BIGINT NOT NULL DEFAULT 0;

ALTER TABLE api_keys ADD COLUMN hint TEXT;
ALTER TABLE api_keys ADD COLUMN expires_ms BIGINT;

CREATE INDEX charges_by_channel ON charges (app_id, livemode, channel, created, id);
CREATE INDEX refunds_listing ON refunds (app_id, livemode, created, id);

-- The charge an event is about (itself, or the charge a refund or recharge belongs to), so a
-- charge's page lists its events; empty for events written before this column.
ALTER TABLE events ADD COLUMN charge_id TEXT;
CREATE INDEX events_by_charge ON events (charge_id, created);

-- A user's recharges, for the console's balance page.
CREATE INDEX recharges_by_user ON recharges (app_id, livemode, user_id, created);
