-- The earliest due delivery is now found per endpoint, in webhook_deliveries_due, so the index
-- of every pending delivery by due time goes. A slot's claim that looks from a due time on
-- (store::webhooks::claim_statement) was planned on that index, reading all pending deliveries
-- of all endpoints from that time and sorting them, and each delivery written or changed paid
-- for one more index entry.
-- Keep in step with migrations/sqlite/0012.

DROP INDEX webhook_deliveries_next;
