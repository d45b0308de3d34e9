//! The storage interface, the same suite on SQLite and PostgreSQL.

use gatehouse_store::{Db, Exec, Page, db::is_unique_violation, docs, migrate, params};
use gatehouse_testkit::{backends, spawn::TestDb};
use serde_json::json;

async fn fresh(b: &gatehouse_testkit::Backend) -> (Db, TestDb) {
    let t = TestDb::new(b).await.unwrap();
    let db = Db::connect(&t.url).await.unwrap();
    migrate(&db).await.unwrap();
    // Idempotent.
    migrate(&db).await.unwrap();
    (db, t)
}

#[tokio::test]
async fn transactions_commit_and_roll_back() {
    for b in backends() {
        let (db, _t) = fresh(&b).await;
        let now = "2024-01-01T00:00:00.000Z";
        let tx = db.begin().await.unwrap();
        docs::put(&tx, "t", "k", "a", &json!({"n": 1}), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        {
            let tx = db.begin().await.unwrap();
            docs::put(&tx, "t", "k", "b", &json!({"n": 2}), now)
                .await
                .unwrap();
            docs::put(&tx, "t", "k", "a", &json!({"n": 9}), now)
                .await
                .unwrap();
            // Dropped without commit: rolled back.
        }
        // Give PostgreSQL's background rollback a moment before reading.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            docs::get(&db, "t", "k", "a").await.unwrap(),
            Some(json!({"n": 1})),
            "{}",
            b.name()
        );
        assert_eq!(
            docs::get(&db, "t", "k", "b").await.unwrap(),
            None,
            "{}",
            b.name()
        );
        // The writer is usable again after the rollback.
        docs::put(&db, "t", "k", "c", &json!({"s": "é\"x"}), now)
            .await
            .unwrap();
        let (all, total) = docs::list(
            &db,
            "t",
            "k",
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
        assert_eq!(total, 2);
        assert_eq!(all[1], json!({"s": "é\"x"}));
        // Tenants are separate.
        assert_eq!(docs::list(&db, "other", "k", Page::ALL).await.unwrap().1, 0);
    }
}

#[tokio::test]
async fn unique_violations_are_recognised() {
    for b in backends() {
        let (db, _t) = fresh(&b).await;
        let sql = "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)";
        db.execute(sql, params!["x", "x", "now"]).await.unwrap();
        let err = db.execute(sql, params!["x", "x", "now"]).await.unwrap_err();
        assert!(is_unique_violation(&err), "{}: {err:?}", b.name());
        let rows = db
            .query("SELECT id, name FROM tenants WHERE id = $1", params!["x"])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].text("name").unwrap(), "x");
        let tx = db.begin().await.unwrap();
        assert!(tx.execute(sql, params!["x", "x", "now"]).await.is_err());
        drop(tx);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(db.execute(sql, params!["y", "y", "now"]).await.unwrap(), 1);
    }
}

/// SQLite's `synchronous` mode (0 OFF, 1 NORMAL, 2 FULL) on the readers and on the writer.
async fn sqlite_synchronous(db: &Db) -> (i64, i64) {
    let read = db.query("PRAGMA synchronous", vec![]).await.unwrap();
    let tx = db.begin().await.unwrap();
    let write = Exec::query(&tx, "PRAGMA synchronous", vec![])
        .await
        .unwrap();
    drop(tx);
    (
        read[0].i64("synchronous").unwrap(),
        write[0].i64("synchronous").unwrap(),
    )
}

/// An acknowledged SQLite write is synced before the answer (FULL, durable on power loss)
/// unless the database URL opts out with `?synchronous=normal`.
#[tokio::test]
async fn sqlite_commits_are_synced_unless_the_url_opts_out() {
    let t = TestDb::new(&gatehouse_testkit::Backend::Sqlite)
        .await
        .unwrap();
    let db = Db::connect(&t.url).await.unwrap();
    migrate(&db).await.unwrap();
    assert_eq!(sqlite_synchronous(&db).await, (2, 2), "default: FULL");
    drop(db);

    let relaxed = Db::connect(&format!("{}?synchronous=normal", t.url))
        .await
        .unwrap();
    assert_eq!(
        sqlite_synchronous(&relaxed).await,
        (1, 1),
        "opted out: NORMAL"
    );
    // The same file (the query is not part of its name): the schema is already there.
    assert_eq!(
        docs::get(&relaxed, "t", "k", "none").await.unwrap(),
        None,
        "same database"
    );
    assert!(!std::path::Path::new(&format!("{}?synchronous=normal", t.url)).exists());
    drop(relaxed);

    let sqlite_url = format!("sqlite://{}?synchronous=FULL", t.url);
    let full = Db::connect(&sqlite_url).await.unwrap();
    assert_eq!(sqlite_synchronous(&full).await, (2, 2));
    drop(full);

    let err = Db::connect(&format!("{}?synchronous=off", t.url))
        .await
        .err()
        .expect("OFF is refused");
    assert!(err.to_string().contains("synchronous"), "{err:#}");
}
