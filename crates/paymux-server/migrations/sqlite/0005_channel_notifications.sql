-- Every channel notification that passed verification, as received: what a payment team
-- reads when a charge's state is disputed ("why is this paid?"). Forged ones are only logged,
-- so nobody can fill the database by posting to a notify URL. Keep in step with
-- migrations/postgres/0005.
CREATE TABLE channel_notifications (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id),
    livemode INTEGER NOT NULL,
    provider TEXT NOT NULL,
    received INTEGER NOT NULL,
    -- What it is about: the order number (out_trade_no / orderId) or the refund's.
    reference TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX channel_notifications_by_reference
    ON channel_notifications (app_id, livemode, reference, id);
CREATE INDEX channel_notifications_by_app ON channel_notifications (app_id, livemode, id);
