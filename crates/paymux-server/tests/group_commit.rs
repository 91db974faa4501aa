//! The writer's group commit: requests that fail roll back only their own changes, even when
//! they share a transaction with requests that succeed; new charges that share a statement
//! each hear their own outcome.

mod common;

use paymux_server::domain::channel::Channel;
use paymux_server::domain::charge::{Carrier, Charge};
use paymux_server::error::GatewayError;
use paymux_server::store::{Db, StoreError, accounts};

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

/// Writes that send their savepoint in the same trip as their own statements: one whose
/// second statement fails keeps nothing of its first, and the batch it shares commits the
/// rest. One that fails without having sent its savepoint breaks the contract; the writer
/// cannot tell what it left open, so its batch keeps nothing and each caller hears so: a
/// caller is told "ok" exactly when its row is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_one_trip_roll_back_alone_and_a_broken_one_fails_its_batch_safely() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    // i % 3: 0 inserts; 1 (only when `broken`) fails without sending anything; 2 inserts, then
    // fails on the same key. All are queued while the writer is busy, so they share batches.
    let run = |from: i64, broken: bool| {
        let db = db.clone();
        async move {
            let (started, busy) = tokio::sync::oneshot::channel();
            let (release, hold) = tokio::sync::oneshot::channel::<()>();
            let blocker = tokio::spawn({
                let db = db.clone();
                async move {
                    db.write(move |_| {
                        Box::pin(async move {
                            let _ = started.send(());
                            let _ = hold.await;
                            Ok::<_, StoreError>(())
                        })
                    })
                    .await
                }
            });
            busy.await.expect("the writer runs the blocker");
            let writes = (from..from + 300).map(|i| {
                db.write_in_one_trip(move |conn, prelude| {
                    Box::pin(async move {
                        if i % 3 == 1 && broken {
                            return Err(StoreError::Inconsistent("broken".into()));
                        }
                        let times = if i % 3 == 2 { 2 } else { 1 };
                        let insert = "INSERT INTO accounts (id, created) VALUES ($1, $2)";
                        let sql = prelude.and(vec![insert; times].join("; "));
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(format!("acct_{i}"))
                            .bind(i)
                            .execute(&mut *conn)
                            .await?;
                        Ok(i)
                    })
                })
            });
            let mut all = Box::pin(futures_util::future::join_all(writes));
            // The first poll queues every write behind the blocker.
            std::future::poll_fn(|cx| {
                assert!(all.as_mut().poll(cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            release.send(()).expect("blocker waits");
            blocker.await.expect("join").expect("blocker");
            let mut ok: Vec<i64> = all.await.into_iter().filter_map(Result::ok).collect();
            ok.sort();
            ok
        }
    };
    let stored = || {
        db.write(|conn| {
            Box::pin(async move {
                let ids: Vec<(i64,)> = sqlx::query_as("SELECT created FROM accounts")
                    .fetch_all(&mut *conn)
                    .await?;
                let mut ids: Vec<i64> = ids.into_iter().map(|(i,)| i).collect();
                ids.sort();
                Ok::<_, StoreError>(ids)
            })
        })
    };

    let ok = run(0, false).await;
    assert_eq!(ok, (0..300).filter(|i| i % 3 != 2).collect::<Vec<_>>());
    assert_eq!(
        stored().await.expect("read"),
        ok,
        "exactly the successful writes were kept"
    );

    let ok_broken = run(300, true).await;
    assert!(
        ok_broken.iter().all(|i| i % 3 == 0),
        "only whole writes are told ok: {ok_broken:?}"
    );
    assert_eq!(
        stored().await.expect("read"),
        [ok, ok_broken].concat(),
        "a caller is told ok exactly when its row is there"
    );
}

/// A new charge, valid unless `amount` is not positive.
fn charge(i: i64, app_id: &str, order_no: &str, amount: i64) -> Charge {
    Charge {
        id: format!("ch_{i}"),
        account_id: "acct_1".into(),
        app_id: app_id.into(),
        livemode: false,
        created: i,
        channel: Channel::AlipayQr,
        order_no: order_no.into(),
        client_ip: "127.0.0.1".into(),
        amount,
        currency: "cny".into(),
        subject: "s".into(),
        body: "b".into(),
        description: None,
        extra: Default::default(),
        metadata: Default::default(),
        credential: Default::default(),
        time_expire: i + 3600,
        paid: false,
        time_paid: None,
        transaction_no: None,
        reversed: false,
        failure_code: None,
        failure_msg: None,
        amount_refunded: 0,
        amount_refund_reserved: 0,
        refunded: false,
        recharge_id: None,
        carrier: Some(Carrier::Simulated),
    }
}

/// What each of 120 concurrent new charges should hear.
#[derive(Debug, PartialEq)]
enum Expect {
    Inserted,
    /// Its app is another account's.
    NotInserted,
    /// One of those sharing an order_no goes in.
    Shared,
    /// The database refuses it (a non-positive amount breaks a CHECK).
    Refused,
}

fn expect(i: i64) -> Expect {
    match i {
        _ if i % 7 == 3 => Expect::Refused,
        _ if i % 11 == 5 => Expect::NotInserted,
        _ if i % 5 == 1 => Expect::Shared,
        _ => Expect::Inserted,
    }
}

/// New charges written at the same time share statements, and each still hears its own
/// outcome: a row the database refuses fails only its own create, a taken order_no or a
/// foreign app only keeps that charge out. On SQLite they share batches with other writes,
/// which a failing charge statement must not disturb. On PostgreSQL too when
/// `PAYMUX_TEST_DATABASE_URL` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_charges_share_statements_and_each_hears_its_own_outcome() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, scratch) = common::open_db(dir.path()).await;
    db.write(|conn| {
        Box::pin(async move {
            accounts::insert_account(conn, "acct_1", 0).await?;
            accounts::insert_account(conn, "acct_2", 0).await?;
            accounts::insert_app(conn, "app_1", "acct_1", "one", 0).await?;
            accounts::insert_app(conn, "app_2", "acct_2", "two", 0).await?;
            Ok::<_, StoreError>(())
        })
    })
    .await
    .expect("apps");

    let creates = (0..120i64).map(|i| {
        let db = db.clone();
        let (app, order_no, amount) = match expect(i) {
            Expect::Refused => ("app_1", format!("o{i}"), 0),
            Expect::NotInserted => ("app_2", format!("o{i}"), 100),
            Expect::Shared => ("app_1", "shared".to_owned(), 100),
            Expect::Inserted => ("app_1", format!("o{i}"), 100),
        };
        tokio::spawn(async move {
            let inserted = db
                .insert_charge(Box::new(charge(i, app, &order_no, amount)))
                .await;
            (i, inserted.map(|(charge, inserted)| (charge.id, inserted)))
        })
    });
    // Other writes in the same batches (on SQLite), every other one failing.
    let writes = (0..40i64).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(move |conn| {
                Box::pin(async move {
                    accounts::insert_account(conn, &format!("acct_w{i}"), i).await?;
                    if i % 2 == 1 {
                        return Err(GatewayError::invalid("odd"));
                    }
                    Ok(())
                })
            })
            .await
            .is_ok()
        })
    });
    let (creates, writes) = tokio::join!(
        futures_util::future::join_all(creates),
        futures_util::future::join_all(writes)
    );

    let mut shared_inserted = 0;
    for create in creates {
        let (i, inserted) = create.expect("task");
        match (expect(i), inserted) {
            (Expect::Inserted, Ok((id, true))) => assert_eq!(id, format!("ch_{i}")),
            (Expect::NotInserted, Ok((_, false))) => {}
            (Expect::Shared, Ok((_, inserted))) => shared_inserted += usize::from(inserted),
            (Expect::Refused, Err(StoreError::Query(_))) => {}
            (expected, got) => panic!("charge {i}: expected {expected:?}, got {got:?}"),
        }
    }
    assert_eq!(shared_inserted, 1, "one charge takes a shared order_no");
    let kept = writes
        .into_iter()
        .filter(|w| *w.as_ref().expect("task"))
        .count();
    assert_eq!(kept, 20);

    let mut conn = db.reader().acquire().await.expect("conn");
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM charges ORDER BY created")
        .fetch_all(&mut *conn)
        .await
        .expect("charges");
    let expected: Vec<String> = (0..120)
        .filter(|&i| expect(i) == Expect::Inserted)
        .map(|i| format!("ch_{i}"))
        .collect();
    let without_shared: Vec<String> = stored
        .iter()
        .filter(|id| {
            let i: i64 = id["ch_".len()..].parse().expect("id");
            expect(i) != Expect::Shared
        })
        .cloned()
        .collect();
    assert_eq!(without_shared, expected);
    assert_eq!(stored.len(), expected.len() + 1);
    let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE id LIKE 'acct_w%'")
        .fetch_one(&mut *conn)
        .await
        .expect("accounts");
    assert_eq!(accounts, 20, "only the writes that succeeded were kept");
    drop(conn);
    drop(scratch);
}
