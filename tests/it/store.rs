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
