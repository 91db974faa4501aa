-- The index of leased deliveries holds only those a worker leased (lease_until_ms > 0): with
-- every unleased delivery in it, the planner could answer a claim's "not leased now" from it
-- and then sort an endpoint's whole backlog for each claim.
-- Keep in step with migrations/sqlite/0011.

DROP INDEX webhook_deliveries_leased;
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id, lease_until_ms)
    WHERE status = 'pending' AND lease_until_ms > 0;
