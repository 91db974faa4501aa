-- A notification is kept once: a channel's redelivery, or a replay of a captured one, adds no
-- row. `digest` is the SHA-256 of the body as received (rows kept before it existed have
-- none, and the unique index ignores them). Keep in step with migrations/postgres/0007.
ALTER TABLE channel_notifications ADD COLUMN digest TEXT;
CREATE UNIQUE INDEX channel_notifications_once
    ON channel_notifications (app_id, livemode, provider, digest);
