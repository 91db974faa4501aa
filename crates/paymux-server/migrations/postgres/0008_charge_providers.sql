-- Who carries each charge, decided when it is created: `simulated` (test mode simulated by the
-- gateway) or the provider (`wechat`, `alipay`, `unionpay`). Refunds, reverses, queries and
-- notifications follow it rather than the app's current configuration. Charges created before
-- it was recorded have none and are routed as they were then. PostgreSQL edition of
-- migrations/sqlite/0008.
ALTER TABLE charges ADD COLUMN provider TEXT;
