//! Multi-row INSERTs: many rows per statement, for seeding and imports.

use crate::{DbResult, Exec, P};

/// At most this many bound parameters per statement (SQLite's default limit is 32 766,
/// PostgreSQL's 65 535).
const MAX_PARAMS: usize = 30_000;

/// Inserts `rows` (each with one value per column, in `columns` order) into `table`, as few
/// statements as the parameter limit allows. Returns the number of rows inserted.
pub async fn insert_rows(
    x: &impl Exec,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<P>>,
) -> DbResult<u64> {
    let width = columns.len().max(1);
    let per_statement = (MAX_PARAMS / width).max(1);
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<P>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut params = Vec::with_capacity(chunk.len() * width);
        for (i, row) in chunk.into_iter().enumerate() {
            anyhow::ensure!(
                row.len() == columns.len(),
                "bulk insert into {table}: a row has {} values for {} columns",
                row.len(),
                columns.len()
            );
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for j in 0..width {
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&(params.len() + j + 1).to_string());
            }
            sql.push(')');
            params.extend(row);
        }
        inserted += x.execute(&sql, params).await?;
    }
    Ok(inserted)
}
