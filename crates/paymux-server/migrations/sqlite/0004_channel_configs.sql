-- Each app's configuration of a payment provider (wechat, alipay, unionpay), per mode.
-- `secrets` is sealed with AES-256-GCM under the operator's PAYMUX_SECRETS_KEY; a database
-- copy alone reveals no channel key. Keep in step with migrations/postgres/0004.
CREATE TABLE channel_configs (
    app_id TEXT NOT NULL REFERENCES apps (id),
    livemode INTEGER NOT NULL,
    provider TEXT NOT NULL,
    -- JSON object of the public settings (merchant ids, gateway URL, provider public key).
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (app_id, livemode, provider)
);
