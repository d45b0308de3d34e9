//! One storage interface over SQLite (embedded, WAL, rusqlite on the blocking pool) and
//! PostgreSQL (tokio-postgres with a deadpool). SQL text is shared: it is written with `$1`
//! placeholders, which become `?1` for SQLite.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex as StdMutex},
};

use anyhow::{Context, anyhow};
use bytes::BytesMut;
use postgres_types::{IsNull, ToSql, Type, to_sql_checked};
use serde_json::Value;
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore};

pub type DbResult<T> = anyhow::Result<T>;

/// A bound parameter.
#[derive(Debug, Clone)]
pub enum P {
    Null,
    I64(i64),
    F64(f64),
    Bool(bool),
    Text(String),
    Json(Value),
}

impl From<&str> for P {
    fn from(s: &str) -> Self {
        P::Text(s.to_owned())
    }
}
impl From<String> for P {
    fn from(s: String) -> Self {
        P::Text(s)
    }
}
impl From<&String> for P {
    fn from(s: &String) -> Self {
        P::Text(s.clone())
    }
}
impl From<i64> for P {
    fn from(v: i64) -> Self {
        P::I64(v)
    }
}
impl From<f64> for P {
    fn from(v: f64) -> Self {
        P::F64(v)
    }
}
impl From<bool> for P {
    fn from(v: bool) -> Self {
        P::Bool(v)
    }
}
impl From<Value> for P {
    fn from(v: Value) -> Self {
        P::Json(v)
    }
}
impl From<&Value> for P {
    fn from(v: &Value) -> Self {
        P::Json(v.clone())
    }
}
impl<T: Into<P>> From<Option<T>> for P {
    fn from(v: Option<T>) -> Self {
        v.map_or(P::Null, Into::into)
    }
}

/// Builds a parameter list: `params![a, b]`.
#[macro_export]
macro_rules! params {
    ($($x:expr),* $(,)?) => { vec![$($crate::db::P::from($x)),*] };
}

impl ToSql for P {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            P::Null => Ok(IsNull::Yes),
            P::I64(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            P::F64(v) => match *ty {
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            P::Bool(v) => v.to_sql(ty, out),
            P::Text(s) => match *ty {
                Type::JSON | Type::JSONB => {
                    postgres_types::Json(Value::String(s.clone())).to_sql(ty, out)
                }
                _ => s.as_str().to_sql(ty, out),
            },
            P::Json(v) => match *ty {
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => postgres_types::Json(v).to_sql(ty, out),
            },
        }
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

impl rusqlite::ToSql for P {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as SV};
        Ok(match self {
            P::Null => ToSqlOutput::Owned(SV::Null),
            P::I64(v) => ToSqlOutput::Owned(SV::Integer(*v)),
            P::F64(v) => ToSqlOutput::Owned(SV::Real(*v)),
            P::Bool(v) => ToSqlOutput::Owned(SV::Integer(i64::from(*v))),
            P::Text(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
            P::Json(v) => ToSqlOutput::Owned(SV::Text(v.to_string())),
        })
    }
}

/// A column value, whichever backend read it.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    I64(i64),
    F64(f64),
    Bool(bool),
    Text(String),
    Json(Value),
}

/// A result row; columns are looked up by name.
#[derive(Debug, Clone)]
pub struct Row {
    cols: Arc<[String]>,
    vals: Vec<V>,
}

impl Row {
    fn get(&self, name: &str) -> DbResult<&V> {
        self.cols
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.vals.get(i))
            .ok_or_else(|| anyhow!("no column {name}"))
    }

    pub fn text(&self, name: &str) -> DbResult<String> {
        match self.get(name)? {
            V::Text(s) => Ok(s.clone()),
            V::I64(v) => Ok(v.to_string()),
            V::Json(Value::String(s)) => Ok(s.clone()),
            other => Err(anyhow!("column {name}: expected text, got {other:?}")),
        }
    }

    pub fn opt_text(&self, name: &str) -> DbResult<Option<String>> {
        match self.get(name)? {
            V::Null => Ok(None),
            _ => self.text(name).map(Some),
        }
    }

    pub fn i64(&self, name: &str) -> DbResult<i64> {
        match self.get(name)? {
            V::I64(v) => Ok(*v),
            V::Bool(b) => Ok(i64::from(*b)),
            V::Text(s) => s.parse().with_context(|| format!("column {name}")),
            other => Err(anyhow!("column {name}: expected integer, got {other:?}")),
        }
    }

    pub fn opt_i64(&self, name: &str) -> DbResult<Option<i64>> {
        match self.get(name)? {
            V::Null => Ok(None),
            _ => self.i64(name).map(Some),
        }
    }

    pub fn bool(&self, name: &str) -> DbResult<bool> {
        match self.get(name)? {
            V::Bool(b) => Ok(*b),
            V::I64(v) => Ok(*v != 0),
            V::Null => Ok(false),
            other => Err(anyhow!("column {name}: expected boolean, got {other:?}")),
        }
    }

    /// A JSON column (JSON on PostgreSQL, which keeps key order; text on SQLite).
    pub fn json(&self, name: &str) -> DbResult<Value> {
        match self.get(name)? {
            V::Json(v) => Ok(v.clone()),
            V::Text(s) => {
                serde_json::from_str(s).with_context(|| format!("column {name} is not JSON"))
            }
            V::Null => Ok(Value::Null),
            V::I64(v) => Ok(Value::from(*v)),
            V::F64(v) => Ok(Value::from(*v)),
            V::Bool(v) => Ok(Value::from(*v)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// `$1` → `?1` for SQLite.
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

struct SqlitePool {
    path: PathBuf,
    readers: StdMutex<Vec<rusqlite::Connection>>,
    reader_slots: Semaphore,
    writer: Arc<Mutex<Option<rusqlite::Connection>>>,
}

/// The SQLite file and its `synchronous` mode. FULL by default: in WAL mode every commit is
/// synced, so an acknowledged write survives a power loss. `<file>?synchronous=normal` (what
/// `gatehouse serve --sqlite-synchronous normal` passes) syncs only at checkpoints: faster
/// commits, and a power loss may drop the last acknowledged ones (never corrupts the file).
fn sqlite_target(path: &std::path::Path) -> DbResult<(PathBuf, &'static str)> {
    let text = path.to_string_lossy();
    let Some((file, mode)) = text
        .rsplit_once('?')
        .and_then(|(file, query)| Some((file, query.strip_prefix("synchronous=")?)))
    else {
        return Ok((path.to_path_buf(), "FULL"));
    };
    let mode = match mode.to_ascii_lowercase().as_str() {
        "full" => "FULL",
        "normal" => "NORMAL",
        "extra" => "EXTRA",
        other => {
            return Err(anyhow!(
                "unknown SQLite synchronous mode `{other}` (full, normal or extra)"
            ));
        }
    };
    Ok((PathBuf::from(file), mode))
}

fn open_sqlite(path: &std::path::Path) -> DbResult<rusqlite::Connection> {
    let (path, synchronous) = sqlite_target(path)?;
    let conn =
        rusqlite::Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;"
    ))?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

fn sqlite_run(conn: &rusqlite::Connection, sql: &str, params: &[P]) -> DbResult<(Vec<Row>, u64)> {
    let mut stmt = conn
        .prepare_cached(&sqlite_sql(sql))
        .with_context(|| format!("preparing: {sql}"))?;
    let cols: Arc<[String]> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if cols.is_empty() {
        let n = stmt.execute(rusqlite::params_from_iter(params.iter()))?;
        return Ok((Vec::new(), n as u64));
    }
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut vals = Vec::with_capacity(cols.len());
        for i in 0..cols.len() {
            use rusqlite::types::ValueRef;
            vals.push(match r.get_ref(i)? {
                ValueRef::Null => V::Null,
                ValueRef::Integer(v) => V::I64(v),
                ValueRef::Real(v) => V::F64(v),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    V::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(Row {
            cols: cols.clone(),
            vals,
        });
    }
    let n = out.len() as u64;
    Ok((out, n))
}

/// Runs `f` on the blocking pool with `conn`, and hands the connection back with the result.
async fn on_blocking<T: Send + 'static>(
    conn: rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> T + Send + 'static,
) -> DbResult<(rusqlite::Connection, T)> {
    Ok(tokio::task::spawn_blocking(move || {
        let r = f(&conn);
        (conn, r)
    })
    .await?)
}

fn pg_rows(rows: Vec<tokio_postgres::Row>) -> DbResult<Vec<Row>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let cols: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let types: Vec<Type> = first.columns().iter().map(|c| c.type_().clone()).collect();
    rows.into_iter()
        .map(|r| {
            let mut vals = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                let v = match *ty {
                    Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map_or(V::Null, V::Bool),
                    Type::INT2 => r
                        .try_get::<_, Option<i16>>(i)?
                        .map_or(V::Null, |v| V::I64(v.into())),
                    Type::INT4 => r
                        .try_get::<_, Option<i32>>(i)?
                        .map_or(V::Null, |v| V::I64(v.into())),
                    Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map_or(V::Null, V::I64),
                    Type::FLOAT4 => r
                        .try_get::<_, Option<f32>>(i)?
                        .map_or(V::Null, |v| V::F64(v.into())),
                    Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map_or(V::Null, V::F64),
                    Type::JSON | Type::JSONB => {
                        r.try_get::<_, Option<Value>>(i)?.map_or(V::Null, V::Json)
                    }
                    // Anything else as text when it converts (`void` and the like read as NULL).
                    _ => r
                        .try_get::<_, Option<String>>(i)
                        .ok()
                        .flatten()
                        .map_or(V::Null, V::Text),
                };
                vals.push(v);
            }
            Ok(Row {
                cols: cols.clone(),
                vals,
            })
        })
        .collect()
}

async fn pg_run(
    client: &deadpool_postgres::Object,
    stmt: &tokio_postgres::Statement,
    params: &[P],
) -> DbResult<(Vec<Row>, u64)> {
    if stmt.columns().is_empty() {
        let n = client.execute(stmt, &pg_params(params)).await?;
        return Ok((Vec::new(), n));
    }
    let rows = pg_rows(client.query(stmt, &pg_params(params)).await?)?;
    let n = rows.len() as u64;
    Ok((rows, n))
}

fn pg_params(params: &[P]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// The database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Db {
    inner: DbInner,
}

#[derive(Clone)]
enum DbInner {
    Sqlite(Arc<SqlitePool>),
    Postgres(deadpool_postgres::Pool),
}

impl Db {
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; anything else is a SQLite file path
    /// (an optional `sqlite://` prefix is dropped).
    pub async fn connect(url: &str) -> DbResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut cfg: tokio_postgres::Config = url.parse().context("bad PostgreSQL URL")?;
            // One request, one backend process: parallel workers help a lone report, but on a
            // server answering many requests they take the cores the other requests need
            // (measured in bench/users.sh). The URL's own `options` come after, and win.
            let options = match cfg.get_options() {
                Some(o) => format!("-c max_parallel_workers_per_gather=0 {o}"),
                None => "-c max_parallel_workers_per_gather=0".to_owned(),
            };
            cfg.options(&options);
            let mgr = deadpool_postgres::Manager::from_config(
                cfg,
                tokio_postgres::NoTls,
                deadpool_postgres::ManagerConfig {
                    recycling_method: deadpool_postgres::RecyclingMethod::Fast,
                },
            );
            let pool = deadpool_postgres::Pool::builder(mgr).max_size(16).build()?;
            // Fail early on a wrong URL.
            drop(pool.get().await.context("connecting to PostgreSQL")?);
            return Ok(Self {
                inner: DbInner::Postgres(pool),
            });
        }
        let path = PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url));
        let writer = open_sqlite(&path)?;
        let n = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 2)
            .max(4);
        let mut readers = Vec::with_capacity(n);
        for _ in 0..n {
            readers.push(open_sqlite(&path)?);
        }
        Ok(Self {
            inner: DbInner::Sqlite(Arc::new(SqlitePool {
                path,
                readers: StdMutex::new(readers),
                reader_slots: Semaphore::new(n),
                writer: Arc::new(Mutex::new(Some(writer))),
            })),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            DbInner::Sqlite(_) => Dialect::Sqlite,
            DbInner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A read-only statement that uses an index (SQLite runs it inline on a reader connection).
    pub async fn query(&self, sql: &str, params: Vec<P>) -> DbResult<Vec<Row>> {
        match &self.inner {
            DbInner::Sqlite(pool) => {
                let _slot = pool.reader_slots.acquire().await?;
                let conn = pool
                    .readers
                    .lock()
                    .map_err(|_| anyhow!("reader pool poisoned"))?
                    .pop();
                let conn = match conn {
                    Some(c) => c,
                    None => open_sqlite(&pool.path)?,
                };
                // Run inline: a read by key comes from SQLite's page cache in microseconds, less
                // than a hand-off to the blocking pool costs (measured in bench/). Statements that
                // scan many rows must not come through here.
                let res = sqlite_run(&conn, sql, &params);
                if let Ok(mut readers) = pool.readers.lock() {
                    readers.push(conn);
                }
                Ok(res?.0)
            }
            DbInner::Postgres(pool) => {
                let client = pool.get().await.context("PostgreSQL pool")?;
                let stmt = client
                    .prepare_cached(sql)
                    .await
                    .with_context(|| format!("preparing: {sql}"))?;
                Ok(pg_run(&client, &stmt, &params).await?.0)
            }
        }
    }

    /// A read-only statement that may visit many rows (searches, counts): on SQLite it runs on
    /// the blocking pool so that it never stalls the async workers; on PostgreSQL it is prepared
    /// afresh (not kept in the connection's statement cache).
    pub async fn query_scan(&self, sql: &str, params: Vec<P>) -> DbResult<Vec<Row>> {
        match &self.inner {
            DbInner::Sqlite(pool) => {
                let _slot = pool.reader_slots.acquire().await?;
                let conn = pool
                    .readers
                    .lock()
                    .map_err(|_| anyhow!("reader pool poisoned"))?
                    .pop();
                let conn = match conn {
                    Some(c) => c,
                    None => open_sqlite(&pool.path)?,
                };
                let sql = sql.to_owned();
                let (conn, res) = on_blocking(conn, move |c| sqlite_run(c, &sql, &params)).await?;
                if let Ok(mut readers) = pool.readers.lock() {
                    readers.push(conn);
                }
                Ok(res?.0)
            }
            // Not cached: search statements vary with the query's shape, and a per-connection
            // statement cache would grow with every shape a caller invents.
            DbInner::Postgres(pool) => {
                let client = pool.get().await.context("PostgreSQL pool")?;
                let stmt = client
                    .prepare(sql)
                    .await
                    .with_context(|| format!("preparing: {sql}"))?;
                Ok(pg_run(&client, &stmt, &params).await?.0)
            }
        }
    }

    pub async fn query_opt(&self, sql: &str, params: Vec<P>) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// A single write (autocommit).
    pub async fn execute(&self, sql: &str, params: Vec<P>) -> DbResult<u64> {
        match &self.inner {
            DbInner::Sqlite(pool) => {
                let mut guard = pool.writer.lock().await;
                let conn = match guard.take() {
                    Some(c) => c,
                    None => open_sqlite(&pool.path)?,
                };
                let sql = sql.to_owned();
                let (conn, res) = on_blocking(conn, move |c| sqlite_run(c, &sql, &params)).await?;
                *guard = Some(conn);
                Ok(res?.1)
            }
            DbInner::Postgres(pool) => {
                let client = pool.get().await.context("PostgreSQL pool")?;
                let stmt = client
                    .prepare_cached(sql)
                    .await
                    .with_context(|| format!("preparing: {sql}"))?;
                Ok(pg_run(&client, &stmt, &params).await?.1)
            }
        }
    }

    /// Starts a transaction. Dropping it without `commit` rolls it back.
    pub async fn begin(&self) -> DbResult<Tx> {
        match &self.inner {
            DbInner::Sqlite(pool) => {
                let mut guard = pool.writer.clone().lock_owned().await;
                if guard.is_none() {
                    *guard = Some(open_sqlite(&pool.path)?);
                }
                let tx = Tx {
                    inner: Mutex::new(TxInner::Sqlite(guard)),
                    dialect: Dialect::Sqlite,
                    done: false,
                };
                tx.batch("BEGIN IMMEDIATE").await?;
                Ok(tx)
            }
            DbInner::Postgres(pool) => {
                let client = pool.get().await.context("PostgreSQL pool")?;
                client.batch_execute("BEGIN").await?;
                Ok(Tx {
                    inner: Mutex::new(TxInner::Postgres(Some(Box::new(client)))),
                    dialect: Dialect::Postgres,
                    done: false,
                })
            }
        }
    }
}

enum TxInner {
    Sqlite(OwnedMutexGuard<Option<rusqlite::Connection>>),
    Postgres(Option<Box<deadpool_postgres::Object>>),
}

/// An open transaction. Its methods take `&self`, so store functions can be written once for
/// [`Db`] and [`Tx`] through [`Exec`].
pub struct Tx {
    inner: Mutex<TxInner>,
    dialect: Dialect,
    done: bool,
}

impl Tx {
    async fn run(&self, sql: &str, params: Vec<P>) -> DbResult<(Vec<Row>, u64)> {
        let mut inner = self.inner.lock().await;
        match &mut *inner {
            TxInner::Sqlite(guard) => {
                let conn = guard.take().ok_or_else(|| anyhow!("SQLite writer lost"))?;
                let sql = sql.to_owned();
                let (conn, res) = on_blocking(conn, move |c| sqlite_run(c, &sql, &params)).await?;
                **guard = Some(conn);
                res
            }
            TxInner::Postgres(client) => {
                let client = client
                    .as_ref()
                    .ok_or_else(|| anyhow!("transaction finished"))?;
                let stmt = client
                    .prepare_cached(sql)
                    .await
                    .with_context(|| format!("preparing: {sql}"))?;
                pg_run(client, &stmt, &params).await
            }
        }
    }

    /// Runs SQL text without parameters (several statements allowed).
    pub async fn batch(&self, sql: &str) -> DbResult<()> {
        let mut inner = self.inner.lock().await;
        match &mut *inner {
            TxInner::Sqlite(guard) => {
                let conn = guard.take().ok_or_else(|| anyhow!("SQLite writer lost"))?;
                let sql = sql.to_owned();
                let (conn, res) = on_blocking(conn, move |c| c.execute_batch(&sql)).await?;
                **guard = Some(conn);
                Ok(res?)
            }
            TxInner::Postgres(client) => {
                let client = client
                    .as_ref()
                    .ok_or_else(|| anyhow!("transaction finished"))?;
                Ok(client.batch_execute(sql).await?)
            }
        }
    }

    /// What ends a `SELECT` that locks the rows it reads: ` FOR UPDATE` on PostgreSQL; nothing on
    /// SQLite, whose write transactions hold the database's write lock.
    pub fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    pub async fn commit(mut self) -> DbResult<()> {
        self.batch("COMMIT").await?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.inner.get_mut() {
            TxInner::Sqlite(guard) => {
                // Quick and local: roll back before the writer is handed on.
                if let Some(conn) = guard.as_ref()
                    && !conn.is_autocommit()
                    && conn.execute_batch("ROLLBACK").is_err()
                {
                    **guard = None;
                }
            }
            TxInner::Postgres(client) => {
                if let Some(client) = client.take() {
                    if let Ok(handle) = tokio::runtime::Handle::try_current() {
                        handle.spawn(async move {
                            if client.batch_execute("ROLLBACK").await.is_err() {
                                drop(deadpool_postgres::Object::take(*client));
                            }
                        });
                    } else {
                        drop(deadpool_postgres::Object::take(*client));
                    }
                }
            }
        }
    }
}

/// What store functions run their SQL on: the database or an open transaction.
pub trait Exec: Sync {
    fn query(&self, sql: &str, params: Vec<P>) -> impl Future<Output = DbResult<Vec<Row>>> + Send;
    fn execute(&self, sql: &str, params: Vec<P>) -> impl Future<Output = DbResult<u64>> + Send;
    fn query_opt(
        &self,
        sql: &str,
        params: Vec<P>,
    ) -> impl Future<Output = DbResult<Option<Row>>> + Send {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }
}

impl Exec for Db {
    async fn query(&self, sql: &str, params: Vec<P>) -> DbResult<Vec<Row>> {
        Db::query(self, sql, params).await
    }
    async fn execute(&self, sql: &str, params: Vec<P>) -> DbResult<u64> {
        Db::execute(self, sql, params).await
    }
}

impl Exec for Tx {
    async fn query(&self, sql: &str, params: Vec<P>) -> DbResult<Vec<Row>> {
        Ok(self.run(sql, params).await?.0)
    }
    async fn execute(&self, sql: &str, params: Vec<P>) -> DbResult<u64> {
        Ok(self.run(sql, params).await?.1)
    }
}

/// A row read inside a write transaction with its lock held: `SELECT … FOR UPDATE` on
/// PostgreSQL; on SQLite the transaction's `BEGIN IMMEDIATE` holds the database's write lock from
/// its first statement. The store's update functions take only a `Locked` row, so a row written
/// back was read in the transaction that writes it, and nothing another writer committed in
/// between is overwritten (no lost update). Read it with a `find_for_update`.
#[derive(Debug, Clone)]
pub struct Locked<T>(T);

impl<T> Locked<T> {
    /// Only the store locks rows: `Tx::for_update` is in its SQL.
    pub(crate) fn new(row: T) -> Self {
        Self(row)
    }

    pub fn into_inner(self) -> T {
        self.0
    }

    /// The same lock, over the row decoded.
    pub(crate) fn try_map<U, E>(self, f: impl FnOnce(&T) -> Result<U, E>) -> Result<Locked<U>, E> {
        f(&self.0).map(Locked)
    }
}

impl<T> std::ops::Deref for Locked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Locked<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// How many times [`atomically`] runs a transaction that keeps meeting conflicts.
pub const ATTEMPTS: u32 = 8;

/// An error that may be a transient conflict between transactions (a serialization failure or
/// deadlock on PostgreSQL, a busy database on SQLite): running the transaction again succeeds.
pub trait Transient: Sized {
    fn is_transient(&self) -> bool;
    /// What to answer when the conflicts outlast [`ATTEMPTS`].
    fn exhausted(self) -> Self {
        self
    }
}

impl Transient for anyhow::Error {
    fn is_transient(&self) -> bool {
        is_transient(self)
    }
}

impl Transient for gatehouse_core::Error {
    fn is_transient(&self) -> bool {
        matches!(self, gatehouse_core::Error::Internal(e) if is_transient(e))
    }
    /// 429, which the official SDKs retry by themselves; never a 500.
    fn exhausted(self) -> Self {
        tracing::warn!("a write kept conflicting with concurrent writes of the same data");
        gatehouse_core::Error::TooManyRequests(
            "Too many concurrent updates of the same resource, please retry".into(),
        )
    }
}

/// The one rule for every read-modify-write: `attempt` opens a transaction ([`Db::begin`]),
/// reads what it changes with a `find_for_update` (a [`Locked`] row), writes and commits. When it
/// fails with a transient conflict it is run again from the start, a bounded number of times with
/// a short random pause; other errors are returned as they are.
pub async fn atomically<T, E, Fut>(mut attempt: impl FnMut() -> Fut) -> Result<T, E>
where
    E: Transient,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_transient() => {
                if n >= ATTEMPTS {
                    return Err(e.exhausted());
                }
                // 1..2^n ms of jitter, so that the transactions that collided do not collide again.
                let cap = 1u64 << n.min(6);
                let jitter = u64::try_from(crate::seq_now()).unwrap_or(0) % cap + 1;
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                n += 1;
            }
            r => return r,
        }
    }
}

/// True when `err` is a transient conflict: PostgreSQL's serialization failure (40001) or
/// deadlock (40P01), SQLite's busy or locked database.
pub fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = e.downcast_ref::<rusqlite::Error>() {
            return matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            );
        }
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            use tokio_postgres::error::SqlState;
            return pg.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                || pg.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED);
        }
        false
    })
}

/// True when `err` is a unique-constraint violation on either backend (a 409 for the API).
pub fn is_unique_violation(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = e.downcast_ref::<rusqlite::Error>() {
            return f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
        }
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            return pg.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION);
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> anyhow::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None)
            .into()
    }

    #[tokio::test]
    async fn atomically_retries_conflicts_only() {
        // Two conflicts, then success: three attempts, the success returned.
        let mut n = 0;
        let r: Result<u32, anyhow::Error> = atomically(|| {
            n += 1;
            let fail = n < 3;
            async move { if fail { Err(busy()) } else { Ok(7) } }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(n, 3);

        // Any other error: returned at once.
        let mut n = 0;
        let r: Result<u32, anyhow::Error> = atomically(|| {
            n += 1;
            async { Err(anyhow!("not a conflict")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(n, 1);

        // Conflicts without end: ATTEMPTS tries, then a 429 (never a 500).
        let mut n = 0;
        let r: Result<u32, gatehouse_core::Error> = atomically(|| {
            n += 1;
            async { Err(gatehouse_core::Error::Internal(busy())) }
        })
        .await;
        assert_eq!(n, ATTEMPTS);
        assert_eq!(r.unwrap_err().status().as_u16(), 429);
    }

    #[test]
    fn placeholders() {
        assert_eq!(sqlite_sql("a = $1 AND b = $12"), "a = ?1 AND b = ?12");
    }
}
