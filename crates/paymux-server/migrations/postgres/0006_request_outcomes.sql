-- What the first of a repeated request came to, so a repeat gets the same answer instead of
-- acting twice: per caller (account and mode), a request signature seen within the signature
-- tolerance window, or an Idempotency-Key kept for a day. `fingerprint` (a hash of method,
-- target and body) tells an identical repeat from another use of the same signature or key.
-- `status` is null while the first request runs. PostgreSQL edition of
-- migrations/sqlite/0006.
CREATE TABLE request_outcomes (
    scope TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    status BIGINT,
    body TEXT,
    PRIMARY KEY (scope, kind, key)
);
CREATE INDEX request_outcomes_by_expiry ON request_outcomes (expires_ms);
