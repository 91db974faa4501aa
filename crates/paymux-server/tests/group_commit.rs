//! The writer's group commit: requests that fail roll back only their own changes, even when
//! they share a transaction with requests that succeed.

use paymux_server::error::GatewayError;
use paymux_server::store::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_rolls_back_alone_within_a_shared_batch() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    // 200 concurrent writes land in shared batches; every odd one writes, then fails.
    let writes = (0..200i64).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO accounts (id, created) VALUES ($1, $2)")
                        .bind(format!("acct_{i}"))
                        .bind(i)
                        .execute(&mut *conn)
                        .await?;
                    if i % 2 == 1 {
                        return Err(GatewayError::invalid("odd"));
                    }
                    Ok(i)
                })
            })
            .await
        })
    });
    let results = futures_util::future::join_all(writes).await;
    let ok = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|w| w.is_ok()))
        .count();
    assert_eq!(ok, 100);

    let (count, odd): (i64, i64) = db
        .write(|conn| {
            Box::pin(async move {
                let row: (i64, i64) =
                    sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(created % 2), 0) FROM accounts")
                        .fetch_one(&mut *conn)
                        .await?;
                Ok::<_, paymux_server::store::StoreError>(row)
            })
        })
        .await
        .expect("count");
    assert_eq!(count, 100, "only the successful writes were kept");
    assert_eq!(odd, 0, "no failed write left a row behind");
}
