//! User search: `GET /users?q=…&search_engine=v3` — Auth0's Lucene query syntax translated to
//! SQL over `users`, `user_identities` and `user_attrs`, on both backends, with indexes.
//!
//! INTERFACE PLACEHOLDER: lists without `q` only; the search itself is being written.

use crate::{Db, DbResult, params};

/// What `GET /users` asks for, after the spine's validation.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest<'a> {
    /// The Lucene query (`q`), if any.
    pub q: Option<&'a str>,
    /// `connection=` (the name of a connection any identity of the user is in).
    pub connection: Option<&'a str>,
    /// `sort=field:1|-1`.
    pub sort: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
    /// Whether the caller wants `total`.
    pub include_totals: bool,
}

/// The page of matching users, in order, and how many match in all (when asked for).
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub user_ids: Vec<String>,
    pub total: Option<i64>,
}

/// A query or sort the caller got wrong: the handler answers 400 `invalid_query_string` with
/// this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError {
    pub message: String,
}

pub async fn search(
    db: &Db,
    tenant: &str,
    req: &SearchRequest<'_>,
) -> DbResult<Result<SearchResult, SearchError>> {
    if req.q.is_some() || req.connection.is_some() || req.sort.is_some() {
        return Ok(Err(SearchError {
            message: "user search is not available yet".into(),
        }));
    }
    let rows = db
        .query_scan(
            "SELECT user_id FROM users WHERE tenant_id = $1 ORDER BY seq, user_id LIMIT $2 OFFSET $3",
            params![tenant, req.limit, req.offset],
        )
        .await?;
    let user_ids = rows
        .iter()
        .map(|r| r.text("user_id"))
        .collect::<DbResult<Vec<_>>>()?;
    let total = if req.include_totals {
        let r = db
            .query_scan(
                "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1",
                params![tenant],
            )
            .await?;
        Some(r.first().map(|r| r.i64("n")).transpose()?.unwrap_or(0))
    } else {
        None
    };
    Ok(Ok(SearchResult { user_ids, total }))
}
