//! [`Node`] → one SQL boolean expression over `users` (and `IN (SELECT …)` sub-queries on
//! `user_identities` and `user_attrs`), every value a bound parameter.
//!
//! Every predicate this emits is two-valued (never NULL), so that `NOT` means "everything else"
//! as it does in Lucene: predicates on nullable columns start with `col IS NOT NULL AND`.
//!
//! On PostgreSQL, text comparisons use `COLLATE "C"` (byte order, as SQLite's BINARY) against
//! indexes declared with the same collation: ranges and prefix scans are then exact, and the
//! two backends order alike.

use super::{
    SearchError,
    parser::{Bound, Node, Pat, Value},
};
use crate::{Dialect, P};

/// Greater than every character a stored value holds: `prefix || MAX` bounds a prefix scan.
const MAX_CHAR: &str = "\u{10FFFF}";
/// Greater than every character of an ISO-8601 timestamp: `2019-01 || '~'` is after all of
/// January 2019.
const DATE_END: char = '~';
/// Auth0: "For suffix matching, literals must have 3 characters or more."
const MIN_SUFFIX_LITERAL: usize = 3;

/// The fields a term without a field name is searched in (Auth0 does not list them; it says
/// such a term "will not match text in the user metadata fields").
pub const DEFAULT_FIELDS: &[&str] = &[
    "name",
    "nickname",
    "given_name",
    "family_name",
    "email",
    "username",
    "user_id",
];

/// How a field is stored and compared.
#[derive(Debug, Clone)]
enum Target {
    /// A text column (or expression). `ci`: compared case-insensitively through `lower()` on
    /// both sides; `lower_value`: the stored value is lower-case already (email), so only the
    /// searched value is lower-cased.
    Text {
        expr: String,
        ci: bool,
        lower_value: bool,
        nullable: bool,
        identity: bool,
    },
    Bool {
        expr: String,
        identity: bool,
    },
    Int {
        expr: &'static str,
    },
    /// ISO-8601 text; a value may be partial (`2019`, `2019-01`, `2019-01-01T10`).
    Date {
        expr: &'static str,
        nullable: bool,
    },
    /// `app_metadata.…` / `user_metadata.…` (`user`: Auth0 allows neither wildcards nor ranges
    /// on user_metadata).
    Meta {
        path: String,
        user: bool,
    },
    /// Not a searchable field: matches nothing.
    Nothing,
}

fn target(field: &str, d: Dialect) -> Target {
    let text = |col: &str, ci: bool, nullable: bool| Target::Text {
        expr: col.to_owned(),
        ci,
        lower_value: false,
        nullable,
        identity: false,
    };
    let identity = |col: &str| Target::Text {
        expr: format!("i.{col}"),
        ci: false,
        lower_value: false,
        nullable: false,
        identity: true,
    };
    match field {
        "user_id" => text("user_id", false, false),
        "email" => Target::Text {
            expr: "email".into(),
            ci: false,
            lower_value: true,
            nullable: true,
            identity: false,
        },
        "email.domain" => Target::Text {
            expr: email_domain(d).into(),
            ci: false,
            lower_value: true,
            nullable: true,
            identity: false,
        },
        "name" | "nickname" | "given_name" | "family_name" => text(field, true, true),
        "username" | "phone_number" | "last_ip" => text(field, false, true),
        "email_verified" | "phone_verified" | "blocked" => Target::Bool {
            expr: field.to_owned(),
            identity: false,
        },
        "logins_count" => Target::Int {
            expr: "logins_count",
        },
        "created_at" => Target::Date {
            expr: "created_at",
            nullable: false,
        },
        "updated_at" => Target::Date {
            expr: "updated_at",
            nullable: false,
        },
        "last_login" => Target::Date {
            expr: "last_login",
            nullable: true,
        },
        "identities.connection" => identity("connection"),
        "identities.provider" => identity("provider"),
        "identities.user_id" => identity("identity_user_id"),
        "identities.isSocial" => Target::Bool {
            expr: "i.is_social".into(),
            identity: true,
        },
        _ => {
            if let Some(rest) = field.strip_prefix("app_metadata.")
                && !rest.is_empty()
            {
                Target::Meta {
                    path: field.to_owned(),
                    user: false,
                }
            } else if let Some(rest) = field.strip_prefix("user_metadata.")
                && !rest.is_empty()
            {
                Target::Meta {
                    path: field.to_owned(),
                    user: true,
                }
            } else {
                Target::Nothing
            }
        }
    }
}

/// The domain part of `email`, as the `users_search_email_domain` index declares it.
pub fn email_domain(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "substr(email, instr(email, '@') + 1)",
        Dialect::Postgres => "split_part(email, '@', 2)",
    }
}

fn bad(message: String) -> SearchError {
    SearchError { message }
}

/// Builds SQL and its parameters. `$1` is the tenant.
pub struct Sql {
    d: Dialect,
    pub params: Vec<P>,
    /// Whether sub-queries on identities and metadata are written as correlated `EXISTS`
    /// (probed per candidate user) rather than `user_id IN (…)` (driven from the sub-query).
    correlate: bool,
}

impl Sql {
    pub fn new(d: Dialect, tenant: &str) -> Self {
        Self {
            d,
            params: vec![P::from(tenant)],
            correlate: false,
        }
    }

    /// Every sub-query on identities and metadata as a correlated `EXISTS`: for a page read in
    /// `seq` order that stops after a few rows (see `user_search::plan`).
    pub fn correlated(d: Dialect, tenant: &str) -> Self {
        Self {
            correlate: true,
            ..Self::new(d, tenant)
        }
    }

    /// Whether `n` narrows `users` through one of its own indexes (an exact value, a prefix or
    /// a range on an indexed column, or alternatives that all do).
    fn is_anchor(&self, n: &Node) -> bool {
        let narrows = |v: &Value| match v {
            Value::Exact(_) => true,
            Value::Pattern(p) => matches!(p.first(), Some(Pat::Lit(_))),
            Value::Range(lo, hi) => !(*lo == Bound::Open && *hi == Bound::Open),
        };
        match n {
            Node::Leaf { field: None, value } => narrows(value),
            Node::Leaf {
                field: Some(f),
                value,
            } => match target(f, self.d) {
                Target::Text { identity, .. } => !identity && narrows(value),
                Target::Int { .. } | Target::Date { .. } => narrows(value),
                _ => false,
            },
            Node::Or(parts) => !parts.is_empty() && parts.iter().all(|p| self.is_anchor(p)),
            Node::And(parts) => parts.iter().any(|p| self.is_anchor(p)),
            _ => false,
        }
    }

    pub fn bind(&mut self, v: impl Into<P>) -> String {
        self.params.push(v.into());
        format!("${}", self.params.len())
    }

    /// `expr`, compared in byte order on both backends.
    fn c(&self, expr: &str) -> String {
        match self.d {
            Dialect::Sqlite => expr.to_owned(),
            Dialect::Postgres => format!("{expr} COLLATE \"C\""),
        }
    }

    /// A number, bound as a float.
    fn num(&mut self, v: f64) -> String {
        self.bind(v)
    }

    pub fn node(&mut self, n: &Node) -> Result<String, SearchError> {
        Ok(match n {
            Node::All => "1 = 1".into(),
            Node::Not(inner) => format!("NOT ({})", self.node(inner)?),
            Node::And(parts) => {
                // SQLite assumes an `IN (SELECT …)` list is short and drives the query from it;
                // when a sibling narrows `users` through an index, probing the identities or
                // metadata of those few users is much cheaper than reading every user of a
                // connection (PostgreSQL plans both forms as the same semi-join).
                let saved = self.correlate;
                self.correlate |= parts.iter().any(|p| self.is_anchor(p));
                let out = self.join(parts, " AND ", "1 = 1");
                self.correlate = saved;
                out?
            }
            Node::Or(parts) => self.join(parts, " OR ", "1 = 0")?,
            Node::Exists(field) => self.exists(field),
            Node::Leaf {
                field: Some(f),
                value,
            } => self.leaf(f, value)?,
            Node::Leaf { field: None, value } => {
                let mut alts = Vec::with_capacity(DEFAULT_FIELDS.len());
                for f in DEFAULT_FIELDS {
                    alts.push(self.leaf(f, value)?);
                }
                format!("({})", alts.join(" OR "))
            }
        })
    }

    fn join(&mut self, parts: &[Node], op: &str, empty: &str) -> Result<String, SearchError> {
        if parts.is_empty() {
            return Ok(empty.to_owned());
        }
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            out.push(self.node(p)?);
        }
        Ok(format!("({})", out.join(op)))
    }

    fn identities(&self, pred: &str) -> String {
        self.sub("user_identities", "i", pred)
    }

    fn attrs(&self, pred: &str) -> String {
        self.sub("user_attrs", "a", pred)
    }

    fn sub(&self, table: &str, alias: &str, pred: &str) -> String {
        if self.correlate {
            format!(
                "EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.tenant_id = $1 AND {alias}.user_id = users.user_id AND {pred})"
            )
        } else {
            self.sub_in(table, alias, pred)
        }
    }

    fn sub_in(&self, table: &str, alias: &str, pred: &str) -> String {
        format!(
            "users.user_id IN (SELECT {alias}.user_id FROM {table} {alias} WHERE {alias}.tenant_id = $1 AND {pred})"
        )
    }

    fn exists(&mut self, field: &str) -> String {
        if field == "app_metadata" || field == "user_metadata" {
            let lo = self.bind(format!("{field}."));
            let hi = self.bind(format!("{field}/"));
            let path = self.c("a.path");
            return self.attrs(&format!("{path} >= {lo} AND {path} < {hi}"));
        }
        if field == "identities" {
            // Every user has at least its primary identity.
            return self.identities("1 = 1");
        }
        match target(field, self.d) {
            Target::Text {
                expr,
                nullable,
                identity,
                ..
            } => {
                if identity {
                    self.identities("1 = 1")
                } else if nullable {
                    format!("{expr} IS NOT NULL")
                } else {
                    "1 = 1".into()
                }
            }
            Target::Bool { identity, .. } => {
                if identity {
                    self.identities("1 = 1")
                } else {
                    "1 = 1".into()
                }
            }
            // Auth0 leaves logins_count out of a profile until the first login.
            Target::Int { expr } => format!("{expr} > 0"),
            Target::Date { expr, nullable } => {
                if nullable {
                    format!("{expr} IS NOT NULL")
                } else {
                    "1 = 1".into()
                }
            }
            Target::Meta { path, .. } => {
                // The leaf itself, or any leaf under it when it is an object.
                let p = self.bind(path.clone());
                let lo = self.bind(format!("{path}."));
                let hi = self.bind(format!("{path}/"));
                let c = self.c("a.path");
                self.attrs(&format!("(a.path = {p} OR ({c} >= {lo} AND {c} < {hi}))"))
            }
            Target::Nothing => "1 = 0".into(),
        }
    }

    fn leaf(&mut self, field: &str, value: &Value) -> Result<String, SearchError> {
        match target(field, self.d) {
            Target::Text {
                expr,
                ci,
                lower_value,
                nullable,
                identity,
            } => {
                let pred = self.text(field, &expr, ci, lower_value, value)?;
                Ok(if identity {
                    // An identity's own id finds one user: always drive from it.
                    if field == "identities.user_id" && matches!(value, Value::Exact(_)) {
                        self.sub_in("user_identities", "i", &pred)
                    } else {
                        self.identities(&pred)
                    }
                } else if nullable {
                    // The null test on what the index holds (`lower(name)`), so that a count
                    // can be answered from the index alone.
                    let held = if ci {
                        format!("lower({expr})")
                    } else {
                        expr.clone()
                    };
                    format!("({held} IS NOT NULL AND {pred})")
                } else {
                    format!("({pred})")
                })
            }
            Target::Bool { expr, identity } => {
                let b = match value {
                    Value::Exact(s) if s == "true" => true,
                    Value::Exact(s) if s == "false" => false,
                    Value::Exact(s) => {
                        return Err(bad(format!(
                            "Invalid query string: '{s}' is not a boolean value for field '{field}' (use true or false)"
                        )));
                    }
                    _ => {
                        return Err(bad(format!(
                            "Invalid query string: wildcards and ranges are not supported on the boolean field '{field}'"
                        )));
                    }
                };
                let p = self.bind(b);
                let pred = format!("{expr} = {p}");
                Ok(if identity {
                    self.identities(&pred)
                } else {
                    pred
                })
            }
            Target::Int { expr } => {
                let int = |s: &str| {
                    s.parse::<i64>().map_err(|_| {
                        bad(format!(
                            "Invalid query string: '{s}' is not an integer value for field '{field}'"
                        ))
                    })
                };
                match value {
                    Value::Exact(s) => {
                        let p = self.bind(int(s)?);
                        Ok(format!("{expr} = {p}"))
                    }
                    Value::Range(lo, hi) => {
                        let mut preds = Vec::new();
                        for (b, lower) in [(lo, true), (hi, false)] {
                            let (v, incl) = match b {
                                Bound::Open => continue,
                                Bound::Incl(v) => (v, true),
                                Bound::Excl(v) => (v, false),
                            };
                            let p = self.bind(int(v)?);
                            preds.push(format!("{expr} {} {p}", cmp(lower, incl)));
                        }
                        Ok(and_or_true(preds))
                    }
                    Value::Pattern(_) => Err(bad(format!(
                        "Invalid query string: wildcards are not supported on the numeric field '{field}'"
                    ))),
                }
            }
            Target::Date { expr, nullable } => {
                let pred = self.date(field, expr, value)?;
                Ok(if nullable {
                    format!("({expr} IS NOT NULL AND {pred})")
                } else {
                    format!("({pred})")
                })
            }
            Target::Meta { path, user } => self.meta(field, &path, user, value),
            Target::Nothing => {
                // Still reject what no field accepts (e.g. a pattern with a short suffix).
                if let Value::Pattern(p) = value {
                    check_pattern(field, p)?;
                }
                Ok("1 = 0".into())
            }
        }
    }

    /// A text predicate on `expr` (without the NULL guard).
    fn text(
        &mut self,
        field: &str,
        expr: &str,
        ci: bool,
        lower_value: bool,
        value: &Value,
    ) -> Result<String, SearchError> {
        let lhs = self.c(&if ci {
            format!("lower({expr})")
        } else {
            expr.to_owned()
        });
        let prep = |s: &str| {
            if lower_value {
                s.to_lowercase()
            } else {
                s.to_owned()
            }
        };
        let val = |me: &mut Self, s: &str| {
            let p = me.bind(prep(s));
            if ci { format!("lower({p})") } else { p }
        };
        match value {
            Value::Exact(s) => {
                let v = val(self, s);
                Ok(format!("{lhs} = {v}"))
            }
            Value::Range(lo, hi) => {
                let mut preds = Vec::new();
                for (b, lower) in [(lo, true), (hi, false)] {
                    let (s, incl) = match b {
                        Bound::Open => continue,
                        Bound::Incl(s) => (s, true),
                        Bound::Excl(s) => (s, false),
                    };
                    let v = val(self, s);
                    preds.push(format!("{lhs} {} {v}", cmp(lower, incl)));
                }
                Ok(and_or_true(preds))
            }
            Value::Pattern(pats) => {
                check_pattern(field, pats)?;
                let prefix = match pats.first() {
                    Some(Pat::Lit(s)) => Some(s.as_str()),
                    _ => None,
                };
                let mut preds = Vec::new();
                if let Some(prefix) = prefix {
                    let v = val(self, prefix);
                    let max = self.bind(MAX_CHAR);
                    preds.push(format!("{lhs} >= {v} AND {lhs} < {v} || {max}"));
                }
                // `prefix*` is the range alone.
                if !(pats.len() == 2 && prefix.is_some()) {
                    let pattern = prep(&self.pattern(pats));
                    let p = self.bind(pattern);
                    let v = if ci { format!("lower({p})") } else { p };
                    preds.push(self.matches(&lhs, &v));
                }
                Ok(preds.join(" AND "))
            }
        }
    }

    /// The pattern in the backend's syntax: GLOB on SQLite (case-sensitive, unlike its LIKE),
    /// LIKE with `!` as the escape on PostgreSQL.
    fn pattern(&self, pats: &[Pat]) -> String {
        let mut out = String::new();
        for p in pats {
            match p {
                Pat::Star => out.push(match self.d {
                    Dialect::Sqlite => '*',
                    Dialect::Postgres => '%',
                }),
                Pat::Lit(s) => {
                    for ch in s.chars() {
                        match (self.d, ch) {
                            (Dialect::Sqlite, '*' | '?' | '[') => {
                                out.push('[');
                                out.push(ch);
                                out.push(']');
                            }
                            (Dialect::Postgres, '%' | '_' | '!') => {
                                out.push('!');
                                out.push(ch);
                            }
                            _ => out.push(ch),
                        }
                    }
                }
            }
        }
        out
    }

    fn matches(&self, lhs: &str, pattern: &str) -> String {
        match self.d {
            Dialect::Sqlite => format!("{lhs} GLOB {pattern}"),
            Dialect::Postgres => format!("{lhs} LIKE {pattern} ESCAPE '!'"),
        }
    }

    fn date(&mut self, field: &str, expr: &str, value: &Value) -> Result<String, SearchError> {
        let lhs = self.c(expr);
        match value {
            Value::Exact(s) => {
                let d = date_prefix(field, s)?;
                let lo = self.bind(d.clone());
                let hi = self.bind(format!("{d}{DATE_END}"));
                Ok(format!("{lhs} >= {lo} AND {lhs} <= {hi}"))
            }
            Value::Range(lo, hi) => {
                let mut preds = Vec::new();
                // Missing parts of a date round as Elasticsearch does: `gt` and `lte` round up
                // (to the end of the period), `gte` and `lt` round down.
                match lo {
                    Bound::Open => {}
                    Bound::Incl(s) => {
                        let p = self.bind(date_prefix(field, s)?);
                        preds.push(format!("{lhs} >= {p}"));
                    }
                    Bound::Excl(s) => {
                        let p = self.bind(format!("{}{DATE_END}", date_prefix(field, s)?));
                        preds.push(format!("{lhs} > {p}"));
                    }
                }
                match hi {
                    Bound::Open => {}
                    Bound::Incl(s) => {
                        let p = self.bind(format!("{}{DATE_END}", date_prefix(field, s)?));
                        preds.push(format!("{lhs} <= {p}"));
                    }
                    Bound::Excl(s) => {
                        let p = self.bind(date_prefix(field, s)?);
                        preds.push(format!("{lhs} < {p}"));
                    }
                }
                Ok(and_or_true(preds))
            }
            Value::Pattern(_) => Err(bad(format!(
                "Invalid query string: wildcards are not supported on the date field '{field}', use a range"
            ))),
        }
    }

    fn meta(
        &mut self,
        field: &str,
        path: &str,
        user: bool,
        value: &Value,
    ) -> Result<String, SearchError> {
        if user && !matches!(value, Value::Exact(_)) {
            return Err(bad(format!(
                "Invalid query string: range and wildcard searches are not available on user_metadata fields ('{field}')"
            )));
        }
        let p = self.bind(path.to_owned());
        let pred = match value {
            Value::Exact(s) => {
                let v = self.bind(s.clone());
                let t = self.c("a.value_text");
                match finite(s) {
                    Some(n) => {
                        let n = self.num(n);
                        format!("a.path = {p} AND ({t} = {v} OR a.value_num = {n})")
                    }
                    None => format!("a.path = {p} AND {t} = {v}"),
                }
            }
            Value::Range(lo, hi) => {
                let numeric = [lo, hi].iter().all(|b| match b {
                    Bound::Open => true,
                    Bound::Incl(s) | Bound::Excl(s) => finite(s).is_some(),
                });
                let lhs = if numeric {
                    "a.value_num".to_owned()
                } else {
                    self.c("a.value_text")
                };
                let mut preds = vec![format!("a.path = {p}")];
                for (b, lower) in [(lo, true), (hi, false)] {
                    let (s, incl) = match b {
                        Bound::Open => continue,
                        Bound::Incl(s) => (s, true),
                        Bound::Excl(s) => (s, false),
                    };
                    let v = match finite(s) {
                        Some(n) if numeric => self.num(n),
                        _ => self.bind(s.clone()),
                    };
                    preds.push(format!("{lhs} {} {v}", cmp(lower, incl)));
                }
                if numeric {
                    preds.push("a.value_num IS NOT NULL".into());
                }
                preds.join(" AND ")
            }
            Value::Pattern(_) => {
                let m = self.text(field, "a.value_text", false, false, value)?;
                format!("a.path = {p} AND {m}")
            }
        };
        Ok(self.attrs(&pred))
    }
}

fn cmp(lower: bool, incl: bool) -> &'static str {
    match (lower, incl) {
        (true, true) => ">=",
        (true, false) => ">",
        (false, true) => "<=",
        (false, false) => "<",
    }
}

fn and_or_true(preds: Vec<String>) -> String {
    if preds.is_empty() {
        "1 = 1".into()
    } else {
        preds.join(" AND ")
    }
}

pub(crate) fn finite(s: &str) -> Option<f64> {
    // Only what reads as a JSON number (`inf`, `nan`, `0x10` are text).
    let looks_numeric = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    s.parse::<f64>()
        .ok()
        .filter(|n| looks_numeric && n.is_finite())
}

/// Auth0 allows `*` anywhere, but a pattern that starts with `*` needs some literal text.
fn check_pattern(field: &str, pats: &[Pat]) -> Result<(), SearchError> {
    if pats.first() == Some(&Pat::Star) {
        let literal: usize = pats
            .iter()
            .map(|p| match p {
                Pat::Lit(s) => s.chars().count(),
                Pat::Star => 0,
            })
            .sum();
        if literal < MIN_SUFFIX_LITERAL {
            return Err(bad(format!(
                "Invalid query string: a wildcard search that starts with '*' needs at least {MIN_SUFFIX_LITERAL} other characters (field '{field}')"
            )));
        }
    }
    Ok(())
}

/// Checks an ISO-8601 date or date-time, possibly partial (`2019`, `2019-01`, `2019-01-31`,
/// `2019-01-31T10`, `…T10:30`, `…T10:30:00`, `…T10:30:00.123`, optionally ending in `Z`), and
/// returns the prefix every matching stored timestamp starts with.
fn date_prefix(field: &str, s: &str) -> Result<String, SearchError> {
    const TEMPLATE: &[u8] = b"dddd-dd-ddTdd:dd:dd.ddd";
    const CUTS: &[usize] = &[4, 7, 10, 13, 16, 19, 21, 22, 23];
    let body = s.strip_suffix('Z').unwrap_or(s);
    let b = body.as_bytes();
    let ok = CUTS.contains(&b.len())
        && b.iter().zip(TEMPLATE).all(|(c, t)| match t {
            b'd' => c.is_ascii_digit(),
            t => c == t,
        })
        && (b.len() < 7 || (b"01".as_slice()..=b"12".as_slice()).contains(&&b[5..7]))
        && (b.len() < 10 || (b"01".as_slice()..=b"31".as_slice()).contains(&&b[8..10]));
    if !ok {
        return Err(bad(format!(
            "Invalid query string: '{s}' is not a valid date for field '{field}' (use ISO-8601, e.g. 2019-01-31 or 2019-01-31T10:30:00.000Z)"
        )));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user_search::parser::parse;

    fn sql(d: Dialect, q: &str) -> (String, Vec<P>) {
        let mut s = Sql::new(d, "t");
        let ast = parse(q).unwrap_or_else(|e| panic!("{q}: {}", e.message));
        let out = s
            .node(&ast)
            .unwrap_or_else(|e| panic!("{q}: {}", e.message));
        (out, s.params)
    }
    fn lite(q: &str) -> String {
        sql(Dialect::Sqlite, q).0
    }
    fn pg(q: &str) -> String {
        sql(Dialect::Postgres, q).0
    }
    fn texts(ps: &[P]) -> Vec<String> {
        ps.iter()
            .map(|p| match p {
                P::Text(s) => s.clone(),
                P::I64(v) => format!("i{v}"),
                P::Bool(v) => format!("b{v}"),
                other => format!("{other:?}"),
            })
            .collect()
    }
    fn err(q: &str) -> String {
        let ast = match parse(q) {
            Ok(a) => a,
            Err(e) => return e.message,
        };
        match Sql::new(Dialect::Sqlite, "t").node(&ast) {
            Ok(s) => panic!("{q} translated to {s}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn exact_matches_use_index_expressions() {
        assert_eq!(
            lite("name:\"Jane Smith\""),
            "(lower(name) IS NOT NULL AND lower(name) = lower($2))"
        );
        assert_eq!(
            pg("name:\"Jane Smith\""),
            "(lower(name) IS NOT NULL AND lower(name) COLLATE \"C\" = lower($2))"
        );
        let (s, p) = sql(Dialect::Sqlite, "email:Jane@Example.com");
        assert_eq!(s, "(email IS NOT NULL AND email = $2)");
        assert_eq!(texts(&p), ["t", "jane@example.com"]);
        assert_eq!(
            lite("username:Jane"),
            "(username IS NOT NULL AND username = $2)"
        );
        assert_eq!(lite("user_id:auth0|1"), "(user_id = $2)");
        assert_eq!(pg("user_id:auth0|1"), "(user_id COLLATE \"C\" = $2)");
        let (s, p) = sql(Dialect::Sqlite, "email.domain:Example.COM");
        assert_eq!(
            s,
            "(substr(email, instr(email, '@') + 1) IS NOT NULL AND substr(email, instr(email, '@') + 1) = $2)"
        );
        assert_eq!(texts(&p), ["t", "example.com"]);
    }

    #[test]
    fn prefixes_are_ranges() {
        let (s, p) = sql(Dialect::Sqlite, "name:Jo*");
        assert_eq!(
            s,
            "(lower(name) IS NOT NULL AND lower(name) >= lower($2) AND lower(name) < lower($2) || $3)"
        );
        assert_eq!(texts(&p), ["t", "Jo", "\u{10FFFF}"]);
        assert_eq!(
            pg("user_id:auth0*"),
            "(user_id COLLATE \"C\" >= $2 AND user_id COLLATE \"C\" < $2 || $3)"
        );
    }

    #[test]
    fn other_patterns() {
        let (s, p) = sql(Dialect::Sqlite, "name:*usa");
        assert_eq!(
            s,
            "(lower(name) IS NOT NULL AND lower(name) GLOB lower($2))"
        );
        assert_eq!(texts(&p), ["t", "*usa"]);
        let (s, p) = sql(Dialect::Postgres, "name:jane*smith");
        assert_eq!(
            s,
            "(lower(name) IS NOT NULL AND lower(name) COLLATE \"C\" >= lower($2) AND lower(name) COLLATE \"C\" < lower($2) || $3 AND lower(name) COLLATE \"C\" LIKE lower($4) ESCAPE '!')"
        );
        assert_eq!(texts(&p), ["t", "jane", "\u{10FFFF}", "jane%smith"]);
        // Literal wildcard characters of the backends are escaped.
        let (_, p) = sql(Dialect::Postgres, r"username:*a%_!\**");
        assert_eq!(texts(&p)[1], "%a!%!_!!*%");
        let (_, p) = sql(Dialect::Sqlite, r"username:*a\*\?\[*");
        assert_eq!(texts(&p)[1], "*a[*][?][[]*");
        assert!(err("name:*sa").contains("at least 3"));
        assert!(err("name:*a*b*").contains("at least 3"));
        assert!(err("unknown_field:*sa").contains("at least 3"));
    }

    #[test]
    fn numbers_booleans_dates() {
        let (s, p) = sql(Dialect::Sqlite, "logins_count:[100 TO 200}");
        assert_eq!(s, "logins_count >= $2 AND logins_count < $3");
        assert_eq!(texts(&p), ["t", "i100", "i200"]);
        assert_eq!(lite("logins_count:{100 TO *]"), "logins_count > $2");
        assert_eq!(lite("logins_count:[* TO *]"), "1 = 1");
        assert_eq!(lite("logins_count:7"), "logins_count = $2");
        let (s, p) = sql(Dialect::Sqlite, "blocked:true");
        assert_eq!(s, "blocked = $2");
        assert_eq!(texts(&p), ["t", "btrue"]);
        let (s, p) = sql(Dialect::Sqlite, "last_login:{2017-11 TO 2017-12]");
        assert_eq!(
            s,
            "(last_login IS NOT NULL AND last_login > $2 AND last_login <= $3)"
        );
        assert_eq!(texts(&p), ["t", "2017-11~", "2017-12~"]);
        let (s, p) = sql(Dialect::Postgres, "created_at:2019-01-31");
        assert_eq!(
            s,
            "(created_at COLLATE \"C\" >= $2 AND created_at COLLATE \"C\" <= $3)"
        );
        assert_eq!(texts(&p), ["t", "2019-01-31", "2019-01-31~"]);
        let (_, p) = sql(
            Dialect::Sqlite,
            "created_at:[2019-01-31T10:00:00Z TO 2019-02-01T00:00:00.000Z}",
        );
        assert_eq!(
            texts(&p),
            ["t", "2019-01-31T10:00:00", "2019-02-01T00:00:00.000"]
        );
        assert!(err("logins_count:abc").contains("not an integer"));
        assert!(err("logins_count:[1 TO x]").contains("not an integer"));
        assert!(err("logins_count:1*").contains("wildcards"));
        assert!(err("blocked:yes").contains("not a boolean"));
        assert!(err("blocked:[true TO false]").contains("boolean field"));
        assert!(err("created_at:2019-13").contains("not a valid date"));
        assert!(err("created_at:yesterday").contains("not a valid date"));
        assert!(err("created_at:2019*").contains("use a range"));
    }

    #[test]
    fn identities_and_metadata() {
        assert_eq!(
            lite("identities.connection:\"google-oauth2\""),
            "users.user_id IN (SELECT i.user_id FROM user_identities i WHERE i.tenant_id = $1 AND i.connection = $2)"
        );
        assert_eq!(
            lite("identities.isSocial:true"),
            "users.user_id IN (SELECT i.user_id FROM user_identities i WHERE i.tenant_id = $1 AND i.is_social = $2)"
        );
        let (s, p) = sql(Dialect::Sqlite, "app_metadata.plan:\"gold\"");
        assert_eq!(
            s,
            "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE a.tenant_id = $1 AND a.path = $2 AND a.value_text = $3)"
        );
        assert_eq!(texts(&p), ["t", "app_metadata.plan", "gold"]);
        assert_eq!(
            pg("user_metadata.size:13"),
            "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE a.tenant_id = $1 AND a.path = $2 AND (a.value_text COLLATE \"C\" = $3 OR a.value_num = $4))"
        );
        assert_eq!(
            lite("app_metadata.score:[1.5 TO *]"),
            "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE a.tenant_id = $1 AND a.path = $2 AND a.value_num >= $3 AND a.value_num IS NOT NULL)"
        );
        assert_eq!(
            pg("app_metadata.plan:[a TO g}"),
            "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE a.tenant_id = $1 AND a.path = $2 AND a.value_text COLLATE \"C\" >= $3 AND a.value_text COLLATE \"C\" < $4)"
        );
        assert_eq!(
            lite("app_metadata.plan:go*"),
            "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE a.tenant_id = $1 AND a.path = $2 AND a.value_text >= $3 AND a.value_text < $3 || $4)"
        );
        assert!(err("user_metadata.plan:go*").contains("not available on user_metadata"));
        assert!(err("user_metadata.n:[1 TO 2]").contains("not available on user_metadata"));
        assert_eq!(
            lite("_exists_:app_metadata.plan"),
            "users.user_id IN (SELECT a.user_id FROM user_attrs a WHERE a.tenant_id = $1 AND (a.path = $2 OR (a.path >= $3 AND a.path < $4)))"
        );
    }

    #[test]
    fn sub_queries_correlate_next_to_an_indexed_sibling() {
        assert_eq!(
            lite("identities.connection:c AND name:jo*"),
            "(EXISTS (SELECT 1 FROM user_identities i WHERE i.tenant_id = $1 AND i.user_id = users.user_id AND i.connection = $2) AND (lower(name) IS NOT NULL AND lower(name) >= lower($3) AND lower(name) < lower($3) || $4))"
        );
        assert_eq!(
            lite("email:a@b.c AND NOT (app_metadata.x:1 OR identities.isSocial:true)"),
            "((email IS NOT NULL AND email = $2) AND (1 = 1 AND NOT ((EXISTS (SELECT 1 FROM user_attrs a WHERE a.tenant_id = $1 AND a.user_id = users.user_id AND a.path = $3 AND (a.value_text = $4 OR a.value_num = $5)) OR EXISTS (SELECT 1 FROM user_identities i WHERE i.tenant_id = $1 AND i.user_id = users.user_id AND i.is_social = $6)))))"
        );
        assert!(lite("identities.user_id:1 AND name:jo*").contains("users.user_id IN"));
        // Without an indexed sibling the sub-query drives.
        assert!(lite("identities.connection:c AND blocked:true").contains("users.user_id IN"));
        assert!(lite("identities.connection:c OR name:jo*").contains("users.user_id IN"));
        assert!(lite("app_metadata.x:1 AND name:*abc").contains("users.user_id IN"));
        assert!(lite("app_metadata.x:1 AND (name:a OR c)").contains("EXISTS"));
        assert!(lite("app_metadata.x:1 AND (name:a OR blocked:true)").contains("users.user_id IN"));
    }

    #[test]
    fn exists_and_unknown_fields() {
        assert_eq!(lite("_exists_:email"), "email IS NOT NULL");
        assert_eq!(lite("_exists_:logins_count"), "logins_count > 0");
        assert_eq!(lite("_exists_:email_verified"), "1 = 1");
        assert_eq!(lite("_exists_:nope"), "1 = 0");
        assert_eq!(
            lite("_exists_:identities"),
            "users.user_id IN (SELECT i.user_id FROM user_identities i WHERE i.tenant_id = $1 AND 1 = 1)"
        );
        assert_eq!(lite("nope:x"), "1 = 0");
        assert_eq!(lite("app_metadata:x"), "1 = 0");
        assert_eq!(lite("organization_id:org_1"), "1 = 0");
        assert_eq!(
            lite("NOT _exists_:email_verified"),
            "(1 = 1 AND NOT (1 = 1))"
        );
    }

    #[test]
    fn bare_terms_search_the_default_fields() {
        let (s, p) = sql(Dialect::Sqlite, "jane");
        assert_eq!(s.matches(" OR ").count(), DEFAULT_FIELDS.len() - 1);
        assert!(s.contains("lower(name) = lower($2)"));
        assert!(s.contains("user_id = $"));
        assert_eq!(p.len(), 1 + DEFAULT_FIELDS.len());
    }

    #[test]
    fn values_are_never_in_the_sql() {
        let evil = r#"name:"x' OR 1=1 --" OR app_metadata.a:"'; DROP TABLE users; --""#;
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let (s, _) = sql(d, evil);
            assert!(!s.contains("DROP"), "{s}");
            assert!(!s.contains("1=1"), "{s}");
        }
    }

    #[test]
    fn dates() {
        for ok in [
            "2019",
            "2019-01",
            "2019-01-31",
            "2019-01-31T10",
            "2019-01-31T10:30",
            "2019-01-31T10:30:00",
            "2019-01-31T10:30:00.1",
            "2019-01-31T10:30:00.123Z",
        ] {
            assert!(date_prefix("f", ok).is_ok(), "{ok}");
        }
        for bad in [
            "19",
            "2019-1",
            "2019-00",
            "2019-01-32",
            "2019/01/01",
            "2019-01-31 10:00",
            "",
        ] {
            assert!(date_prefix("f", bad).is_err(), "{bad}");
        }
    }
}
