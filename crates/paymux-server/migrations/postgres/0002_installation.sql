-- One row, written by the first bootstrap: concurrent bootstraps (several nodes starting on an
-- empty database) collide on its primary key instead of creating two accounts.
CREATE TABLE installation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL
);
