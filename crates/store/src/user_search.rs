//! User search: `GET /users?q=…&search_engine=v3` — Auth0's Lucene query syntax translated to
//! ONE SQL statement over `users`, `user_identities` and `user_attrs`, on both backends, with
//! indexes (see the `Search indexes` section of migration 0002). Rust only parses and builds SQL;
//! the database does the filtering, ordering and counting. Every value is a bound parameter.
//!
//! What Auth0 documents, and what this relies on ("User Search Query Syntax", "User Search",
//! "User Search Best Practices", "View Search Results by Page", "Sort Search Results", the
//! Management API spec of `GET /users`); quotes are Auth0's words:
//!
//! - "The query string is parsed into a series of terms and operators: A term can be a single
//!   word such as `jane` or `smith`. A term can be a phrase surrounded by double quotes
//!   (`"green apple"`) […] A term without a field name will not match text in the user metadata
//!   fields. Multiple terms can be grouped together with parentheses to form sub-queries."
//!   Bare terms are searched in `translate::DEFAULT_FIELDS` (Auth0 does not list them).
//! - "Search values for the normalized user fields (`email`, `name`, `given_name`, `family_name`,
//!   and `nickname`) are case insensitive. All other fields (including all
//!   `app_metadata`/`user_metadata` fields) are case sensitive."
//! - "Operators (`AND`, `OR`, `NOT`) work on all normalized user fields and root metadata fields."
//!   "Operators should always be capitalized." Lucene's `&&`, `||`, `!`, `+` and `-` are
//!   accepted too. Terms joined by whitespace follow Lucene's default operator, OR (Auth0's
//!   performance advice is to escape spaces, `name:John\ Doe`, because `name:John Doe` is two
//!   terms); `+term` is required and `-term` / `NOT term` excluded, as in Lucene. A clause list
//!   that only excludes (`NOT _exists_:x`) means "every user but…", so Auth0's example
//!   `email_verified:false OR NOT _exists_:email_verified` reads as written.
//! - Searchable fields: "all the normalized user profile fields" (`user_id`, `email`,
//!   `email_verified`, `username`, `name`, `nickname`, `given_name`, `family_name`) and the table
//!   of `phone_number`, `phone_verified`, `logins_count`, `created_at`, `updated_at`,
//!   `last_login`, `last_ip`, `blocked`, `email.domain` (and `organization_id`, which has no data
//!   here yet), plus `identities.connection|provider|user_id|isSocial`. Metadata: "In order to
//!   search a scalar value nested in another object, use the path to the field. For example,
//!   `app_metadata.subscription.plan:"gold"`" and, for arrays, "use the path to the field and
//!   ignore the array level" (`user_attrs` stores exactly that). Any other field (`picture`,
//!   `organization_id`, …) matches nothing, as an unmapped field does in Elasticsearch.
//! - "User fields are not tokenized like in v2, so `user_id:auth0` will not match a `user_id`
//!   with value `auth0|12345`, instead, use `user_id:auth0*`": a term matches the whole value.
//! - "To find exact matches, use double quotes: `name:"jane smith"`."
//! - "Wildcard searches can be run on terms using the asterisk character (`*`) to replace zero
//!   or more characters: `name:john*`." "The question mark character (`?`), is currently not
//!   supported" (refused; escape it to search for it). Examples: `name:*john*`,
//!   `name:jane*smith`. The current page (read in its Japanese edition) adds that for suffix
//!   matching the literal needs 3 characters or more: `name:*usa` is allowed, `name:*sa` is not.
//! - "Range and wildcard searches are not available on user_metadata fields" (refused; they
//!   work on `app_metadata`).
//! - "For inclusive ranges use square brackets: `[min TO max]`, and for exclusive ranges use
//!   curly brackets: `{min TO max}`. Curly and square brackets can be combined in the same range
//!   expression: `logins_count:[100 TO 200}`. You can also use wildcards within ranges."
//!   Examples: `last_login:[* TO 2017-12-31]`, `last_login:{2017-11 TO 2017-12]`,
//!   `updated_at:[2018-01-15 TO *]`. Partial dates round as in Elasticsearch (`gt`/`lte` up to
//!   the end of the period, `gte`/`lt` down to its start).
//! - `_exists_:field`, e.g. "`(NOT _exists_:logins_count OR logins_count:0)`" — users who never
//!   logged in have no `logins_count` in Auth0, so `_exists_:logins_count` is `logins_count > 0`.
//! - Sort: "pass a `field:order` value to the `sort` parameter […] order can be set to `1` for
//!   ascending order and `-1` for descending." "Sorting by `app_metadata` or `user_metadata` is
//!   not supported." Without `sort` the order is stable: `seq`, then `user_id`.
//! - "Auth0 limits the total number of users you can retrieve to 1000, so for example, 100 users
//!   per page for 10 pages." The spec's 400: "You can only page through the first 1000 records.
//!   See <https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation>."
//!   (`offset + limit > 1000`); `total` is the full count.
//! - `search_engine`: the spec's 400s "You are not allowed to use search_engine=v1." and "You are
//!   not allowed to use search_engine=v2. Use search_engine=v3 instead."
//!   ([`check_search_engine`]).
//!
//! Limits of this implementation: queries are bounded ([`MAX_QUERY_LEN`], [`MAX_DEPTH`],
//! [`MAX_LEAVES`]); wildcards that start with `*` cannot use an index and read the tenant's rows
//! (Auth0 advises against them too); case folding is SQLite's `lower()` (ASCII only) on SQLite
//! and PostgreSQL's on PostgreSQL.

pub mod parser;
mod translate;

use crate::{Db, DbResult, Dialect};

pub use parser::{MAX_DEPTH, MAX_LEAVES, MAX_QUERY_LEN};

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

/// How many results offset paging may reach.
pub const MAX_RESULTS: i64 = 1000;

/// Auth0's answer to a page beyond the first 1000 results.
pub const PAGING_LIMIT_MESSAGE: &str = "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation.";

/// `search_engine=`: v3 (the default) is the only engine; v1 and v2 get Auth0's refusals.
pub fn check_search_engine(engine: Option<&str>) -> Result<(), SearchError> {
    match engine {
        None | Some("v3") => Ok(()),
        Some("v2") => Err(SearchError {
            message: "You are not allowed to use search_engine=v2. Use search_engine=v3 instead."
                .into(),
        }),
        Some(other) => Err(SearchError {
            message: format!("You are not allowed to use search_engine={other}."),
        }),
    }
}

/// The statement for one request: the page, and the count of the same WHERE.
#[derive(Debug, Clone)]
pub struct Plan {
    pub page_sql: String,
    pub page_params: Vec<crate::P>,
    pub count_sql: String,
    pub count_params: Vec<crate::P>,
    /// SQLite, default order: the same page read by walking `users_seq` and probing each user
    /// (sub-queries correlated), which stops as soon as the page is full. Much faster when many
    /// users match (a tenth of the users: the page is found in a few hundred rows), much slower
    /// when few do; `search` picks it from the count (see [`prefer_walk`]).
    pub walk: Option<(String, Vec<crate::P>)>,
}

/// Whether walking the users in `seq` order finds the page sooner than reading the `matches`
/// users and sorting them: the walk visits about `wanted × users / matches` rows, the other
/// plan `matches` rows (each a random read, then a sort).
pub fn prefer_walk(matches: i64, wanted: i64, users: i64) -> bool {
    matches > 0
        && i128::from(matches) * i128::from(matches) > 4 * i128::from(wanted) * i128::from(users)
}

/// The prefix the translator gives a lone metadata condition (`users.user_id IN (SELECT …)`):
/// its count is read from the metadata index alone.
const ATTRS_IN: &str = "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE ";

/// Columns `sort` accepts: whether they are text (compared in byte order on PostgreSQL) and
/// whether they may be NULL.
const SORTABLE: &[(&str, bool, bool)] = &[
    ("user_id", true, false),
    ("email", true, true),
    ("username", true, true),
    ("phone_number", true, true),
    ("name", true, true),
    ("nickname", true, true),
    ("given_name", true, true),
    ("family_name", true, true),
    ("created_at", true, false),
    ("updated_at", true, false),
    ("last_login", true, true),
    ("last_ip", true, true),
    ("logins_count", false, false),
    ("blocked", false, false),
    ("email_verified", false, false),
    ("phone_verified", false, false),
];

fn order_by(sort: Option<&str>, d: Dialect) -> Result<String, SearchError> {
    const STABLE: &str = "seq, user_id";
    let Some(sort) = sort else {
        return Ok(STABLE.into());
    };
    let bad = |m: String| SearchError { message: m };
    let (field, dir) = sort.rsplit_once(':').ok_or_else(|| {
        bad(format!(
            "Invalid sort '{sort}': use field:1 (ascending) or field:-1 (descending)"
        ))
    })?;
    let dir = match dir {
        "1" => "ASC",
        "-1" => "DESC",
        _ => {
            return Err(bad(format!(
                "Invalid sort '{sort}': the order must be 1 (ascending) or -1 (descending)"
            )));
        }
    };
    if field.starts_with("app_metadata") || field.starts_with("user_metadata") {
        return Err(bad(format!(
            "Invalid sort '{sort}': sorting by app_metadata or user_metadata is not supported"
        )));
    }
    let Some(&(col, text, nullable)) = SORTABLE.iter().find(|(c, _, _)| *c == field) else {
        return Err(bad(format!(
            "Invalid sort '{sort}': cannot sort by '{field}'"
        )));
    };
    let key = if text && d == Dialect::Postgres {
        format!("{col} COLLATE \"C\"")
    } else {
        col.to_owned()
    };
    Ok(if nullable {
        // Users without the field come last either way (as in Elasticsearch).
        format!("({col} IS NULL), {key} {dir}, {STABLE}")
    } else {
        format!("{key} {dir}, {STABLE}")
    })
}

/// Parses and translates a request into SQL, without running it.
pub fn plan(d: Dialect, tenant: &str, req: &SearchRequest<'_>) -> Result<Plan, SearchError> {
    if req.offset < 0 || req.limit < 0 {
        return Err(SearchError {
            message: "Invalid paging: page and per_page must not be negative".into(),
        });
    }
    if req.offset.saturating_add(req.limit) > MAX_RESULTS {
        return Err(SearchError {
            message: PAGING_LIMIT_MESSAGE.into(),
        });
    }
    let mut sql = translate::Sql::new(d, tenant);
    let mut filters = Vec::new();
    if let Some(q) = req.q {
        let ast = parser::parse(q)?;
        if ast != parser::Node::All {
            filters.push(ast);
        }
    }
    if let Some(c) = req.connection {
        filters.push(parser::Node::Leaf {
            field: Some("identities.connection".into()),
            value: parser::Value::Exact(c.to_owned()),
        });
    }
    let filter = match filters.len() {
        0 => None,
        1 => filters.pop(),
        _ => Some(parser::Node::And(filters)),
    };
    let order = order_by(req.sort, d)?;
    let cond = filter.as_ref().map(|f| sql.node(f)).transpose()?;
    let where_sql = match &cond {
        Some(c) => format!("tenant_id = $1 AND {c}"),
        None => "tenant_id = $1".to_owned(),
    };
    let count_sql = match cond.as_deref().and_then(|c| c.strip_prefix(ATTRS_IN)) {
        // `rest` is the sub-query's condition and its closing parenthesis.
        Some(rest) => format!(
            "SELECT {} AS n FROM user_attrs a WHERE {}",
            // An exact text value matches at most one row per user (`user_attrs_user` is
            // unique on user, path and value); numbers, ranges and patterns may match several.
            if filter.as_ref().is_some_and(is_exact_text_metadata) {
                "COUNT(*)"
            } else {
                "COUNT(DISTINCT a.user_id)"
            },
            rest.strip_suffix(')').unwrap_or(rest)
        ),
        None => format!("SELECT COUNT(*) AS n FROM users WHERE {where_sql}"),
    };
    let count_params = sql.params.clone();
    let limit = sql.bind(req.limit);
    let offset = sql.bind(req.offset);
    let page_sql = format!(
        "SELECT user_id FROM users WHERE {where_sql} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    let walk = match (&filter, d, req.sort) {
        (Some(f), Dialect::Sqlite, None) => {
            let mut w = translate::Sql::correlated(d, tenant);
            let cond = w.node(f)?;
            let limit = w.bind(req.limit);
            let offset = w.bind(req.offset);
            Some((
                format!(
                    "SELECT user_id FROM users INDEXED BY users_seq WHERE tenant_id = $1 AND {cond} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
                ),
                w.params,
            ))
        }
        _ => None,
    };
    Ok(Plan {
        page_sql,
        page_params: sql.params,
        count_sql,
        count_params,
        walk,
    })
}

/// `app_metadata.x:"text"` / `user_metadata.x:text` with a value that is not a number.
fn is_exact_text_metadata(n: &parser::Node) -> bool {
    match n {
        parser::Node::Leaf {
            field: Some(f),
            value: parser::Value::Exact(v),
        } => {
            (f.starts_with("app_metadata.") || f.starts_with("user_metadata."))
                && translate::finite(v).is_none()
        }
        _ => false,
    }
}

/// How many users a tenant has, re-counted at most every 30 s per tenant: the walk-or-sort
/// choice only needs the order of magnitude.
async fn tenant_users(db: &Db, tenant: &str) -> DbResult<i64> {
    use std::{
        collections::HashMap,
        sync::{LazyLock, Mutex},
        time::{Duration, Instant},
    };
    static CACHE: LazyLock<Mutex<HashMap<String, (Instant, i64)>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    const FRESH: Duration = Duration::from_secs(30);
    if let Ok(cache) = CACHE.lock()
        && let Some((at, n)) = cache.get(tenant)
        && at.elapsed() < FRESH
    {
        return Ok(*n);
    }
    let n = db
        .query_scan(
            "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1",
            crate::params![tenant],
        )
        .await?
        .first()
        .map(|r| r.i64("n"))
        .transpose()?
        .unwrap_or(0);
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(tenant.to_owned(), (Instant::now(), n));
    }
    Ok(n)
}

pub async fn search(
    db: &Db,
    tenant: &str,
    req: &SearchRequest<'_>,
) -> DbResult<Result<SearchResult, SearchError>> {
    let plan = match plan(db.dialect(), tenant, req) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    // The count comes first when it is wanted or when it decides how to read the page.
    let total = if req.include_totals || (plan.walk.is_some() && req.limit > 0) {
        let r = db.query_scan(&plan.count_sql, plan.count_params).await?;
        Some(r.first().map(|r| r.i64("n")).transpose()?.unwrap_or(0))
    } else {
        None
    };
    let user_ids = if req.limit == 0 || total == Some(0) {
        Vec::new()
    } else {
        let (sql, params) = match (plan.walk, total) {
            (Some(walk), Some(matches))
                if prefer_walk(
                    matches,
                    req.offset + req.limit,
                    tenant_users(db, tenant).await?,
                ) =>
            {
                walk
            }
            _ => (plan.page_sql, plan.page_params),
        };
        db.query_scan(&sql, params)
            .await?
            .iter()
            .map(|r| r.text("user_id"))
            .collect::<DbResult<Vec<_>>>()?
    };
    Ok(Ok(SearchResult {
        user_ids,
        total: total.filter(|_| req.include_totals),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(q: &str) -> SearchRequest<'_> {
        SearchRequest {
            q: Some(q),
            limit: 50,
            ..Default::default()
        }
    }

    #[test]
    fn search_engines() {
        assert_eq!(check_search_engine(None), Ok(()));
        assert_eq!(check_search_engine(Some("v3")), Ok(()));
        assert_eq!(
            check_search_engine(Some("v1")).unwrap_err().message,
            "You are not allowed to use search_engine=v1."
        );
        assert_eq!(
            check_search_engine(Some("v2")).unwrap_err().message,
            "You are not allowed to use search_engine=v2. Use search_engine=v3 instead."
        );
    }

    #[test]
    fn paging_limit() {
        let ok = SearchRequest {
            offset: 900,
            limit: 100,
            ..Default::default()
        };
        assert!(plan(Dialect::Sqlite, "t", &ok).is_ok());
        let over = SearchRequest {
            offset: 1000,
            limit: 1,
            ..Default::default()
        };
        assert_eq!(
            plan(Dialect::Sqlite, "t", &over).unwrap_err().message,
            PAGING_LIMIT_MESSAGE
        );
        let huge = SearchRequest {
            offset: i64::MAX,
            limit: i64::MAX,
            ..Default::default()
        };
        assert!(plan(Dialect::Sqlite, "t", &huge).is_err());
    }

    #[test]
    fn sorts() {
        assert_eq!(order_by(None, Dialect::Sqlite).unwrap(), "seq, user_id");
        assert_eq!(
            order_by(Some("created_at:1"), Dialect::Sqlite).unwrap(),
            "created_at ASC, seq, user_id"
        );
        assert_eq!(
            order_by(Some("name:-1"), Dialect::Postgres).unwrap(),
            "(name IS NULL), name COLLATE \"C\" DESC, seq, user_id"
        );
        assert!(
            order_by(Some("app_metadata.plan:1"), Dialect::Sqlite)
                .unwrap_err()
                .message
                .contains("not supported")
        );
        assert!(
            order_by(Some("body:1"), Dialect::Sqlite)
                .unwrap_err()
                .message
                .contains("cannot sort by 'body'")
        );
        assert!(order_by(Some("name:2"), Dialect::Sqlite).is_err());
        assert!(order_by(Some("name"), Dialect::Sqlite).is_err());
    }

    #[test]
    fn metadata_counts_from_the_index_and_dense_pages_walk() {
        let p = plan(Dialect::Sqlite, "t", &req(r#"app_metadata.plan:"gold""#)).unwrap();
        assert_eq!(
            p.count_sql,
            "SELECT COUNT(*) AS n FROM user_attrs a WHERE a.tenant_id = $1 AND a.path = $2 AND a.value_text = $3"
        );
        let (walk, params) = p.walk.unwrap();
        assert_eq!(
            walk,
            "SELECT user_id FROM users INDEXED BY users_seq WHERE tenant_id = $1 AND EXISTS (SELECT 1 FROM user_attrs a WHERE a.tenant_id = $1 AND a.user_id = users.user_id AND a.path = $2 AND a.value_text = $3) ORDER BY seq, user_id LIMIT $4 OFFSET $5"
        );
        assert_eq!(params.len(), 5);
        // A number may match two rows of one user (`10` and `10.0`): counted distinct.
        let num = plan(Dialect::Sqlite, "t", &req("app_metadata.tier:10")).unwrap();
        assert!(
            num.count_sql
                .starts_with("SELECT COUNT(DISTINCT a.user_id) AS n FROM user_attrs a WHERE"),
            "{}",
            num.count_sql
        );
        // Anything more than one metadata condition is counted over users.
        let p = plan(
            Dialect::Sqlite,
            "t",
            &req(r#"app_metadata.plan:"gold" AND name:jo*"#),
        )
        .unwrap();
        assert!(
            p.count_sql
                .starts_with("SELECT COUNT(*) AS n FROM users WHERE")
        );
        // No walk with an explicit sort, or on PostgreSQL (its planner stops early by itself).
        let sorted = SearchRequest {
            sort: Some("created_at:1"),
            ..req("name:jo*")
        };
        assert!(plan(Dialect::Sqlite, "t", &sorted).unwrap().walk.is_none());
        assert!(
            plan(Dialect::Postgres, "t", &req("name:jo*"))
                .unwrap()
                .walk
                .is_none()
        );
        // Walk when matches are dense: 40k of 1M users for a page of 50; not 100 of them.
        assert!(prefer_walk(40_000, 50, 1_000_000));
        assert!(!prefer_walk(100, 50, 1_000_000));
        assert!(!prefer_walk(0, 50, 0));
    }

    #[test]
    fn whole_statements() {
        let p = plan(
            Dialect::Sqlite,
            "t",
            &SearchRequest {
                q: Some("name:jo*"),
                connection: Some("db"),
                sort: Some("logins_count:-1"),
                offset: 10,
                limit: 5,
                include_totals: true,
            },
        )
        .unwrap();
        assert_eq!(
            p.page_sql,
            "SELECT user_id FROM users WHERE tenant_id = $1 AND ((lower(name) IS NOT NULL AND lower(name) >= lower($2) AND lower(name) < lower($2) || $3) AND EXISTS (SELECT 1 FROM user_identities i WHERE i.tenant_id = $1 AND i.user_id = users.user_id AND i.connection = $4)) ORDER BY logins_count DESC, seq, user_id LIMIT $5 OFFSET $6"
        );
        assert_eq!(p.page_params.len(), 6);
        assert_eq!(
            p.count_sql,
            "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND ((lower(name) IS NOT NULL AND lower(name) >= lower($2) AND lower(name) < lower($2) || $3) AND EXISTS (SELECT 1 FROM user_identities i WHERE i.tenant_id = $1 AND i.user_id = users.user_id AND i.connection = $4))"
        );
        assert_eq!(p.count_params.len(), 4);
        // `*` and an empty query list everyone.
        for q in ["", "*", "*:*"] {
            assert_eq!(
                plan(Dialect::Sqlite, "t", &req(q)).unwrap().count_sql,
                "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1"
            );
        }
    }

    /// Random and garbage queries: always Ok or a SearchError, never a panic, always quick.
    #[test]
    fn fuzz() {
        // A small deterministic generator (xorshift), no dependency needed.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const PIECES: &[&str] = &[
            "name",
            "email",
            ":",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            "\"",
            "\\",
            "*",
            "?",
            " ",
            "AND",
            "OR",
            "NOT",
            "TO",
            "&&",
            "||",
            "!",
            "+",
            "-",
            "_exists_",
            "app_metadata.plan",
            "user_metadata.x",
            "identities.connection",
            "logins_count",
            "created_at",
            "2019-01",
            "12",
            "-5",
            "1.5",
            "jo",
            "é",
            "\u{10FFFF}",
            "'",
            ";",
            "%",
            "_",
            "^",
            "~",
            "\t",
            "\0",
            "blocked",
            "true",
            "email.domain",
            "x@y.z",
            "*usa",
            "::",
            "\\\"",
        ];
        let started = std::time::Instant::now();
        for round in 0..20_000 {
            let n = (next() % 24) as usize;
            let mut q = String::new();
            for _ in 0..n {
                if next() % 5 == 0 {
                    // Raw random characters, including invalid-looking ones.
                    let c = char::from_u32((next() % 0x3000) as u32).unwrap_or('x');
                    q.push(c);
                } else {
                    q.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                }
            }
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                let r = plan(d, "t", &req(&q));
                if let Err(e) = &r {
                    assert!(!e.message.is_empty(), "round {round}: {q:?}");
                }
            }
        }
        // Pathological shapes.
        for q in [
            "(".repeat(100_000),
            ")".repeat(10_000),
            "NOT ".repeat(5_000),
            "a:".repeat(3_000),
            "\\".repeat(8_000),
            "\"".repeat(8_001),
            "[".repeat(8_000),
            "a OR ".repeat(1_500),
            "*".repeat(8_000),
        ] {
            let _ = plan(Dialect::Postgres, "t", &req(&q));
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "fuzzing took {:?}",
            started.elapsed()
        );
    }
}
