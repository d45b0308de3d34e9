//! Storage: one interface over SQLite and PostgreSQL ([`db`]), versioned migrations, and one
//! module per resource family. The store never knows about HTTP.

pub mod bulk;
pub mod client_grants;
pub mod clients;
pub mod connections;
pub mod db;
pub mod docs;
pub mod event_streams;
pub mod grants;
pub mod groups;
pub mod jobs;
pub mod keys;
pub mod logs;
pub mod mfa;
mod migrate;
pub mod organizations;
pub mod queue;
pub mod refresh_tokens;
pub mod resource_servers;
pub mod roles;
pub mod sessions;
pub mod sql;
mod table;
pub mod tenants;
pub mod tokens;
pub mod user_search;
pub mod users;

pub use db::{Db, DbResult, Dialect, Exec, Locked, P, Row, Transient, Tx, atomically};
pub use migrate::migrate;

/// Offset pagination as the API asks for it.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    pub const ALL: Page = Page {
        offset: 0,
        limit: i64::MAX,
    };
}

/// Microseconds since the epoch: the insertion order of rows (`seq`).
pub fn seq_now() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
