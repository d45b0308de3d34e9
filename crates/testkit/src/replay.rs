//! Cassette replay conformance: a port of `conformance/replay.py` (see its README).
//!
//! The go-vcr cassettes that the Auth0 Terraform provider's acceptance tests recorded against a real
//! tenant are replayed, one interaction after another, against a server under test, and each reply is
//! compared with the recorded one. The ID-mapping and comparison rules are those of `replay.py`; the
//! functions below mirror its functions one by one (`parse_json`, `snippet`, `align`, `IdMap`,
//! `Judgement`, `decode`, `Server`, `Replayer.replay`, ...), including Python's equality (`1 == 1.0`,
//! `True == 1`), `json.dumps` rendering in messages, `urlsplit`, `quote(safe="")` and `unquote`.
//!
//! Where `replay.py` would crash on a malformed cassette (an uncaught Python exception), the Rust port
//! returns an error from [`replay_cassette`]; where `replay.py` reports "cannot read cassette", the report
//! has `passed == false` and [`CassetteReport::error`] set.

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use aho_corasick::{AhoCorasick, MatchKind};
use anyhow::{Context, anyhow, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use regex::Regex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

/// Only requests whose path starts with this are replayed; the others are skipped.
pub const API_PREFIX: &str = "/api/v2/";
/// The recorded placeholder of a redacted value.
pub const REDACTED: &str = "[REDACTED]";
/// The default per-request timeout of `replay.py` (`--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_ID_LENGTH: usize = 6;
/// String values under these keys, and under any key ending in "_id" or "Id", are references the server
/// chooses (IDs, key IDs, pagination cursors, the tenant's name); they are learned into the ID map.
const REFERENCE_KEYS: [&str; 6] = ["id", "kid", "parent_kid", "next", "tenant", "tenant_name"];
/// String values under these keys are random or tenant-specific: only presence and type are compared
/// (unless the client sent that very value in the request).
const RANDOM_KEYS: [&str; 20] = [
    "client_secret",
    "secret",
    "cert",
    "pkcs",
    "pkcs7",
    "fingerprint",
    "thumbprint",
    "token",
    "ticket",
    "kid",
    "next",
    "public_key",
    "provisioning_ticket_url",
    "cname_api_key",
    "record",
    "verification_txt",
    "origin_domain_name",
    "aws_partner_event_source",
    "awsPartnerEventSource",
    "azurePartnerTopic",
];
/// And every key ending in "_at".
const TIMESTAMP_KEYS: [&str; 3] = ["date", "last_login", "last_password_reset"];
const ERROR_FIELDS: [&str; 3] = ["statusCode", "error", "errorCode"];
const UNSENT_HEADERS: [&str; 6] = [
    "authorization",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "accept-encoding",
];
/// `http.client` sends `Content-Length: 0` for these methods when there is no body.
const METHODS_EXPECTING_BODY: [&str; 3] = ["PATCH", "POST", "PUT"];
/// Python's `quote(s, safe="")`: everything but ASCII letters, digits and `_.-~` is percent-encoded.
const QUOTE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// `ISO_8601.fullmatch` of replay.py (`\d` is Unicode-aware in both Python and the regex crate).
static ISO_8601: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\A(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)\z")
        .ok()
});
static ARRAY_INDEX: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\[\d+\]").ok());
static IPV_FUTURE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\Av[a-fA-F0-9]+\.[^\n]+\z").ok());

// ---------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------

/// Where and how to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The server under test, e.g. `http://127.0.0.1:8080` (a path prefix is kept).
    pub base_url: String,
    /// Bearer token sent with every request (none when empty).
    pub token: String,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl ReplayOptions {
    /// Options with replay.py's default timeout (10 s).
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            token: token.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The outcome of one recorded interaction (replay.py's per-interaction report entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InteractionReport {
    /// Position of the interaction in the cassette (0-based).
    pub index: usize,
    pub method: String,
    /// The path and query as sent (after ID substitution); the recorded one when skipped.
    pub path: String,
    /// Not under `/api/v2/`, so not sent.
    pub skipped: bool,
    /// The recorded status (0 when skipped and the cassette records none).
    pub recorded_status: u16,
    /// `None` when no usable reply arrived (or when skipped).
    pub server_status: Option<u16>,
    pub status_match: bool,
    pub passed: bool,
    /// Differences, each `"<json path>: <detail>"` (replay.py's `path` and `detail`).
    pub diffs: Vec<String>,
    /// Keys only the server sent (warnings, not failures).
    pub extra_keys: Vec<String>,
    /// For error replies whose recording has a `message`: whether the server's is equal.
    pub message_match: Option<bool>,
}

/// The outcome of one cassette.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CassetteReport {
    /// The cassette's file stem, e.g. `TestAccClientGrant`.
    pub name: String,
    /// Every replayed interaction passed (and the cassette could be read).
    pub passed: bool,
    pub interactions: Vec<InteractionReport>,
    /// `cannot read cassette: ...` when the file is not a readable cassette (then `passed` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CassetteReport {
    /// Number of interactions actually sent (not skipped).
    pub fn replayed(&self) -> usize {
        self.interactions.iter().filter(|o| !o.skipped).count()
    }

    /// Number of replayed interactions that passed.
    pub fn passed_count(&self) -> usize {
        self.interactions
            .iter()
            .filter(|o| !o.skipped && o.passed)
            .count()
    }

    /// replay.py's one-line summary: `PASS name (k/n interactions)` or `FAIL name (k/n interactions)`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} {} ({}/{} interactions)",
            if self.passed { "PASS" } else { "FAIL" },
            self.name,
            self.passed_count(),
            self.replayed()
        )
    }

    /// replay.py `--verbose` (without its indentation): the read error if any, then the first difference
    /// of each failing interaction, e.g.
    /// `#4 PATCH /api/v2/roles/rol_Xy12 [200 vs 200] $.description: expected "a", got "b" (+1 more)`.
    pub fn failure_details(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.error.iter().cloned().collect();
        for outcome in self.interactions.iter().filter(|o| !o.skipped && !o.passed) {
            let server = outcome
                .server_status
                .map_or_else(|| "None".to_owned(), |s| s.to_string());
            let mut line = format!(
                "#{} {} {} [{} vs {}]",
                outcome.index, outcome.method, outcome.path, outcome.recorded_status, server
            );
            if let Some(first) = outcome.diffs.first() {
                line.push(' ');
                line.push_str(first);
                let more = outcome.diffs.len() - 1;
                if more > 0 {
                    line.push_str(&format!(" (+{more} more)"));
                }
            }
            lines.push(line);
        }
        lines
    }

    /// replay.py `--verbose`'s warning about extra keys (array indices collapsed to `[]`), if any.
    pub fn extra_keys_warning(&self) -> Option<String> {
        let mut extra: Vec<String> = self
            .interactions
            .iter()
            .filter(|o| !o.skipped)
            .flat_map(|o| o.extra_keys.iter().map(|k| collapse_indices(k)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if extra.is_empty() {
            return None;
        }
        extra.sort();
        let shown: Vec<&str> = extra.iter().take(5).map(String::as_str).collect();
        Some(format!(
            "warning: {} extra key paths in server replies, e.g. {}",
            extra.len(),
            shown.join(", ")
        ))
    }
}

/// replay.py's `summarize` over several cassettes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub cassettes: usize,
    pub cassettes_passed: usize,
    pub interactions: usize,
    pub interactions_status_matched: usize,
    pub interactions_passed: usize,
    pub interactions_skipped: usize,
    pub error_messages: usize,
    pub error_messages_matched: usize,
    pub extra_keys: usize,
}

/// Totals over several cassette reports (replay.py's `summarize`).
pub fn summarize(reports: &[CassetteReport]) -> Summary {
    let mut summary = Summary {
        cassettes: reports.len(),
        ..Summary::default()
    };
    for report in reports {
        summary.cassettes_passed += usize::from(report.passed);
        for outcome in &report.interactions {
            if outcome.skipped {
                summary.interactions_skipped += 1;
                continue;
            }
            summary.interactions += 1;
            summary.interactions_status_matched += usize::from(outcome.status_match);
            summary.interactions_passed += usize::from(outcome.passed);
            if let Some(matched) = outcome.message_match {
                summary.error_messages += 1;
                summary.error_messages_matched += usize::from(matched);
            }
            summary.extra_keys += outcome.extra_keys.len();
        }
    }
    summary
}

impl Summary {
    /// replay.py's `print_summary` lines (after its blank line), ending with `N passed, M failed`.
    pub fn lines(&self) -> Vec<String> {
        fn ratio(part: usize, whole: usize) -> String {
            if whole == 0 {
                format!("{part}/{whole}")
            } else {
                // Counts are far below 2^52, so the conversions are exact.
                #[allow(clippy::cast_precision_loss)]
                let percent = 100.0 * part as f64 / whole as f64;
                format!("{part}/{whole} ({percent:.1}%)")
            }
        }
        vec![
            "Summary".to_owned(),
            format!(
                "  cassettes passed:              {}",
                ratio(self.cassettes_passed, self.cassettes)
            ),
            format!(
                "  interactions, status matched:  {}",
                ratio(self.interactions_status_matched, self.interactions)
            ),
            format!(
                "  interactions, fully matched:   {}",
                ratio(self.interactions_passed, self.interactions)
            ),
            format!(
                "  interactions skipped:          {} (not under {API_PREFIX})",
                self.interactions_skipped
            ),
            format!(
                "  error messages matched:        {}",
                ratio(self.error_messages_matched, self.error_messages)
            ),
            format!(
                "  extra keys in server replies:  {} (warnings)",
                self.extra_keys
            ),
            format!(
                "{} passed, {} failed",
                self.cassettes_passed,
                self.cassettes - self.cassettes_passed
            ),
        ]
    }
}

/// A client that behaves like replay.py's `http.client` connections: no redirects followed, no proxy,
/// no connection reuse, and no transparent decompression (the replayer decodes gzip/deflate itself, as
/// replay.py does). [`replay_cassette`] works with any client, but this one is the faithful choice.
pub fn replay_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .no_gzip()
        .pool_max_idle_per_host(0)
        .build()
        .context("cannot build the replay HTTP client")
}

/// replay.py's `Server.reachable`: whether a TCP connection to the base URL's host and port opens.
pub async fn reachable(opts: &ReplayOptions) -> anyhow::Result<bool> {
    let server = Server::new(&opts.base_url)?;
    let connect = tokio::net::TcpStream::connect((server.host.as_str(), server.port));
    Ok(matches!(
        tokio::time::timeout(opts.timeout, connect).await,
        Ok(Ok(_))
    ))
}

/// replay.py's `Server.fetch_token`: a token from `POST {base}/oauth/token` with the client_credentials
/// grant and the audience `{base}/api/v2/`.
pub async fn fetch_token(
    client: &reqwest::Client,
    opts: &ReplayOptions,
    client_id: &str,
    client_secret: &str,
) -> anyhow::Result<String> {
    let server = Server::new(&opts.base_url)?;
    let body = serde_json::json!({
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "audience": format!("{}/api/v2/", server.base_url),
    });
    let headers = vec![
        ("Content-Type".to_owned(), b"application/json".to_vec()),
        ("Accept-Encoding".to_owned(), b"identity".to_vec()),
    ];
    let (status, raw, encoding) = server
        .request(
            client,
            opts.timeout,
            "POST",
            "/oauth/token",
            Some(body.to_string().into_bytes()),
            headers,
        )
        .await
        .map_err(|e| anyhow!("cannot obtain a token: {e}"))?;
    let text = decode(&raw, &encoding).map_err(|e| anyhow!("cannot obtain a token: {e}"))?;
    let reply = parse_json(&text);
    let token = reply
        .as_ref()
        .and_then(|r| r.get("access_token"))
        .and_then(Value::as_str);
    match token {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => bail!(
            "POST /oauth/token answered {status}: {}",
            body_snippet(&text, reply.as_ref())
        ),
    }
}

/// Replay one cassette against the server (replay.py's `Replayer.run_cassette`), with a fresh ID map.
///
/// Errors: an invalid `base_url`, or a cassette malformed in a way that makes replay.py crash (e.g. an
/// interaction without `response`, a recorded status that is not an integer). An unreadable file is not
/// an error but a failed report with [`CassetteReport::error`] set, as in replay.py.
pub async fn replay_cassette(
    client: &reqwest::Client,
    opts: &ReplayOptions,
    path: &Path,
) -> anyhow::Result<CassetteReport> {
    let server = Server::new(&opts.base_url)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = CassetteReport {
        name,
        passed: false,
        interactions: Vec::new(),
        error: None,
    };
    let (interactions, origins) = match load_cassette(path)
        .await
        .with_context(|| format!("cassette {}", path.display()))?
    {
        Loaded::Cassette(interactions, origins) => (interactions, origins),
        Loaded::Unreadable(reason) => {
            report.error = Some(format!(
                "cannot read cassette: {}",
                reason.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
            return Ok(report);
        }
    };
    // Recorded absolute URLs (e.g. the Management API's own identifier) become the server's.
    let mut ids = IdMap::new(
        origins
            .into_iter()
            .map(|origin| (origin, server.base_url.clone())),
    );
    let replayer = Replayer {
        client,
        server: &server,
        token: &opts.token,
        timeout: opts.timeout,
    };
    for (number, interaction) in interactions.iter().enumerate() {
        let outcome = replayer
            .replay(number, interaction, &mut ids)
            .await
            .with_context(|| format!("cassette {}, interaction #{number}", path.display()))?;
        report.interactions.push(outcome);
    }
    report.passed = report
        .interactions
        .iter()
        .filter(|o| !o.skipped)
        .all(|o| o.passed);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------------
// JSON helpers with Python semantics
// ---------------------------------------------------------------------------------------------------

/// `json.loads`, with `None` for replay.py's `NOT_JSON`.
fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`.
fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&py_number(n)),
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// A JSON string as Python's `json.dumps(..., ensure_ascii=False)` writes it.
fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.dumps(s, ensure_ascii=False)[1:-1]`.
fn json_string_body(s: &str) -> String {
    let mut out = String::new();
    write_json_str(&mut out, s);
    out[1..out.len() - 1].to_owned()
}

/// A JSON number as Python writes it (integers exactly, floats as `repr`).
fn py_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    n.as_f64().map_or_else(|| n.to_string(), py_float_repr)
}

/// Python's `repr(float)` (and `json.dumps` of a float): shortest round-trip digits, scientific notation
/// below 1e-4 or from 1e16 on (`1e-05`, `1.5e+16`), otherwise at least one decimal (`100.0`).
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sci = format!("{f:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exponent) = exponent.parse::<i64>() else {
        return sci;
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..16).contains(&exponent) {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    } else if exponent < 0 {
        let zeros = "0".repeat(usize::try_from(-exponent - 1).unwrap_or(0));
        format!("{sign}0.{zeros}{digits}")
    } else {
        let point = usize::try_from(exponent).unwrap_or(0) + 1;
        if digits.len() > point {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        } else {
            format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
        }
    }
}

/// One-line, shortened JSON rendering of a value for diff messages (replay.py's `snippet`).
fn snippet_limit(value: &Value, limit: usize) -> String {
    let text = dumps(value);
    if text.chars().count() <= limit {
        text
    } else {
        let mut short: String = text.chars().take(limit).collect();
        short.push_str("...");
        short
    }
}

fn snippet(value: &Value) -> String {
    snippet_limit(value, 120)
}

fn snippet_str(text: &str) -> String {
    snippet(&Value::String(text.to_owned()))
}

fn body_snippet(text: &str, reply: Option<&Value>) -> String {
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        match reply {
            Some(reply) => snippet(reply),
            None => snippet_str(text),
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn is_reference_key(key: &str) -> bool {
    REFERENCE_KEYS.contains(&key) || key.ends_with("_id") || key.ends_with("Id")
}

#[derive(Clone, Copy)]
enum PyNum {
    Int(i128),
    Float(f64),
}

/// A JSON boolean or number as the Python number it parses to (`True` is the integer 1).
fn py_num(value: &Value) -> Option<PyNum> {
    match value {
        Value::Bool(b) => Some(PyNum::Int(i128::from(*b))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(PyNum::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(PyNum::Int(i128::from(u)))
            } else {
                n.as_f64().map(PyNum::Float)
            }
        }
        _ => None,
    }
}

fn py_num_eq(a: PyNum, b: PyNum) -> bool {
    match (a, b) {
        (PyNum::Int(x), PyNum::Int(y)) => x == y,
        (PyNum::Float(x), PyNum::Float(y)) => x == y,
        (PyNum::Int(i), PyNum::Float(f)) | (PyNum::Float(f), PyNum::Int(i)) => {
            // Python compares int and float exactly. Every i64/u64 is below 2^100 in magnitude.
            #[allow(clippy::cast_possible_truncation)]
            let exact =
                f.is_finite() && f.fract() == 0.0 && f.abs() < 2f64.powi(100) && f as i128 == i;
            exact
        }
    }
}

/// Python's `==` on parsed JSON: numbers by value (`1 == 1.0`, `True == 1`), containers recursively.
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| py_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => match (py_num(a), py_num(b)) {
            (Some(x), Some(y)) => py_num_eq(x, y),
            _ => false,
        },
    }
}

fn similarity(recorded: &Value, server: &Value) -> usize {
    match (recorded, server) {
        (Value::Object(r), Value::Object(s)) => r
            .iter()
            .filter(|(key, value)| s.get(key.as_str()).is_some_and(|w| py_eq(w, value)))
            .count(),
        _ => usize::from(py_eq(recorded, server)),
    }
}

/// Pair each recorded element with the most similar unused server element, preferring the same or the
/// nearest index: a server may order a list differently (e.g. by its own IDs) and still be right.
fn align(recorded: &[Value], server: &[Value]) -> Vec<(usize, usize)> {
    let mut free = vec![true; server.len()];
    let mut free_count = server.len();
    let mut pairs = Vec::new();
    for (i, item) in recorded.iter().enumerate() {
        if free_count == 0 {
            break;
        }
        let perfect = match item {
            Value::Object(map) => map.len(),
            _ => 1,
        };
        let j = if i < server.len() && free[i] && similarity(item, &server[i]) == perfect {
            i
        } else {
            // max over the free j of (similarity, -|j - i|, -j)
            let mut best: Option<(usize, usize, usize)> = None; // (j, similarity, distance)
            for (j, _) in free.iter().enumerate().filter(|(_, f)| **f) {
                let sim = similarity(item, &server[j]);
                let distance = j.abs_diff(i);
                let better = match best {
                    None => true,
                    Some((_, best_sim, best_distance)) => {
                        sim > best_sim || (sim == best_sim && distance < best_distance)
                    }
                };
                if better {
                    best = Some((j, sim, distance));
                }
            }
            match best {
                Some((j, _, _)) => j,
                None => break,
            }
        };
        free[j] = false;
        free_count -= 1;
        pairs.push((i, j));
    }
    pairs
}

/// Array indices collapsed as in replay.py's warning: `$.a[3].b` becomes `$.a[].b`.
fn collapse_indices(key: &str) -> String {
    match ARRAY_INDEX.as_ref() {
        Some(re) => re.replace_all(key, "[]").into_owned(),
        None => key.to_owned(),
    }
}

fn is_iso8601(s: &str) -> bool {
    ISO_8601.as_ref().is_some_and(|re| re.is_match(s))
}

/// Python's `str.strip()` emptiness: only whitespace (Python also counts U+001C..U+001F).
fn is_blank(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

// ---------------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------------

/// Python's `quote(s, safe="")`.
fn quote(s: &str) -> String {
    utf8_percent_encode(s, QUOTE_SET).to_string()
}

/// Python's `unquote(s)` (UTF-8, invalid sequences replaced).
fn unquote(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Python's `urlsplit` result.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SplitUrl {
    scheme: String,
    netloc: String,
    path: String,
    query: String,
    fragment: String,
}

/// Python's `urllib.parse.urlsplit` (3.11); `Err` where it raises `ValueError`. The NFKC check of
/// non-ASCII network locations (`_checknetloc`) is not reproduced.
fn urlsplit(url: &str) -> Result<SplitUrl, String> {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut scheme = String::new();
    let mut rest = url.as_str();
    if let Some(i) = rest.find(':') {
        let first_alpha = rest.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if i > 0
            && first_alpha
            && rest[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            scheme = rest[..i].to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = String::new();
    if rest.starts_with("//") {
        let after = &rest[2..];
        let delim = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..delim].to_owned();
        rest = &after[delim..];
        let (open, close) = (netloc.contains('['), netloc.contains(']'));
        if open != close {
            return Err("Invalid IPv6 URL".to_owned());
        }
        if open && close {
            let bracketed = netloc
                .split_once('[')
                .map_or("", |(_, b)| b.split_once(']').map_or(b, |(h, _)| h));
            check_bracketed_host(bracketed)?;
        }
    }
    let mut fragment = String::new();
    if let Some((before, after)) = rest.split_once('#') {
        fragment = after.to_owned();
        rest = before;
    }
    let mut query = String::new();
    if let Some((before, after)) = rest.split_once('?') {
        query = after.to_owned();
        rest = before;
    }
    Ok(SplitUrl {
        scheme,
        netloc,
        path: rest.to_owned(),
        query,
        fragment,
    })
}

/// Python's `urllib.parse._check_bracketed_host`.
fn check_bracketed_host(host: &str) -> Result<(), String> {
    if host.starts_with('v') {
        if IPV_FUTURE.as_ref().is_some_and(|re| re.is_match(host)) {
            Ok(())
        } else {
            Err("IPvFuture address is invalid".to_owned())
        }
    } else if host.parse::<Ipv4Addr>().is_ok() {
        Err("An IPv4 address cannot be in brackets".to_owned())
    } else {
        let address = match host.split_once('%') {
            Some((address, scope)) if !scope.is_empty() => address,
            Some(_) => host,
            None => host,
        };
        address
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("'{host}' does not appear to be an IPv4 or IPv6 address"))
    }
}

/// Python's `SplitResult.hostname`: the host of a network location, lowercased, `None` when empty.
fn py_hostname(netloc: &str) -> Option<String> {
    let host_port = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split_once(']').map_or(bracketed, |(h, _)| h)
    } else {
        host_port.split_once(':').map_or(host_port, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_lowercase())
}

// ---------------------------------------------------------------------------------------------------
// ID map
// ---------------------------------------------------------------------------------------------------

/// A dict with Python's insertion-order and overwrite semantics.
#[derive(Debug, Default, Clone)]
struct OrderedMap {
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedMap {
    fn insert(&mut self, key: String, value: String) {
        if let Some(&i) = self.index.get(&key) {
            self.entries[i].1 = value;
        } else {
            self.index.insert(key.clone(), self.entries.len());
            self.entries.push((key, value));
        }
    }

    fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Replaces every key of its pairs by the value in one pass, longest key first (replay.py's
/// `substituter`: a regex alternation of the keys sorted by length, which is leftmost-first).
#[derive(Debug, Default)]
struct Substituter {
    patterns: Vec<String>,
    replacements: Vec<String>,
    automaton: Option<AhoCorasick>,
}

impl Substituter {
    fn new(pairs: &[(String, String)]) -> Self {
        let mut sorted: Vec<&(String, String)> =
            pairs.iter().filter(|(key, _)| !key.is_empty()).collect();
        // Stable, like Python's sorted(..., key=len, reverse=True).
        sorted.sort_by_key(|(key, _)| std::cmp::Reverse(key.chars().count()));
        let patterns: Vec<String> = sorted.iter().map(|(k, _)| k.clone()).collect();
        let replacements: Vec<String> = sorted.iter().map(|(_, v)| v.clone()).collect();
        let automaton = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&patterns)
                .ok()
        };
        Self {
            patterns,
            replacements,
            automaton,
        }
    }

    fn apply(&self, text: &str) -> String {
        if self.patterns.is_empty() {
            return text.to_owned();
        }
        match &self.automaton {
            Some(automaton) => automaton.replace_all(text, &self.replacements),
            None => self.apply_slowly(text),
        }
    }

    /// The same substitution without an automaton (a fallback should building one ever fail).
    fn apply_slowly(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            match self
                .patterns
                .iter()
                .position(|p| rest.starts_with(p.as_str()))
            {
                Some(k) => {
                    out.push_str(&self.replacements[k]);
                    rest = &rest[self.patterns[k].len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }
}

/// Per-cassette map from recorded values to the server's values, plus the recorded request text seen so
/// far (a value the client itself sent is client-chosen, so it is never learned as a server reference).
#[derive(Debug)]
struct IdMap {
    pairs: OrderedMap,
    targets: HashSet<String>,
    sent: String,
    text: Substituter,
    url: Substituter,
}

impl IdMap {
    fn new(seed: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut pairs = OrderedMap::default();
        for (old, new) in seed {
            pairs.insert(old, new);
        }
        let targets = pairs.entries.iter().map(|(_, v)| v.clone()).collect();
        let mut map = Self {
            pairs,
            targets,
            sent: String::new(),
            text: Substituter::default(),
            url: Substituter::default(),
        };
        map.rebuild();
        map
    }

    fn rebuild(&mut self) {
        self.text = Substituter::new(&self.pairs.entries);
        // In URLs the server's value always goes in percent-encoded (a cursor may hold "+", "/" or "=").
        let mut url_pairs = OrderedMap::default();
        for (old, new) in &self.pairs.entries {
            let new = quote(new);
            url_pairs.insert(old.clone(), new.clone());
            url_pairs.insert(quote(old), new);
        }
        self.url = Substituter::new(&url_pairs.entries);
    }

    fn note_request(&mut self, request_text: &str) {
        self.sent.push_str(request_text);
        self.sent.push('\n');
    }

    /// Substitution in text (request bodies, recorded reply strings and keys).
    fn text(&self, text: &str) -> String {
        self.text.apply(text)
    }

    /// Substitution in a URL (raw and percent-encoded forms; the server's value percent-encoded).
    fn url(&self, target: &str) -> String {
        self.url.apply(target)
    }

    fn json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    out.insert(self.text(key), self.json(item));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// Walk the (already mapped) recorded reply and the server reply in parallel and learn new references.
    fn learn(&mut self, recorded: &Value, server: &Value) {
        let before = self.pairs.len();
        self.walk(recorded, server, "");
        if self.pairs.len() != before {
            self.rebuild();
        }
    }

    fn walk(&mut self, recorded: &Value, server: &Value, key: &str) {
        match (recorded, server) {
            (Value::Object(r), Value::Object(s)) => {
                for (child, value) in r {
                    if let Some(other) = s.get(child) {
                        self.walk(value, other, child);
                    }
                }
            }
            (Value::Array(r), Value::Array(s)) => {
                for (i, j) in align(r, s) {
                    self.walk(&r[i], &s[j], key);
                }
            }
            (Value::String(r), Value::String(s)) if self.is_new_reference(r, s, key) => {
                self.pairs.insert(r.clone(), s.clone());
                self.targets.insert(s.clone());
            }
            _ => {}
        }
    }

    fn is_new_reference(&self, recorded: &str, server: &str, key: &str) -> bool {
        is_reference_key(key)
            && recorded != server
            && recorded.chars().count() >= MIN_ID_LENGTH
            && recorded != REDACTED
            && !self.pairs.contains_key(recorded)
            && !self.targets.contains(recorded)
            && !self.targets.contains(server)
            && !self.sent.contains(recorded)
    }
}

// ---------------------------------------------------------------------------------------------------
// Judgement
// ---------------------------------------------------------------------------------------------------

/// The differences of one server reply from the recorded one (recorded keys only), plus warnings.
struct Judgement<'a> {
    /// The recorded request that produced this reply.
    request_text: &'a str,
    diffs: Vec<String>,
    extra_keys: Vec<String>,
    message_match: Option<bool>,
}

impl<'a> Judgement<'a> {
    fn new(request_text: &'a str) -> Self {
        Self {
            request_text,
            diffs: Vec::new(),
            extra_keys: Vec::new(),
            message_match: None,
        }
    }

    fn differ(&mut self, path: &str, detail: &str) {
        self.diffs.push(format!("{path}: {detail}"));
    }

    /// Judge the server's body (`text`, parsed as `actual`); error replies only by their codes.
    fn body(
        &mut self,
        recorded_text: &str,
        recorded: Option<&Value>,
        text: &str,
        actual: Option<&Value>,
        ids: &IdMap,
        is_error: bool,
    ) {
        let Some(recorded) = recorded else {
            if ids.text(recorded_text) != text {
                let detail = format!(
                    "expected {}, got {}",
                    snippet_str(recorded_text),
                    body_snippet(text, actual)
                );
                self.differ("$", &detail);
            }
            return;
        };
        let Some(actual) = actual else {
            self.differ(
                "$",
                &format!("expected JSON, got {}", body_snippet(text, None)),
            );
            return;
        };
        match (is_error, recorded, actual) {
            (true, Value::Object(_), Value::Object(actual_map)) => {
                let expected = ids.json(recorded);
                for field in ERROR_FIELDS {
                    if let Some(want) = expected.get(field) {
                        let got = actual_map.get(field).unwrap_or(&Value::Null);
                        if !py_eq(want, got) {
                            let detail =
                                format!("expected {}, got {}", snippet(want), snippet(got));
                            self.differ(&format!("$.{field}"), &detail);
                        }
                    }
                }
                if let Some(message) = expected.get("message") {
                    let got = actual_map.get("message").unwrap_or(&Value::Null);
                    self.message_match = Some(py_eq(message, got));
                }
            }
            _ => {
                let expected = ids.json(recorded);
                self.compare(&expected, actual, "$", &mut Vec::new());
            }
        }
    }

    /// True for values no server can reproduce exactly: only their presence and JSON type are compared.
    fn is_volatile(&self, value: &Value, keys: &[&str]) -> bool {
        let key = keys.last().copied().unwrap_or("");
        if TIMESTAMP_KEYS.contains(&key) || key.ends_with("_at") {
            return !matches!(value, Value::Object(_) | Value::Array(_));
        }
        let Value::String(value) = value else {
            return false;
        };
        if value == REDACTED || is_iso8601(value) {
            return true;
        }
        // options.configuration of a connection holds secrets that Auth0 returns encrypted. A value the
        // client sent in this very request is compared exactly, even under a random key.
        let n = keys.len();
        let random = RANDOM_KEYS.contains(&key)
            || (n >= 3 && keys[n - 3] == "options" && keys[n - 2] == "configuration");
        random && !self.request_text.contains(&json_string_body(value))
    }

    fn compare<'v>(
        &mut self,
        expected: &'v Value,
        actual: &Value,
        path: &str,
        keys: &mut Vec<&'v str>,
    ) {
        if self.is_volatile(expected, keys) {
            if json_type(expected) != json_type(actual) {
                let detail = format!(
                    "expected a {}, got {}",
                    json_type(expected),
                    snippet(actual)
                );
                self.differ(path, &detail);
            }
            return;
        }
        match (expected, actual) {
            (Value::Object(want), Value::Object(got)) => {
                for (key, value) in want {
                    let child = format!("{path}.{key}");
                    match got.get(key) {
                        Some(other) => {
                            keys.push(key.as_str());
                            self.compare(value, other, &child, keys);
                            keys.pop();
                        }
                        None => {
                            let detail = format!("missing (expected {})", snippet_limit(value, 60));
                            self.differ(&child, &detail);
                        }
                    }
                }
                self.extra_keys.extend(
                    got.keys()
                        .filter(|key| !want.contains_key(key.as_str()))
                        .map(|key| format!("{path}.{key}")),
                );
            }
            (Value::Array(want), Value::Array(got)) => {
                if want.len() != got.len() {
                    let detail = format!("expected {} items, got {}", want.len(), got.len());
                    self.differ(path, &detail);
                    return;
                }
                for (i, j) in align(want, got) {
                    self.compare(&want[i], &got[j], &format!("{path}[{i}]"), keys);
                }
            }
            _ => {
                if json_type(expected) != json_type(actual) || !py_eq(expected, actual) {
                    let detail = format!("expected {}, got {}", snippet(expected), snippet(actual));
                    self.differ(path, &detail);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------------

/// Decompress a reply body by its Content-Encoding (or gzip magic bytes) and decode it as UTF-8.
fn decode(raw: &[u8], encoding: &str) -> Result<String, String> {
    let raw = if encoding.contains("gzip") || raw.starts_with(&[0x1f, 0x8b]) {
        gunzip(raw)?
    } else if encoding.contains("deflate") {
        inflate_zlib(raw)?
    } else {
        raw.to_vec()
    };
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// Python's `gzip.decompress`: any number of members, zero padding between them ignored, empty input
/// gives an empty result.
fn gunzip(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        if data.is_empty() {
            return Ok(out);
        }
        if !data.starts_with(&[0x1f, 0x8b]) {
            return Err(format!(
                "BadGzipFile('Not a gzipped file ({:?})')",
                &data[..data.len().min(2)]
            ));
        }
        let mut decoder = flate2::bufread::GzDecoder::new(data);
        decoder
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        let rest = decoder.into_inner();
        if rest.len() == data.len() {
            return Err("gzip: no progress".to_owned());
        }
        data = &rest[rest.iter().take_while(|b| **b == 0).count()..];
    }
}

/// Python's `zlib.decompress` (zlib-wrapped deflate).
fn inflate_zlib(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut decoder = flate2::bufread::ZlibDecoder::new(data);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib.error: {e}"))?;
    if decoder.total_in() == 0 {
        return Err("zlib.error: incomplete or truncated stream".to_owned());
    }
    Ok(out)
}

fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The server under test (replay.py's `Server`).
#[derive(Debug)]
struct Server {
    /// `--base-url` without trailing slashes: the value recorded origins map to.
    base_url: String,
    scheme: String,
    host: String,
    port: u16,
    /// The base URL's path, without trailing slashes, put before every request path.
    prefix: String,
}

impl Server {
    fn new(base_url: &str) -> anyhow::Result<Self> {
        let parts =
            urlsplit(base_url).map_err(|e| anyhow!("not an http(s) URL: {base_url} ({e})"))?;
        if !matches!(parts.scheme.as_str(), "http" | "https")
            || py_hostname(&parts.netloc).is_none()
        {
            bail!("not an http(s) URL: {base_url}");
        }
        let url =
            url::Url::parse(base_url).with_context(|| format!("not an http(s) URL: {base_url}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow!("not an http(s) URL: {base_url}"))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| anyhow!("not an http(s) URL: {base_url}"))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            scheme: parts.scheme,
            host,
            port,
            prefix: parts.path.trim_end_matches('/').to_owned(),
        })
    }

    /// One request on its own connection (`Connection: close`); any status is returned. `Err` when no
    /// reply arrives (replay.py's transport errors), with a description.
    async fn request(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
        method: &str,
        target: &str,
        body: Option<Vec<u8>>,
        headers: Vec<(String, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>, String), String> {
        let url = format!(
            "{}://{}:{}{}{}",
            self.scheme, self.host, self.port, self.prefix, target
        );
        let url = url::Url::parse(&url).map_err(|e| format!("invalid URL {url}: {e}"))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| format!("invalid method {method:?}: {e}"))?;
        let mut header_map = HeaderMap::new();
        for (name, value) in headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("invalid header name {name:?}: {e}"))?;
            let header_value = HeaderValue::from_bytes(&value)
                .map_err(|e| format!("invalid value of header {name:?}: {e}"))?;
            header_map.append(header_name, header_value);
        }
        header_map.insert(
            reqwest::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
        // http.client sends `Content-Length: 0` for a PATCH, POST or PUT without a body (hyper would not).
        if body.is_none()
            && METHODS_EXPECTING_BODY.contains(&method.as_str().to_ascii_uppercase().as_str())
            && !header_map.contains_key(reqwest::header::CONTENT_LENGTH)
        {
            header_map.insert(
                reqwest::header::CONTENT_LENGTH,
                HeaderValue::from_static("0"),
            );
        }
        let mut request = client
            .request(method, url)
            .headers(header_map)
            .timeout(timeout);
        if let Some(body) = body {
            request = request.body(body);
        }
        let reply = request
            .send()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = reply.status().as_u16();
        let encoding = reply
            .headers()
            .get_all(reqwest::header::CONTENT_ENCODING)
            .iter()
            .map(|v| {
                v.as_bytes()
                    .iter()
                    .map(|b| char::from(*b))
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(", ")
            .to_lowercase();
        let raw = reply
            .bytes()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        Ok((status, raw.to_vec(), encoding))
    }
}

// ---------------------------------------------------------------------------------------------------
// Cassettes
// ---------------------------------------------------------------------------------------------------

enum Loaded {
    /// The interactions and the set of recorded origins (`scheme://netloc`), in first-seen order.
    Cassette(Vec<Yaml>, Vec<String>),
    /// replay.py's "cannot read cassette" (the reason).
    Unreadable(String),
}

/// Python's type name of a YAML value, for messages.
fn py_type(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "NoneType",
        Yaml::Bool(_) => "bool",
        Yaml::Number(n) if n.is_f64() => "float",
        Yaml::Number(_) => "int",
        Yaml::String(_) => "str",
        Yaml::Sequence(_) => "list",
        Yaml::Mapping(_) => "dict",
        Yaml::Tagged(_) => "object",
    }
}

/// Python truthiness of a YAML value.
fn truthy(value: &Yaml) -> bool {
    match value {
        Yaml::Null => false,
        Yaml::Bool(b) => *b,
        Yaml::Number(n) => n.as_f64().is_none_or(|f| f != 0.0),
        Yaml::String(s) => !s.is_empty(),
        Yaml::Sequence(s) => !s.is_empty(),
        Yaml::Mapping(m) => !m.is_empty(),
        Yaml::Tagged(_) => true,
    }
}

/// `value[key]` on a YAML mapping, with Python's KeyError/TypeError as the message.
fn subscript<'a>(value: &'a Yaml, key: &str) -> Result<&'a Yaml, String> {
    match value {
        Yaml::Mapping(map) => map.get(key).ok_or_else(|| format!("'{key}'")),
        other => Err(format!("'{}' object is not subscriptable", py_type(other))),
    }
}

/// `value.get(key)` on a YAML mapping (`None` for a missing key).
fn get<'a>(value: &'a Yaml, key: &str) -> anyhow::Result<Option<&'a Yaml>> {
    match value {
        Yaml::Mapping(map) => Ok(map.get(key)),
        other => bail!("'{}' object has no attribute 'get'", py_type(other)),
    }
}

/// `value or ""` for a YAML value that must then be a string.
fn string_or_empty(value: Option<&Yaml>, what: &str) -> anyhow::Result<String> {
    match value {
        None => Ok(String::new()),
        Some(v) if !truthy(v) => Ok(String::new()),
        Some(Yaml::String(s)) => Ok(s.clone()),
        Some(other) => bail!("{what} is a {}, not a string", py_type(other)),
    }
}

/// The part of replay.py's `run_cassette` inside its `try`: read and parse the file, collect origins.
async fn load_cassette(path: &Path) -> anyhow::Result<Loaded> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) => return Ok(Loaded::Unreadable(e.to_string())),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Ok(Loaded::Unreadable(format!(
                "'utf-8' codec can't decode: {e}"
            )));
        }
    };
    // Path.read_text translates newlines.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let document: Yaml = match serde_yaml_ng::from_str(&text) {
        Ok(document) => document,
        Err(e) => return Ok(Loaded::Unreadable(e.to_string())),
    };
    let interactions = match subscript(&document, "interactions") {
        Ok(interactions) => interactions,
        Err(e) => return Ok(Loaded::Unreadable(e)),
    };
    let interactions = match interactions {
        v if !truthy(v) => Vec::new(),
        Yaml::Sequence(items) => items.clone(),
        Yaml::Mapping(_) | Yaml::String(_) => {
            return Ok(Loaded::Unreadable(
                "string indices must be integers, not 'str'".to_owned(),
            ));
        }
        other => {
            return Ok(Loaded::Unreadable(format!(
                "'{}' object is not iterable",
                py_type(other)
            )));
        }
    };
    let mut origins: Vec<String> = Vec::new();
    for interaction in &interactions {
        let url = match subscript(interaction, "request").and_then(|r| subscript(r, "url")) {
            Ok(url) => url,
            Err(e) => return Ok(Loaded::Unreadable(e)),
        };
        let Yaml::String(url) = url else {
            bail!("request url is a {}, not a string", py_type(url));
        };
        let parts = urlsplit(url).map_err(|e| anyhow!("ValueError: {e}: {url}"))?;
        let origin = format!("{}://{}", parts.scheme, parts.netloc);
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(Loaded::Cassette(interactions, origins))
}

/// The recorded request headers that are sent (replay.py's dict comprehension plus `http.client`'s
/// conversions), in order; `Err` where replay.py crashes.
fn recorded_headers(request: &Yaml) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let headers = match get(request, "headers")? {
        Some(h) if truthy(h) => h,
        _ => return Ok(Vec::new()),
    };
    let Yaml::Mapping(headers) = headers else {
        bail!("'{}' object has no attribute 'items'", py_type(headers));
    };
    let mut out = Vec::new();
    for (name, values) in headers {
        if !truthy(values) {
            continue;
        }
        let Yaml::String(name) = name else {
            bail!("header name {name:?} is not a string");
        };
        if UNSENT_HEADERS.contains(&name.to_lowercase().as_str()) {
            continue;
        }
        let first: Yaml = match values {
            Yaml::Sequence(items) => items.first().cloned().unwrap_or(Yaml::Null),
            Yaml::String(s) => Yaml::String(s.chars().next().map(String::from).unwrap_or_default()),
            other => bail!(
                "header {name:?}: '{}' object is not subscriptable",
                py_type(other)
            ),
        };
        // http.client: str values are encoded as Latin-1, ints (and bools) written with str().
        let value: Vec<u8> = match &first {
            Yaml::String(s) => s
                .chars()
                .map(|c| u8::try_from(u32::from(c)))
                .collect::<Result<_, _>>()
                .map_err(|_| anyhow!("header {name:?}: 'latin-1' codec can't encode {s:?}"))?,
            Yaml::Bool(true) => b"True".to_vec(),
            Yaml::Bool(false) => b"False".to_vec(),
            Yaml::Number(n) if !n.is_f64() => n.to_string().into_bytes(),
            other => bail!("header {name:?}: a {} value cannot be sent", py_type(other)),
        };
        if !name.is_ascii() || !is_legal_header_name(name) {
            bail!("Invalid header name {name:?}");
        }
        if is_illegal_header_value(&value) {
            bail!("Invalid header value {:?}", String::from_utf8_lossy(&value));
        }
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// `http.client._is_legal_header_name`: `[^:\s][^:\r\n]*`.
fn is_legal_header_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first != ':' && !first.is_ascii_whitespace() && first != '\u{b}' => {
            chars.all(|c| !matches!(c, ':' | '\r' | '\n'))
        }
        _ => false,
    }
}

/// `http.client._is_illegal_header_value`: `\n(?![ \t])|\r(?![ \t\n])`.
fn is_illegal_header_value(value: &[u8]) -> bool {
    value.iter().enumerate().any(|(i, b)| {
        let next = value.get(i + 1).copied();
        match b {
            b'\n' => !matches!(next, Some(b' ' | b'\t')),
            b'\r' => !matches!(next, Some(b' ' | b'\t' | b'\n')),
            _ => false,
        }
    })
}

/// The recorded status: a YAML integer that is an HTTP status.
fn recorded_status(response: &Yaml) -> anyhow::Result<u16> {
    let code = subscript(response, "code").map_err(|e| anyhow!("response: {e}"))?;
    code.as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .ok_or_else(|| anyhow!("response code {code:?} is not an HTTP status"))
}

/// Replays cassettes against the server (replay.py's `Replayer`).
struct Replayer<'a> {
    client: &'a reqwest::Client,
    server: &'a Server,
    token: &'a str,
    timeout: Duration,
}

impl Replayer<'_> {
    async fn replay(
        &self,
        number: usize,
        interaction: &Yaml,
        ids: &mut IdMap,
    ) -> anyhow::Result<InteractionReport> {
        let request = subscript(interaction, "request").map_err(|e| anyhow!("KeyError: {e}"))?;
        let response = subscript(interaction, "response").map_err(|e| anyhow!("KeyError: {e}"))?;
        let method = match subscript(request, "method").map_err(|e| anyhow!("KeyError: {e}"))? {
            Yaml::String(method) => method.clone(),
            other => bail!("request method is a {}, not a string", py_type(other)),
        };
        let url = match subscript(request, "url").map_err(|e| anyhow!("KeyError: {e}"))? {
            Yaml::String(url) => url,
            other => bail!("request url is a {}, not a string", py_type(other)),
        };
        let url = urlsplit(url).map_err(|e| anyhow!("ValueError: {e}"))?;
        let target = if url.query.is_empty() {
            url.path.clone()
        } else {
            format!("{}?{}", url.path, url.query)
        };
        let mut outcome = InteractionReport {
            index: number,
            method: method.clone(),
            path: target.clone(),
            skipped: true,
            recorded_status: 0,
            server_status: None,
            status_match: false,
            passed: false,
            diffs: Vec::new(),
            extra_keys: Vec::new(),
            message_match: None,
        };
        if !url.path.starts_with(API_PREFIX) {
            // Not read by replay.py; reported when available.
            outcome.recorded_status = recorded_status(response).unwrap_or(0);
            return Ok(outcome);
        }
        let recorded_body = string_or_empty(get(request, "body")?, "request body")?;
        let request_text = format!("{}\n{}", unquote(&target), recorded_body);
        ids.note_request(&request_text);
        let code = recorded_status(response)?;
        outcome.path = ids.url(&target);
        outcome.skipped = false;
        outcome.recorded_status = code;
        let mut headers = recorded_headers(request)?;
        headers.push(("Accept-Encoding".to_owned(), b"gzip".to_vec()));
        if !self.token.is_empty() {
            headers.push((
                "Authorization".to_owned(),
                format!("Bearer {}", self.token).into_bytes(),
            ));
        }
        // http.client refuses these request lines (replay.py crashes).
        if method.chars().any(|c| c < ' ') || !method.is_ascii() {
            bail!("method can't contain control characters: {method:?}");
        }
        let sent_target = format!("{}{}", self.server.prefix, outcome.path);
        if sent_target.chars().any(|c| c <= ' ' || c == '\u{7f}') || !sent_target.is_ascii() {
            bail!("URL can't contain control characters: {sent_target:?}");
        }
        let recorded_text = string_or_empty(get(response, "body")?, "response body")?;
        let body = (!recorded_body.is_empty()).then(|| ids.text(&recorded_body).into_bytes());
        let reply = self
            .server
            .request(
                self.client,
                self.timeout,
                &method,
                &outcome.path,
                body,
                headers,
            )
            .await;
        let (status, raw, encoding) = match reply {
            Ok(reply) => reply,
            Err(e) => {
                outcome.diffs.push(format!("reply: no usable reply: {e}"));
                return Ok(outcome);
            }
        };
        outcome.server_status = Some(status);
        outcome.status_match = status == code;
        let text = match decode(&raw, &encoding) {
            Ok(text) => text,
            Err(e) => {
                outcome.diffs.push(format!("reply: no usable reply: {e}"));
                return Ok(outcome);
            }
        };
        let recorded = parse_json(&recorded_text);
        let actual = parse_json(&text);
        if let (Some(recorded), Some(actual)) = (&recorded, &actual) {
            let mapped = ids.json(recorded);
            ids.learn(&mapped, actual);
        }
        if !outcome.status_match {
            outcome.diffs.push(format!(
                "status: expected {code}, got {status}: {}",
                body_snippet(&text, actual.as_ref())
            ));
        } else if status != 204 && !is_blank(&recorded_text) {
            // otherwise the server's body is not judged
            let mut judgement = Judgement::new(&request_text);
            let recorded = match recorded {
                Some(r) if status < 400 && is_rewritten_client_reply(&method, &url.path) => {
                    Some(strip_recorder_artefacts(r))
                }
                other => other,
            };
            judgement.body(
                &recorded_text,
                recorded.as_ref(),
                &text,
                actual.as_ref(),
                ids,
                status >= 400,
            );
            outcome.diffs = judgement.diffs;
            outcome.extra_keys = judgement.extra_keys;
            outcome.message_match = judgement.message_match;
        }
        outcome.passed = outcome.status_match && outcome.diffs.is_empty();
        Ok(outcome)
    }
}

/// The provider's recorder (`internal/acctest/http_recorder.go`) rewrites these client replies: it
/// decodes them into go-auth0's `Client`/`ClientList`, sets `signing_keys` to
/// `[{"cert": "[REDACTED]"}]` and encodes them again (which also adds the list envelope's `length`).
/// replay.py's `is_rewritten_client_reply`.
fn is_rewritten_client_reply(method: &str, path: &str) -> bool {
    let base = format!("{API_PREFIX}clients");
    let one = path.starts_with(&format!("{base}/")) && !path.contains("credentials");
    (path == base && matches!(method, "GET" | "POST")) || (one && matches!(method, "GET" | "PATCH"))
}

/// The recorded reply without what the recorder added (replay.py's `strip_recorder_artefacts`): a
/// server should not imitate the recorder.
fn strip_recorder_artefacts(recorded: Value) -> Value {
    fn client(obj: Value) -> Value {
        match obj {
            Value::Object(mut map) => {
                map.shift_remove("signing_keys");
                Value::Object(map)
            }
            other => other,
        }
    }
    match recorded {
        Value::Object(mut map) if map.get("clients").is_some_and(Value::is_array) => {
            map.shift_remove("length");
            if let Some(Value::Array(items)) = map.get_mut("clients") {
                let taken = std::mem::take(items);
                *items = taken.into_iter().map(client).collect();
            }
            Value::Object(map)
        }
        other => client(other),
    }
}

/// replay.py's `prepare_recorded_tenant` (`--recorded-tenant`): gives the tenant's
/// `Username-Password-Authentication` connection `requires_username: true`, as the recorded tenant
/// had (a new Auth0 tenant does not). Returns whether the connection was found and updated.
pub async fn prepare_recorded_tenant(
    client: &reqwest::Client,
    opts: &ReplayOptions,
) -> anyhow::Result<bool> {
    let server = Server::new(&opts.base_url)?;
    let headers = || {
        vec![
            (
                "Authorization".to_owned(),
                format!("Bearer {}", opts.token).into_bytes(),
            ),
            ("Content-Type".to_owned(), b"application/json".to_vec()),
        ]
    };
    let target = format!("{API_PREFIX}connections?name=Username-Password-Authentication");
    let Ok((status, raw, encoding)) = server
        .request(client, opts.timeout, "GET", &target, None, headers())
        .await
    else {
        return Ok(false);
    };
    let found = if status == 200 {
        decode(&raw, &encoding).ok().and_then(|t| parse_json(&t))
    } else {
        None
    };
    let found = match found {
        Some(Value::Object(mut map)) => map.remove("connections").unwrap_or(Value::Object(map)),
        other => other.unwrap_or(Value::Null),
    };
    let Some(conn) = found.as_array().and_then(|a| a.first()) else {
        return Ok(false);
    };
    let Some(id) = conn.get("id").and_then(Value::as_str) else {
        return Ok(false);
    };
    let mut options = match conn.get("options") {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    options.insert("requires_username".into(), Value::Bool(true));
    let body = serde_json::json!({ "options": options })
        .to_string()
        .into_bytes();
    let target = format!("{API_PREFIX}connections/{id}");
    let reply = server
        .request(
            client,
            opts.timeout,
            "PATCH",
            &target,
            Some(body),
            headers(),
        )
        .await;
    Ok(matches!(reply, Ok((200, _, _))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORIGIN: &str = "https://terraform-provider-auth0-dev.eu.auth0.com";
    const BASE: &str = "http://127.0.0.1:8080";

    fn id_map() -> IdMap {
        IdMap::new([(ORIGIN.to_owned(), BASE.to_owned())])
    }

    /// Judge a reply the way `Replayer::replay` does for a matching status.
    fn judge(
        ids: &IdMap,
        request_text: &str,
        recorded: &Value,
        actual: &Value,
        is_error: bool,
    ) -> (Vec<String>, Vec<String>, Option<bool>) {
        let recorded_text = recorded.to_string();
        let text = actual.to_string();
        let mut judgement = Judgement::new(request_text);
        judgement.body(
            &recorded_text,
            Some(recorded),
            &text,
            Some(actual),
            ids,
            is_error,
        );
        (
            judgement.diffs,
            judgement.extra_keys,
            judgement.message_match,
        )
    }

    #[test]
    fn learned_id_is_substituted_in_urls_raw_and_percent_encoded() {
        let mut ids = id_map();
        ids.note_request("/api/v2/users\n{\"email\":\"a@example.com\"}");
        ids.learn(
            &json!({"user_id": "auth0|abc123", "email": "a@example.com"}),
            &json!({"user_id": "auth0|srv999", "email": "a@example.com"}),
        );
        assert_eq!(
            ids.url("/api/v2/users/auth0|abc123"),
            "/api/v2/users/auth0%7Csrv999"
        );
        assert_eq!(
            ids.url("/api/v2/users/auth0%7Cabc123/roles"),
            "/api/v2/users/auth0%7Csrv999/roles"
        );
        // Bodies get the raw server value.
        assert_eq!(
            ids.text("{\"id\":\"auth0|abc123\"}"),
            "{\"id\":\"auth0|srv999\"}"
        );
        // The recorded origin becomes the base URL, percent-encoded in URLs.
        assert_eq!(
            ids.url(&format!(
                "/api/v2/resource-servers/{}",
                quote(&format!("{ORIGIN}/api/v2/"))
            )),
            "/api/v2/resource-servers/http%3A%2F%2F127.0.0.1%3A8080%2Fapi%2Fv2%2F"
        );
        assert_eq!(
            ids.text(&format!("{ORIGIN}/api/v2/")),
            "http://127.0.0.1:8080/api/v2/"
        );
        // Recorded replies are mapped (keys too) before comparison.
        assert_eq!(
            ids.json(&json!({"auth0|abc123": ["auth0|abc123", 1]})),
            json!({"auth0|srv999": ["auth0|srv999", 1]})
        );
    }

    #[test]
    fn only_new_server_chosen_references_are_learned() {
        let mut ids = id_map();
        ids.note_request("/api/v2/users\n{\"user_id\":\"client-chosen-id\"}");
        ids.learn(
            &json!({
                "user_id": "client-chosen-id",   // sent by the client: must come back exactly
                "name": "not-a-reference",       // not a reference key
                "id": "short",                   // fewer than 6 characters
                "secret_id": "[REDACTED]",       // redacted
                "tenant": "same-value",          // equal on both sides
                "roles": [{"roleId": "rol_recorded1"}, {"roleId": "rol_recorded2"}],
            }),
            &json!({
                "user_id": "server-changed-it",
                "name": "other-value",
                "id": "srv_1",
                "secret_id": "srv_secret",
                "tenant": "same-value",
                "roles": [{"roleId": "rol_server1"}, {"roleId": "rol_server2"}],
            }),
        );
        let learned: Vec<(&str, &str)> = ids
            .pairs
            .entries
            .iter()
            .skip(1)
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        // Array elements take the key of their array's parent ("roleId" here, inside objects).
        assert_eq!(
            learned,
            vec![
                ("rol_recorded1", "rol_server1"),
                ("rol_recorded2", "rol_server2")
            ]
        );
        // One to one, first mapping wins: neither side can be mapped again.
        ids.learn(
            &json!({"id": "rol_recorded1", "other_id": "recorded_other"}),
            &json!({"id": "rol_server9", "other_id": "rol_server2"}),
        );
        assert_eq!(
            ids.text("rol_recorded1 recorded_other"),
            "rol_server1 recorded_other"
        );
        // Strings in arrays take the array's key ("client_ids" is not a reference key, "client_id" is).
        ids.learn(
            &json!({"client_ids": ["recorded_client"]}),
            &json!({"client_ids": ["server_client"]}),
        );
        assert_eq!(ids.text("recorded_client"), "recorded_client");
        ids.learn(
            &json!({"client_id": ["recorded_client"]}),
            &json!({"client_id": ["server_client"]}),
        );
        assert_eq!(ids.text("recorded_client"), "server_client");
    }

    #[test]
    fn substitution_is_single_pass_and_longest_first() {
        let ids = IdMap::new([
            ("abcdef".to_owned(), "SHORT".to_owned()),
            ("abcdefgh".to_owned(), "LONG".to_owned()),
            ("SHORT1".to_owned(), "never".to_owned()),
        ]);
        assert_eq!(ids.text("abcdefgh abcdef abcdef1"), "LONG SHORT SHORT1");
        let fallback = Substituter::new(&ids.pairs.entries);
        assert_eq!(
            fallback.apply_slowly("abcdefgh abcdef abcdef1"),
            "LONG SHORT SHORT1"
        );
    }

    #[test]
    fn timestamps_redacted_and_random_values_check_type_only() {
        let ids = id_map();
        let recorded = json!({
            "created_at": "2024-01-01T00:00:00.000Z",
            "last_login": 5,
            "when": "2024-05-06T07:08:09+02:00",
            "password": "[REDACTED]",
            "client_secret": "recorded-secret",
            "options": {"configuration": {"API_KEY": "encrypted-a"}},
        });
        let actual = json!({
            "created_at": "2030-12-31T23:59:59Z",
            "last_login": 6,
            "when": "2000-01-01T00:00:00Z",
            "password": "whatever",
            "client_secret": "server-secret",
            "options": {"configuration": {"API_KEY": "encrypted-b"}},
        });
        let (diffs, extra, _) = judge(&ids, "/api/v2/clients\n", &recorded, &actual, false);
        assert!(diffs.is_empty(), "{diffs:?}");
        assert!(extra.is_empty());

        // A recorded date-time string only asks for a string ("when": "x" passes).
        let wrong_type = json!({"created_at": 1, "last_login": 6, "when": "x", "password": null,
            "client_secret": 3, "options": {"configuration": {"API_KEY": "encrypted-b"}}});
        let (diffs, _, _) = judge(&ids, "/api/v2/clients\n", &recorded, &wrong_type, false);
        assert_eq!(
            diffs,
            vec![
                "$.created_at: expected a string, got 1",
                "$.password: expected a string, got null",
                "$.client_secret: expected a string, got 3",
            ]
        );
    }

    #[test]
    fn values_the_client_sent_are_compared_exactly() {
        let ids = id_map();
        let request = "/api/v2/clients/abc\n{\"client_secret\":\"my \\\"quoted\\\" secret\",\
                       \"options\":{\"configuration\":{\"KEY\":\"plain\"}}}";
        let recorded = json!({"client_secret": "my \"quoted\" secret",
            "options": {"configuration": {"KEY": "plain"}}});
        let actual = json!({"client_secret": "other",
            "options": {"configuration": {"KEY": "encrypted"}}});
        let (diffs, _, _) = judge(&ids, request, &recorded, &actual, false);
        assert_eq!(
            diffs,
            vec![
                "$.client_secret: expected \"my \\\"quoted\\\" secret\", got \"other\"",
                "$.options.configuration.KEY: expected \"plain\", got \"encrypted\"",
            ]
        );
        // Without the request text, the same values are volatile.
        let (diffs, _, _) = judge(&ids, "/api/v2/clients/abc\n", &recorded, &actual, false);
        assert!(diffs.is_empty(), "{diffs:?}");
    }

    #[test]
    fn arrays_pair_by_similarity_and_extra_keys_are_warnings() {
        let ids = id_map();
        let recorded = json!({"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}, "x"]});
        let actual = json!({"items": ["x", {"name": "b", "v": 2, "new": true}, {"name": "a", "v": 1.0}],
                            "total": 3});
        let (diffs, extra, _) = judge(&ids, "", &recorded, &actual, false);
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(extra, vec!["$.items[1].new", "$.total"]);

        let shorter = json!({"items": ["x"]});
        let (diffs, _, _) = judge(&ids, "", &recorded, &shorter, false);
        assert_eq!(diffs, vec!["$.items: expected 3 items, got 1"]);

        let changed = json!({"items": [{"name": "a", "v": 1}, {"name": "b", "v": 3}, "x"]});
        let (diffs, _, _) = judge(&ids, "", &recorded, &changed, false);
        assert_eq!(diffs, vec!["$.items[1].v: expected 2, got 3"]);

        let missing = json!({"items": [{"name": "a"}, {"name": "b", "v": 2}, "x"]});
        let (diffs, _, _) = judge(&ids, "", &recorded, &missing, false);
        assert_eq!(diffs, vec!["$.items[0].v: missing (expected 1)"]);
    }

    #[test]
    fn align_prefers_same_then_nearest_index() {
        let recorded = vec![json!({"a": 1}), json!({"a": 2}), json!({"a": 3})];
        let server = vec![json!({"a": 3}), json!({"a": 2}), json!({"a": 1})];
        assert_eq!(align(&recorded, &server), vec![(0, 2), (1, 1), (2, 0)]);
        // No similarity at all: nearest free index, then the lowest.
        let server = vec![json!({"b": 1}), json!({"b": 2})];
        assert_eq!(align(&recorded, &server), vec![(0, 0), (1, 1)]);
        assert_eq!(align(&recorded, &[]), vec![]);
    }

    #[test]
    fn error_replies_compare_codes_and_message_separately() {
        let ids = id_map();
        let recorded = json!({"statusCode": 404, "error": "Not Found",
            "message": "The client does not exist", "errorCode": "inexistent_client"});
        let same_codes = json!({"statusCode": 404, "error": "Not Found", "message": "Other text",
            "errorCode": "inexistent_client", "extra": 1});
        let (diffs, extra, message) = judge(&ids, "", &recorded, &same_codes, true);
        assert!(diffs.is_empty());
        assert!(
            extra.is_empty(),
            "extra keys are not reported for error replies"
        );
        assert_eq!(message, Some(false));

        let other_code = json!({"statusCode": 404, "error": "Not Found",
            "message": "The client does not exist"});
        let (diffs, _, message) = judge(&ids, "", &recorded, &other_code, true);
        assert_eq!(
            diffs,
            vec!["$.errorCode: expected \"inexistent_client\", got null"]
        );
        assert_eq!(message, Some(true));
    }

    #[test]
    fn recorder_artefacts_are_removed_from_client_replies_only() {
        assert!(is_rewritten_client_reply("POST", "/api/v2/clients"));
        assert!(is_rewritten_client_reply("GET", "/api/v2/clients"));
        assert!(is_rewritten_client_reply("GET", "/api/v2/clients/abc"));
        assert!(is_rewritten_client_reply("PATCH", "/api/v2/clients/abc"));
        assert!(!is_rewritten_client_reply("DELETE", "/api/v2/clients/abc"));
        assert!(!is_rewritten_client_reply("PATCH", "/api/v2/clients"));
        assert!(!is_rewritten_client_reply(
            "GET",
            "/api/v2/clients/abc/credentials"
        ));
        assert!(!is_rewritten_client_reply("GET", "/api/v2/client-grants"));
        let one = json!({"client_id": "a", "signing_keys": [{"cert": "[REDACTED]"}], "name": "n"});
        assert_eq!(
            strip_recorder_artefacts(one),
            json!({"client_id": "a", "name": "n"})
        );
        let list =
            json!({"clients": [{"client_id": "a", "signing_keys": []}], "length": 1, "total": 1});
        assert_eq!(
            strip_recorder_artefacts(list),
            json!({"clients": [{"client_id": "a"}], "total": 1})
        );
        // Without the artefact the server's reply passes even though it shows no signing_keys.
        let recorded = strip_recorder_artefacts(
            json!({"client_id": "a", "signing_keys": [{"cert": "[REDACTED]"}]}),
        );
        let (diffs, _, _) = judge(&id_map(), "", &recorded, &json!({"client_id": "a"}), false);
        assert!(diffs.is_empty(), "{diffs:?}");
        // Other replies keep their keys.
        assert_eq!(
            strip_recorder_artefacts(json!([{"signing_keys": 1}])),
            json!([{"signing_keys": 1}])
        );
    }

    #[test]
    fn non_json_bodies() {
        let ids = id_map();
        let mut judgement = Judgement::new("");
        judgement.body("", None, "", None, &ids, false);
        assert!(judgement.diffs.is_empty());
        judgement.body(
            &format!("see {ORIGIN}"),
            None,
            "see http://127.0.0.1:8080",
            None,
            &ids,
            false,
        );
        assert!(
            judgement.diffs.is_empty(),
            "text bodies are compared after ID substitution"
        );
        judgement.body("plain", None, "other", None, &ids, false);
        judgement.body("{}", Some(&json!({})), "", None, &ids, false);
        assert_eq!(
            judgement.diffs,
            vec![
                "$: expected \"plain\", got \"other\"",
                "$: expected JSON, got (empty body)"
            ]
        );
    }

    #[test]
    fn python_equality_and_rendering() {
        assert!(py_eq(&json!(1), &json!(1.0)));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(py_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!py_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!py_eq(&json!(null), &json!(0)));
        assert!(!py_eq(&json!("1"), &json!(1)));
        // The leaf comparison also checks the JSON type, so true and 1 differ there.
        let (diffs, _, _) = judge(&id_map(), "", &json!({"a": true}), &json!({"a": 1}), false);
        assert_eq!(diffs, vec!["$.a: expected true, got 1"]);
        assert_eq!(py_float_repr(1.0), "1.0");
        assert_eq!(py_float_repr(-0.0), "-0.0");
        assert_eq!(py_float_repr(0.0001), "0.0001");
        assert_eq!(py_float_repr(0.00001), "1e-05");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(1.5e300), "1.5e+300");
        assert_eq!(py_float_repr(123_456.789), "123456.789");
        assert_eq!(py_float_repr(1e15), "1000000000000000.0");
        assert_eq!(
            dumps(&json!({"k": "é\n\u{1}\"", "n": [1, 2.5, null]})),
            "{\"k\":\"é\\n\\u0001\\\"\",\"n\":[1,2.5,null]}"
        );
        let long = Value::String("x".repeat(200));
        assert_eq!(snippet(&long).chars().count(), 123);
        assert!(snippet(&long).ends_with("xx..."));
        assert!(is_iso8601("2024-01-01T10:00"));
        assert!(is_iso8601("2024-01-01T10:00:00.123+0200"));
        assert!(!is_iso8601("2024-01-01"));
        assert!(!is_iso8601("2024-01-01T10:00:00Zjunk"));
        assert_eq!(collapse_indices("$.a[12].b[0]"), "$.a[].b[]");
        assert!(is_blank(" \n\t\u{1c}"));
        assert!(!is_blank(" x "));
    }

    #[test]
    fn urls_split_and_quote_like_python() {
        let parts = urlsplit(" https://Host.example:8443/api/v2/x?y=1#frag")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parts.scheme, "https");
        assert_eq!(parts.netloc, "Host.example:8443");
        assert_eq!(parts.path, "/api/v2/x");
        assert_eq!(parts.query, "y=1");
        assert_eq!(parts.fragment, "frag");
        assert!(urlsplit("http://[::1/x").is_err());
        assert!(urlsplit("http://[::1]:80/x").is_ok());
        assert!(urlsplit("http://[1.2.3.4]/x").is_err());
        assert_eq!(py_hostname("user@[::1]:80").as_deref(), Some("::1"));
        assert_eq!(
            py_hostname("Example.COM:80").as_deref(),
            Some("example.com")
        );
        assert_eq!(py_hostname(""), None);
        assert_eq!(quote("auth0|a b/c~d_e.f-g"), "auth0%7Ca%20b%2Fc~d_e.f-g");
        assert_eq!(quote("é"), "%C3%A9");
        assert_eq!(unquote("auth0%7Cabc%2Fdef%zz"), "auth0|abc/def%zz");
        assert_eq!(unquote("%C3"), "\u{fffd}");
    }

    #[test]
    fn decoding_follows_content_encoding_and_gzip_magic() {
        use flate2::Compression;
        use flate2::write::{GzEncoder, ZlibEncoder};
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        };
        let mut two_members = gz(b"{\"a\":");
        two_members.extend_from_slice(&[0, 0]);
        two_members.extend(gz(b"1}"));
        assert_eq!(decode(&two_members, "gzip").unwrap(), "{\"a\":1}");
        // Gzip magic bytes are decompressed without a Content-Encoding.
        assert_eq!(decode(&gz(b"hi"), "").unwrap(), "hi");
        assert_eq!(decode(b"", "gzip").unwrap(), "");
        let truncated = gz(b"hello world");
        assert!(decode(&truncated[..truncated.len() - 4], "gzip").is_err());
        assert!(decode(b"not gzip", "gzip").is_err());
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(b"deflated").unwrap();
        assert_eq!(
            decode(&zlib.finish().unwrap(), "deflate").unwrap(),
            "deflated"
        );
        assert!(decode(b"", "deflate").is_err());
        assert_eq!(decode(b"caf\xc3", "").unwrap(), "caf\u{fffd}");
    }

    /// A one-connection-at-a-time HTTP/1.1 server answering with canned replies; it returns the request
    /// lines and bodies it received.
    async fn canned_server(
        replies: Vec<(u16, &'static str, bool)>,
    ) -> (String, tokio::task::JoinHandle<Vec<(String, String)>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (status, body, gzip) in replies {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let head_end = loop {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed before the request ended");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let line = head.lines().next().unwrap_or_default().to_owned();
                seen.push((line, String::from_utf8_lossy(&buf[head_end..]).to_string()));
                let mut payload = body.as_bytes().to_vec();
                let mut extra = String::new();
                if gzip {
                    use std::io::Write;
                    let mut encoder =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    encoder.write_all(&payload).unwrap();
                    payload = encoder.finish().unwrap();
                    extra.push_str("Content-Encoding: gzip\r\n");
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    payload.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
                socket.write_all(&payload).await.unwrap();
                socket.shutdown().await.unwrap();
            }
            seen
        });
        (base, handle)
    }

    const CASSETTE: &str = r#"---
version: 2
interactions:
    - id: 0
      request:
        body: |
            {"name":"Role A"}
        headers:
            Content-Type:
                - application/json
        url: https://terraform-provider-auth0-dev.eu.auth0.com/api/v2/roles
        method: POST
      response:
        body: '{"id":"rol_recorded123","name":"Role A","created_at":"2024-01-01T00:00:00.000Z"}'
        code: 200
    - id: 1
      request:
        body: ""
        url: https://terraform-provider-auth0-dev.eu.auth0.com/oauth/token
        method: POST
      response:
        body: '{}'
        code: 200
    - id: 2
      request:
        body: '{"description":"for rol_recorded123"}'
        url: https://terraform-provider-auth0-dev.eu.auth0.com/api/v2/roles/rol_recorded123
        method: PATCH
      response:
        body: '{"id":"rol_recorded123","name":"Role A","description":"for rol_recorded123"}'
        code: 200
    - id: 3
      request:
        url: https://terraform-provider-auth0-dev.eu.auth0.com/api/v2/roles/rol_recorded123
        method: DELETE
      response:
        body: ""
        code: 204
    - id: 4
      request:
        url: https://terraform-provider-auth0-dev.eu.auth0.com/api/v2/roles/rol_recorded123
        method: GET
      response:
        body: '{"statusCode":404,"error":"Not Found","message":"The role does not exist.","errorCode":"inexistent_role"}'
        code: 404
"#;

    #[tokio::test]
    async fn replays_a_cassette_against_a_server() {
        let (base, server) = canned_server(vec![
            (200, r#"{"id":"rol_SERVER","name":"Role A","created_at":"2030-02-02T00:00:00Z","extra":1}"#, false),
            (200, r#"{"id":"rol_SERVER","name":"Role A","description":"for rol_SERVER"}"#, true),
            (204, "", false),
            (404, r#"{"statusCode":404,"error":"Not Found","message":"No such role","errorCode":"other"}"#, false),
        ])
        .await;
        let dir =
            std::env::temp_dir().join(format!("gatehouse-replay-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("TestAccRole.yaml");
        std::fs::write(&path, CASSETTE).unwrap();

        let client = replay_client().unwrap();
        let opts = ReplayOptions::new(format!("{base}/"), "tok");
        let report = replay_cassette(&client, &opts, &path).await.unwrap();
        let seen = server.await.unwrap();
        std::fs::remove_dir_all(&dir).ok();

        assert_eq!(report.name, "TestAccRole");
        assert_eq!(
            seen,
            vec![
                (
                    "POST /api/v2/roles HTTP/1.1".to_owned(),
                    "{\"name\":\"Role A\"}\n".to_owned()
                ),
                (
                    "PATCH /api/v2/roles/rol_SERVER HTTP/1.1".to_owned(),
                    "{\"description\":\"for rol_SERVER\"}".to_owned()
                ),
                (
                    "DELETE /api/v2/roles/rol_SERVER HTTP/1.1".to_owned(),
                    String::new()
                ),
                (
                    "GET /api/v2/roles/rol_SERVER HTTP/1.1".to_owned(),
                    String::new()
                ),
            ]
        );
        let outcomes = &report.interactions;
        assert_eq!(outcomes.len(), 5);
        assert!(outcomes[0].passed, "{:?}", outcomes[0]);
        assert_eq!(outcomes[0].extra_keys, vec!["$.extra"]);
        assert!(outcomes[1].skipped);
        assert_eq!(outcomes[1].path, "/oauth/token");
        assert!(outcomes[2].passed, "{:?}", outcomes[2]);
        assert_eq!(outcomes[2].path, "/api/v2/roles/rol_SERVER");
        assert!(outcomes[3].passed);
        assert!(!outcomes[4].passed);
        assert_eq!(outcomes[4].message_match, Some(false));
        assert_eq!(
            outcomes[4].diffs,
            vec!["$.errorCode: expected \"inexistent_role\", got \"other\""]
        );
        assert!(!report.passed);
        assert_eq!(report.replayed(), 4);
        assert_eq!(report.passed_count(), 3);
        assert_eq!(report.summary_line(), "FAIL TestAccRole (3/4 interactions)");
        assert_eq!(
            report.failure_details(),
            vec![
                "#4 GET /api/v2/roles/rol_SERVER [404 vs 404] $.errorCode: expected \"inexistent_role\", got \"other\""
            ]
        );
        assert_eq!(
            report.extra_keys_warning().as_deref(),
            Some("warning: 1 extra key paths in server replies, e.g. $.extra")
        );
        let summary = summarize(std::slice::from_ref(&report));
        assert_eq!(summary.interactions_skipped, 1);
        assert_eq!(summary.error_messages, 1);
        assert_eq!(
            summary.lines().last().map(String::as_str),
            Some("0 passed, 1 failed")
        );
    }

    #[tokio::test]
    async fn unreachable_server_and_unreadable_cassette_fail_without_error() {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-replay-test2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("Good.yaml");
        std::fs::write(&good, CASSETTE).unwrap();
        let bad = dir.join("Bad.yaml");
        std::fs::write(&bad, "version: 2\nnot_interactions: []\n").unwrap();
        let empty = dir.join("Empty.yaml");
        std::fs::write(&empty, "version: 2\ninteractions: []\n").unwrap();
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = replay_client().unwrap();
        let mut opts = ReplayOptions::new(format!("http://127.0.0.1:{port}"), "");
        opts.timeout = Duration::from_secs(2);

        let report = replay_cassette(&client, &opts, &good).await.unwrap();
        assert!(!report.passed);
        assert!(report.interactions.iter().filter(|o| !o.skipped).all(
            |o| o.server_status.is_none()
                && o.diffs.len() == 1
                && o.diffs[0].starts_with("reply: no usable reply: ")
        ));

        let report = replay_cassette(&client, &opts, &bad).await.unwrap();
        assert!(!report.passed);
        assert_eq!(
            report.error.as_deref(),
            Some("cannot read cassette: 'interactions'")
        );
        assert_eq!(
            report.failure_details(),
            vec!["cannot read cassette: 'interactions'"]
        );

        let report = replay_cassette(&client, &opts, &empty).await.unwrap();
        assert!(report.passed);
        assert_eq!(report.summary_line(), "PASS Empty (0/0 interactions)");

        assert!(
            replay_cassette(&client, &ReplayOptions::new("ftp://x", ""), &good)
                .await
                .is_err()
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
