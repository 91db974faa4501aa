-- The people who run the merchant's day in the management console, and what they (and the
-- command line) did. An operator belongs to an account and has one role (admin, finance,
-- support, viewer); the password is an argon2id hash in PHC form, never the password. Every
-- audit entry is written in the same transaction as the change it records. Keep in step with
-- migrations/postgres/0009.
CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    password_changed INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (account_id, created_ms, id);
