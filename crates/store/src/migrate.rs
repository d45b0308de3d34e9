//! Versioned migrations, one numbered file per backend with matching names.

use anyhow::Context;

use crate::{Db, DbResult, Dialect, Exec, params};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "users_connections",
        sqlite: include_str!("../migrations/sqlite/0002_users_connections.sql"),
        postgres: include_str!("../migrations/postgres/0002_users_connections.sql"),
    },
    Migration {
        version: 3,
        name: "authorization",
        sqlite: include_str!("../migrations/sqlite/0003_authorization.sql"),
        postgres: include_str!("../migrations/postgres/0003_authorization.sql"),
    },
    Migration {
        version: 4,
        name: "org_roles_member_order",
        sqlite: include_str!("../migrations/sqlite/0004_org_roles_member_order.sql"),
        postgres: include_str!("../migrations/postgres/0004_org_roles_member_order.sql"),
    },
    Migration {
        version: 5,
        name: "queue_logs",
        sqlite: include_str!("../migrations/sqlite/0005_queue_logs.sql"),
        postgres: include_str!("../migrations/postgres/0005_queue_logs.sql"),
    },
    Migration {
        version: 6,
        name: "keys",
        sqlite: include_str!("../migrations/sqlite/0006_keys.sql"),
        postgres: include_str!("../migrations/postgres/0006_keys.sql"),
    },
    Migration {
        version: 7,
        name: "jobs_tickets",
        sqlite: include_str!("../migrations/sqlite/0007_jobs_tickets.sql"),
        postgres: include_str!("../migrations/postgres/0007_jobs_tickets.sql"),
    },
    Migration {
        version: 8,
        name: "event_streams",
        sqlite: include_str!("../migrations/sqlite/0008_event_streams.sql"),
        postgres: include_str!("../migrations/postgres/0008_event_streams.sql"),
    },
    Migration {
        version: 9,
        name: "login",
        sqlite: include_str!("../migrations/sqlite/0009_login.sql"),
        postgres: include_str!("../migrations/postgres/0009_login.sql"),
    },
    Migration {
        version: 10,
        name: "mfa",
        sqlite: include_str!("../migrations/sqlite/0010_mfa.sql"),
        postgres: include_str!("../migrations/postgres/0010_mfa.sql"),
    },
];

/// Applies every migration not applied yet, each in its own transaction. On PostgreSQL an advisory
/// lock serialises instances that start together.
pub async fn migrate(db: &Db) -> DbResult<()> {
    let tx = db.begin().await?;
    if db.dialect() == Dialect::Postgres {
        tx.query("SELECT pg_advisory_xact_lock(7274537)", vec![])
            .await?;
    }
    tx.batch(
        "CREATE TABLE IF NOT EXISTS gatehouse_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM gatehouse_migrations", vec![])
        .await?
        .iter()
        .map(|r| r.i64("version"))
        .collect::<DbResult<_>>()?;
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        let sql = match db.dialect() {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        tx.batch(sql)
            .await
            .with_context(|| format!("migration {} {}", m.version, m.name))?;
        tx.execute(
            "INSERT INTO gatehouse_migrations (version, name) VALUES ($1, $2)",
            params![m.version, m.name],
        )
        .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().await
}
