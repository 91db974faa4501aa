-- Every channel notification that passed verification, as received: what a payment team
-- reads when a charge's state is disputed ("why is this paid?"). Forged ones are only logged,
-- so nobody can fill the database by posting to a notify URL. PostgreSQL edition of
-- migrations/sqlite/0005.
CREATE TABLE channel_notifications (
    id TEXT COLLATE "C" PRIMARY KEY,
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    livemode BIGINT NOT NULL,
    provider TEXT NOT NULL,
    received BIGINT NOT NULL,
    -- What it is about: the order number (out_trade_no / orderId) or the refund's.
    reference TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX channel_notifications_by_reference
    ON channel_notifications (app_id, livemode, reference, id);
CREATE INDEX channel_notifications_by_app ON channel_notifications (app_id, livemode, id);
