//! Tenant logs (table `logs`): written in batches by the server's log writer, read by
//! `GET /logs`, `GET /logs/{id}` and `GET /users/{id}/logs`.
//!
//! Search (`q`) uses the Lucene syntax of user search (the same parser) over the entry's
//! searchable columns: `type`, `user_id`, `client_id`, `client_name`, `connection`, `ip`,
//! `user_name`, `description`, `user_agent`, `strategy`, `strategy_type`, `log_id` and `date`
//! (ranges: `date:[2026-01-01 TO *]`). Values match whole (as in user search); `*` is a wildcard.
//! A bare term is a case-insensitive prefix of `client_name`, `connection` or `user_name`, as
//! the spec describes `search`. Any other field matches nothing.

use serde_json::Value;

use crate::{
    DbResult, Dialect, Exec, P, params,
    user_search::{
        SearchError,
        parser::{Bound, Node, Pat, Value as Term, parse},
    },
};

/// One entry to store: its id, date and the entry as Auth0 shows it.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub log_id: String,
    pub date: String,
    pub body: Value,
}

/// The searchable columns, filled from the entry.
const COLUMNS: &[&str] = &[
    "type",
    "user_id",
    "client_id",
    "ip",
    "connection",
    "user_name",
    "client_name",
    "description",
    "user_agent",
    "strategy",
    "strategy_type",
];

/// Writes entries of any tenants, several per statement.
pub async fn insert_many(x: &impl Exec, rows: &[(String, LogRow)]) -> DbResult<()> {
    // 15 parameters a row: well under both backends' limits.
    for chunk in rows.chunks(200) {
        let mut ps = Vec::with_capacity(chunk.len() * (COLUMNS.len() + 4));
        let mut tuples = Vec::with_capacity(chunk.len());
        for (tenant, row) in chunk {
            let start = ps.len();
            ps.push(P::from(tenant));
            ps.push(P::from(&row.log_id));
            ps.push(P::from(&row.date));
            for c in COLUMNS {
                ps.push(P::from(
                    row.body.get(*c).and_then(Value::as_str).map(str::to_owned),
                ));
            }
            ps.push(P::from(&row.body));
            let marks: Vec<String> = (start + 1..=ps.len()).map(|i| format!("${i}")).collect();
            tuples.push(format!("({})", marks.join(", ")));
        }
        x.execute(
            &format!(
                "INSERT INTO logs (tenant_id, log_id, date, {}, body) VALUES {}",
                COLUMNS.join(", "),
                tuples.join(", ")
            ),
            ps,
        )
        .await?;
    }
    Ok(())
}

pub async fn get(x: &impl Exec, tenant: &str, log_id: &str) -> DbResult<Option<Value>> {
    x.query_opt(
        "SELECT body FROM logs WHERE tenant_id = $1 AND log_id = $2",
        params![tenant, log_id],
    )
    .await?
    .map(|r| r.json("body"))
    .transpose()
}

/// Entries by id, in id order (those that are gone are left out).
pub async fn get_many(x: &impl Exec, tenant: &str, ids: &[String]) -> DbResult<Vec<Value>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let mut ps = vec![P::from(tenant)];
        let mut marks = Vec::with_capacity(chunk.len());
        for id in chunk {
            ps.push(P::from(id));
            marks.push(format!("${}", ps.len()));
        }
        let rows = x
            .query(
                &format!(
                    "SELECT body FROM logs WHERE tenant_id = $1 AND log_id IN ({}) ORDER BY log_id",
                    marks.join(", ")
                ),
                ps,
            )
            .await?;
        for r in rows {
            out.push(r.json("body")?);
        }
    }
    Ok(out)
}

/// Removes every tenant's entries whose id sorts before `log_id` (ids start with the time).
pub async fn delete_before(db: &crate::Db, log_id: &str) -> DbResult<()> {
    let tenants = db.query("SELECT id FROM tenants", vec![]).await?;
    for t in tenants {
        let tenant = t.text("id")?;
        db.execute(
            "DELETE FROM logs WHERE tenant_id = $1 AND log_id < $2",
            params![tenant, log_id],
        )
        .await?;
    }
    Ok(())
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListRequest<'a> {
    pub q: Option<&'a str>,
    pub user_id: Option<&'a str>,
    /// `(column, ascending)`; `None`: newest first.
    pub sort: Option<(&'a str, bool)>,
    pub offset: i64,
    pub limit: i64,
    pub with_total: bool,
}

/// One page of entries, and the number of matches when asked.
pub async fn list(
    x: &impl Exec,
    d: Dialect,
    tenant: &str,
    req: &ListRequest<'_>,
) -> Result<(Vec<Value>, Option<i64>), ListError> {
    let mut sql = Sql {
        d,
        params: vec![P::from(tenant)],
    };
    let mut wheres = vec!["tenant_id = $1".to_owned()];
    if let Some(u) = req.user_id {
        let p = sql.bind(u);
        wheres.push(format!("user_id = {p}"));
    }
    if let Some(q) = req.q.filter(|q| !q.trim().is_empty()) {
        let node = parse(q).map_err(ListError::Query)?;
        wheres.push(sql.node(&node));
    }
    let order = match req.sort {
        Some((col, asc)) if col == "date" || COLUMNS.contains(&col) => {
            let dir = if asc { "ASC" } else { "DESC" };
            let col = if col == "date" { "log_id" } else { col };
            format!("{col} {dir}, log_id {dir}")
        }
        Some((_, true)) => "log_id ASC".to_owned(),
        _ => "log_id DESC".to_owned(),
    };
    let filter = wheres.join(" AND ");
    let total = if req.with_total {
        let row = x
            .query_opt(
                &format!("SELECT COUNT(*) AS n FROM logs WHERE {filter}"),
                sql.params.clone(),
            )
            .await
            .map_err(ListError::Db)?;
        Some(row.map_or(Ok(0), |r| r.i64("n")).map_err(ListError::Db)?)
    } else {
        None
    };
    let lim = sql.bind(req.limit);
    let off = sql.bind(req.offset);
    let rows = x
        .query(
            &format!(
                "SELECT body FROM logs WHERE {filter} ORDER BY {order} LIMIT {lim} OFFSET {off}"
            ),
            sql.params,
        )
        .await
        .map_err(ListError::Db)?;
    let items = rows
        .iter()
        .map(|r| r.json("body"))
        .collect::<DbResult<Vec<_>>>()
        .map_err(ListError::Db)?;
    Ok((items, total))
}

/// Up to `take` entries after the entry `from` (or the oldest ones), in id order.
pub async fn after(
    x: &impl Exec,
    tenant: &str,
    from: Option<&str>,
    take: i64,
) -> DbResult<Vec<Value>> {
    let rows = match from {
        Some(f) => {
            x.query(
                "SELECT body FROM logs WHERE tenant_id = $1 AND log_id > $2 ORDER BY log_id LIMIT $3",
                params![tenant, f, take],
            )
            .await?
        }
        None => {
            x.query(
                "SELECT body FROM logs WHERE tenant_id = $1 ORDER BY log_id LIMIT $2",
                params![tenant, take],
            )
            .await?
        }
    };
    rows.iter().map(|r| r.json("body")).collect()
}

#[derive(Debug)]
pub enum ListError {
    Query(SearchError),
    Db(anyhow::Error),
}

struct Sql {
    d: Dialect,
    params: Vec<P>,
}

/// `LIKE` with `\` escaping its wildcards.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Sql {
    fn bind(&mut self, v: impl Into<P>) -> String {
        self.params.push(v.into());
        format!("${}", self.params.len())
    }

    fn node(&mut self, n: &Node) -> String {
        match n {
            Node::All => "1 = 1".into(),
            Node::Not(inner) => format!("NOT ({})", self.node(inner)),
            Node::And(parts) => self.join(parts, " AND ", "1 = 1"),
            Node::Or(parts) => self.join(parts, " OR ", "1 = 0"),
            Node::Exists(f) => match column(f) {
                Some(c) => format!("{c} IS NOT NULL"),
                None => "1 = 0".into(),
            },
            Node::Leaf {
                field: Some(f),
                value,
            } => match column(f) {
                Some(c) => self.leaf(c, value, false),
                None => "1 = 0".into(),
            },
            Node::Leaf { field: None, value } => {
                let alts: Vec<String> = ["client_name", "connection", "user_name"]
                    .iter()
                    .map(|c| self.leaf(c, &prefix(value), true))
                    .collect();
                format!("({})", alts.join(" OR "))
            }
        }
    }

    fn join(&mut self, parts: &[Node], op: &str, empty: &str) -> String {
        if parts.is_empty() {
            return empty.to_owned();
        }
        let out: Vec<String> = parts.iter().map(|p| self.node(p)).collect();
        format!("({})", out.join(op))
    }

    fn leaf(&mut self, col: &str, value: &Term, ci: bool) -> String {
        let expr = if ci {
            format!("lower({col})")
        } else {
            col.to_owned()
        };
        let fold = |s: &str| if ci { s.to_lowercase() } else { s.to_owned() };
        match value {
            Term::Exact(s) => {
                let p = self.bind(fold(s));
                format!("{expr} = {p}")
            }
            Term::Pattern(pats) => {
                let mut pat = String::new();
                for p in pats {
                    match p {
                        Pat::Lit(s) => pat.push_str(&like_escape(&fold(s))),
                        Pat::Star => pat.push('%'),
                    }
                }
                let p = self.bind(pat);
                format!("{expr} LIKE {p} ESCAPE '\\'")
            }
            Term::Range(lo, hi) => {
                let c = match self.d {
                    Dialect::Postgres => format!("{expr} COLLATE \"C\""),
                    Dialect::Sqlite => expr.clone(),
                };
                let mut parts = vec![format!("{expr} IS NOT NULL")];
                for (b, is_lo) in [(lo, true), (hi, false)] {
                    let (op, v) = match b {
                        Bound::Open => continue,
                        Bound::Incl(v) => bound(col, v, is_lo, true),
                        Bound::Excl(v) => bound(col, v, is_lo, false),
                    };
                    let p = self.bind(fold(&v));
                    parts.push(format!("{c} {op} {p}"));
                }
                format!("({})", parts.join(" AND "))
            }
        }
    }
}

/// The comparison and value of one end of a range. A partial date names a whole period, as in
/// Elasticsearch: `[2026-01 TO 2026-01]` is all of January. Dates are stored as RFC 3339 text,
/// so "after the period" is "at or after the text with its last character incremented".
fn bound(col: &str, v: &str, is_lo: bool, incl: bool) -> (&'static str, String) {
    let partial = col == "date" && v.len() < 24;
    match (is_lo, incl, partial) {
        (true, true, _) => (">=", v.to_owned()),
        (true, false, false) => (">", v.to_owned()),
        (true, false, true) => (">=", successor(v)),
        (false, true, false) => ("<=", v.to_owned()),
        (false, true, true) => ("<", successor(v)),
        (false, false, _) => ("<", v.to_owned()),
    }
}

/// The smallest text greater than every text that starts with `v` (ASCII).
fn successor(v: &str) -> String {
    let mut b = v.as_bytes().to_vec();
    while let Some(last) = b.pop() {
        if last < 0x7e {
            b.push(last + 1);
            return String::from_utf8_lossy(&b).into_owned();
        }
    }
    "\u{7f}".to_owned()
}

/// A bare term is a prefix (Auth0: "a case insensitive 'starts with' search"); quoted, exact.
fn prefix(v: &Term) -> Term {
    match v {
        Term::Exact(s) => Term::Pattern(vec![Pat::Lit(s.clone()), Pat::Star]),
        other => other.clone(),
    }
}

/// The column a query field names.
fn column(field: &str) -> Option<&'static str> {
    match field {
        "date" => Some("date"),
        "log_id" | "_id" => Some("log_id"),
        f => COLUMNS.iter().copied().find(|c| *c == f),
    }
}

/// Successful logins (`s`: the hosted pages; `sepft`: the password grants) per day
/// (`YYYY-MM-DD`) dated in [from, until): (day, count, first, last), ascending.
pub async fn logins_by_day(
    x: &impl Exec,
    tenant: &str,
    from: &str,
    until: &str,
) -> DbResult<Vec<(String, i64, String, String)>> {
    let rows = x
        .query(
            "SELECT substr(date, 1, 10) AS day, COUNT(*) AS n, MIN(date) AS first, MAX(date) AS last \
             FROM logs WHERE tenant_id = $1 AND type IN ('s', 'sepft') AND date >= $2 AND date < $3 \
             GROUP BY substr(date, 1, 10) ORDER BY day",
            crate::params![tenant, from, until],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.text("day")?,
                r.i64("n")?,
                r.text("first")?,
                r.text("last")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(q: &str) -> (String, usize) {
        let mut s = Sql {
            d: Dialect::Sqlite,
            params: vec![P::from("t")],
        };
        let out = s.node(&parse(q).unwrap());
        (out, s.params.len())
    }

    #[test]
    fn fields_map_to_columns() {
        assert_eq!(sql("type:s").0, "type = $2");
        assert_eq!(sql("user_id:\"auth0|1\"").0, "user_id = $2");
        assert_eq!(
            sql("type:sapi AND client_id:abc").0,
            "(type = $2 AND client_id = $3)"
        );
        assert!(sql("description:Create*").0.contains("LIKE"));
        assert_eq!(sql("nosuchfield:x").0, "1 = 0");
    }

    #[test]
    fn bare_terms_are_prefixes_of_three_fields() {
        let (s, n) = sql("john");
        assert!(s.contains("lower(client_name) LIKE"));
        assert!(s.contains("lower(user_name) LIKE"));
        assert_eq!(n, 4);
    }

    #[test]
    fn date_ranges() {
        let (s, _) = sql("date:[2026-01-01 TO *]");
        assert!(s.contains("date >= $2"));
        let (s, _) = sql("date:[2026-01 TO 2026-01]");
        assert!(s.contains("date >= $2") && s.contains("date < $3"), "{s}");
        assert_eq!(successor("2026-01"), "2026-02");
        assert_eq!(successor("2026-09"), "2026-0:");
    }
}
