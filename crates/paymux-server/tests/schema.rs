//! What must change together: the SQLite and PostgreSQL migration trees define the same
//! tables, columns and indexes, and `db copy` copies every table.

use paymux_server::store::Db;
use paymux_server::store::scratch::ScratchDatabase;
use sqlx::Row;
use std::collections::BTreeSet;

/// A schema, normalized: (table, column, not null) and (table, columns, unique) of every index
/// other than the primary key's.
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    columns: BTreeSet<(String, String, bool)>,
    indexes: BTreeSet<(String, String, bool)>,
}

async fn sqlite_schema(db: &Db) -> Schema {
    let mut conn = db.reader().acquire().await.expect("conn");
    let columns = sqlx::query(
        "SELECT m.name AS tbl, p.name AS col, p.\"notnull\" AS required, p.pk AS pk \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("columns")
    .iter()
    .map(|row| {
        let not_null: i64 = row.get("required");
        let pk: i64 = row.get("pk");
        // SQLite lets a TEXT primary key hold NULL; PostgreSQL does not. Ours never do.
        (row.get("tbl"), row.get("col"), not_null == 1 || pk > 0)
    })
    .collect();
    let listed: Vec<(String, String, i64)> = sqlx::query(
        "SELECT m.name AS tbl, l.name AS idx, l.\"unique\" AS uniq FROM sqlite_master m \
         JOIN pragma_index_list(m.name) l WHERE m.type = 'table' AND l.origin <> 'pk' \
         AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("indexes")
    .iter()
    .map(|row| (row.get("tbl"), row.get("idx"), row.get("uniq")))
    .collect();
    let mut indexes = BTreeSet::new();
    for (table, index, unique) in listed {
        let columns: Vec<String> =
            sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&index)
                .fetch_all(&mut *conn)
                .await
                .expect("index columns")
                .iter()
                .map(|row| row.get("name"))
                .collect();
        indexes.insert((table, columns.join(","), unique == 1));
    }
    Schema { columns, indexes }
}

async fn postgres_schema(db: &Db) -> Schema {
    let mut conn = db.reader().acquire().await.expect("conn");
    let columns = sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS col, \
         CAST(CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS BIGINT) AS required \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("columns")
    .iter()
    .map(|row| {
        let not_null: i64 = row.get("required");
        (row.get("tbl"), row.get("col"), not_null == 1)
    })
    .collect();
    let indexes = sqlx::query(
        "SELECT t.relname::text AS tbl, \
         string_agg(a.attname::text, ',' ORDER BY k.n) AS cols, \
         CAST(CASE WHEN ix.indisunique THEN 1 ELSE 0 END AS BIGINT) AS uniq \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace ns ON ns.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE ns.nspname = 'public' AND NOT ix.indisprimary \
         AND t.relname <> '_sqlx_migrations' \
         GROUP BY i.relname, t.relname, ix.indisunique",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("indexes")
    .iter()
    .map(|row| {
        let unique: i64 = row.get("uniq");
        (row.get("tbl"), row.get("cols"), unique == 1)
    })
    .collect();
    Schema { columns, indexes }
}

#[tokio::test]
async fn both_migration_trees_define_the_same_schema() {
    let Ok(admin_url) = std::env::var("PAYMUX_TEST_DATABASE_URL") else {
        eprintln!("skipped: needs PostgreSQL; set PAYMUX_TEST_DATABASE_URL");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = Db::open_sqlite(dir.path()).await.expect("sqlite");
    let scratch = ScratchDatabase::create(&admin_url, "paymux_t")
        .await
        .expect("scratch database");
    let postgres = Db::open_postgres(&scratch.url, 2, 10_000)
        .await
        .expect("postgres");
    let (sqlite, postgres) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    let only = |a: &BTreeSet<(String, String, bool)>, b: &BTreeSet<(String, String, bool)>| {
        a.difference(b).cloned().collect::<Vec<_>>()
    };
    assert!(
        sqlite == postgres,
        "columns only on SQLite: {:?}\ncolumns only on PostgreSQL: {:?}\n\
         indexes only on SQLite: {:?}\nindexes only on PostgreSQL: {:?}",
        only(&sqlite.columns, &postgres.columns),
        only(&postgres.columns, &sqlite.columns),
        only(&sqlite.indexes, &postgres.indexes),
        only(&postgres.indexes, &sqlite.indexes),
    );
}

#[tokio::test]
async fn db_copy_copies_every_table() {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = Db::open_sqlite(dir.path()).await.expect("sqlite");
    let schema = sqlite_schema(&sqlite).await;
    let tables: BTreeSet<&str> = schema.columns.iter().map(|(t, _, _)| t.as_str()).collect();
    let copied: BTreeSet<&str> = paymux_server::store::copy::TABLES.iter().copied().collect();
    assert_eq!(tables, copied, "every table, and only tables that exist");
}
