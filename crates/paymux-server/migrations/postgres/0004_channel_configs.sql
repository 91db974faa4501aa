-- Each app's configuration of a payment provider (wechat, alipay, unionpay), per mode.
-- `secrets` is sealed with AES-256-GCM under the operator's PAYMUX_SECRETS_KEY; a database
-- copy alone reveals no channel key. PostgreSQL edition of migrations/sqlite/0004.
CREATE TABLE channel_configs (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    livemode BIGINT NOT NULL,
    provider TEXT NOT NULL,
    -- JSON object of the public settings (merchant ids, gateway URL, provider public key).
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (app_id, livemode, provider)
);
