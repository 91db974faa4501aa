-- The people who run the merchant's day in the management console, and what they (and the
-- command line) did. PostgreSQL edition of migrations/sqlite/0009.
CREATE TABLE operators (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    name TEXT COLLATE "C" NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created BIGINT NOT NULL,
    password_changed BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE audit_log (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    created_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (account_id, created_ms, id);
