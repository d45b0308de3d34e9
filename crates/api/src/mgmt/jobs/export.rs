//! `POST /jobs/users-exports` and its run: the tenant's (or one connection's) users as
//! newline-delimited JSON (`format: json`) or CSV, gzipped, stored with the job and served at
//! `location` until it expires (`--export-ttl-secs`). `fields` picks what is exported (dotted
//! paths such as `user_metadata.plan`, `identities[0].connection`) and `export_as` renames it;
//! without `fields` each line is the user as the API shows it.

use gatehouse_core::secret;
use std::io::Write as _;

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine as _;
use flate2::{Compression, write::GzEncoder};
use rand::RngCore;
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_store::{
    Exec, atomically,
    jobs::{self, JobRow},
    queue::{self, Item},
    users::{IdentityRow, UserRow},
};

use super::{LEASE, connection_of, enqueue, new_job, render};
use crate::{
    spine::{Ctx, Input, Reply},
    state::AppState,
};

/// Users read per query.
const PAGE: i64 = 5_000;

/// Stored chunk size of the gzipped file (before base64).
const CHUNK: usize = 1 << 20;

const DOWNLOAD_PATH: &str = "/jobs/exports";

pub fn routes() -> Router<AppState> {
    Router::new().route(&format!("{DOWNLOAD_PATH}/{{token}}"), get(download))
}

pub async fn post_users_exports(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let mut body = Map::new();
    if let Some(id) = req.get("connection_id").and_then(Value::as_str) {
        let conn = connection_of(db, tenant, id).await?;
        body.insert("connection_id".into(), json!(conn.id));
        body.insert("connection".into(), json!(conn.name));
    }
    body.insert(
        "format".into(),
        json!(req.get("format").and_then(Value::as_str).unwrap_or("json")),
    );
    if let Some(l) = req.get("limit") {
        body.insert("limit".into(), l.clone());
    }
    if let Some(f) = req.get("fields").and_then(Value::as_array) {
        if f.is_empty() {
            return Err(Error::bad_body(
                "Payload validation error: 'Array is too short (0), minimum 1' on property fields.",
            ));
        }
        body.insert("fields".into(), Value::Array(f.clone()));
    }
    let job = new_job("users_export", Value::Object(body));
    atomically(|| async {
        let tx = db.begin().await?;
        enqueue(&tx, tenant, &job).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    ctx.state.worker.wake(super::KIND);
    Ok(Reply::json(render(&job, None)))
}

/// The download location of a completed export (the token is only known while the row holds
/// it: it is kept in the job's body as written, hashed for the lookup).
pub fn location(state: &AppState, job: &JobRow) -> Option<String> {
    let token = job.body.get("_location_token").and_then(Value::as_str)?;
    if job.status != "completed" || job.expires_at.is_some_and(|e| e <= time::unix_now()) {
        return None;
    }
    let ext = if job.body.get("format").and_then(Value::as_str) == Some("csv") {
        "csv"
    } else {
        "json"
    };
    Some(format!(
        "{}{}/{token}.{ext}.gz",
        state.default_tenant.issuer.trim_end_matches('/'),
        DOWNLOAD_PATH
    ))
}

/// A field's value in the rendered user: `a.b.c` walks objects, `a[0]` indexes arrays; a key
/// that itself contains dots (`user_metadata.a.b` stored flat) is found too.
fn pick<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let mut cur = v;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn csv_cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn primary_identity(u: &UserRow) -> IdentityRow {
    let id = u
        .user_id
        .split_once('|')
        .map_or(u.user_id.as_str(), |(_, id)| id);
    IdentityRow {
        connection_id: u.connection_id.clone(),
        identity_user_id: id.to_owned(),
        user_id: u.user_id.clone(),
        connection: u.connection.clone(),
        provider: u.provider.clone(),
        is_social: !matches!(u.provider.as_str(), "auth0" | "email" | "sms"),
        is_primary: true,
        ..IdentityRow::default()
    }
}

struct Field {
    name: String,
    export_as: String,
}

/// Runs an export: pages of users into a gzip stream, stored in chunks with the job, which
/// completes with its location.
pub async fn run(state: &AppState, item: &Item, job: JobRow) -> Result<(), Error> {
    let (db, tenant) = (&state.db, item.tenant.as_str());
    let csv = job.body.get("format").and_then(Value::as_str) == Some("csv");
    let connection = job
        .body
        .get("connection")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let limit = job.body.get("limit").and_then(Value::as_i64);
    let fields: Option<Vec<Field>> = job.body.get("fields").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|f| {
                let name = f.get("name")?.as_str()?.to_owned();
                let export_as = f
                    .get("export_as")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| name.clone(), str::to_owned);
                Some(Field { name, export_as })
            })
            .collect()
    });
    if csv && fields.is_none() {
        return super::fail(state, item, "A CSV export needs fields.").await;
    }
    // A job taken over after a crash starts again: its earlier chunks are dropped.
    jobs::delete_file(db, tenant, &job.id, "output").await?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let write = |gz: &mut GzEncoder<Vec<u8>>, s: &str| {
        gz.write_all(s.as_bytes())
            .map_err(|e| Error::Internal(e.into()))
    };
    if csv && let Some(f) = &fields {
        let header: Vec<String> = f
            .iter()
            .map(|f| csv_cell(Some(&json!(f.export_as))))
            .collect();
        write(&mut gz, &(header.join(",") + "\n"))?;
    }
    let total = jobs::count_users(db, tenant, connection.as_deref()).await?;
    let total = limit.map_or(total, |l| l.min(total));
    let mut after = (i64::MIN, String::new());
    let mut exported: i64 = 0;
    let mut chunk_no: i64 = 0;
    loop {
        let want = limit.map_or(PAGE, |l| (l - exported).clamp(0, PAGE));
        if want == 0 {
            break;
        }
        let page = jobs::users_page(db, tenant, connection.as_deref(), &after, want).await?;
        let Some(last) = page.last() else { break };
        after = (last.0, last.1.user_id.clone());
        for (_, u) in &page {
            let rendered = Value::Object(crate::mgmt::users::render(u, &[primary_identity(u)]));
            let line = match (&fields, csv) {
                (Some(f), true) => {
                    let cells: Vec<String> = f
                        .iter()
                        .map(|f| csv_cell(pick(&rendered, &f.name)))
                        .collect();
                    cells.join(",")
                }
                (Some(f), false) => {
                    let mut o = Map::new();
                    for f in f {
                        if let Some(v) = pick(&rendered, &f.name) {
                            o.insert(f.export_as.clone(), v.clone());
                        }
                    }
                    Value::Object(o).to_string()
                }
                (None, _) => rendered.to_string(),
            };
            write(&mut gz, &(line + "\n"))?;
        }
        exported += i64::try_from(page.len()).unwrap_or(0);
        // Full chunks go to the database as they fill.
        let buf = gz.get_mut();
        while buf.len() >= CHUNK {
            let rest = buf.split_off(CHUNK);
            let full = std::mem::replace(buf, rest);
            let data = base64::engine::general_purpose::STANDARD.encode(&full);
            jobs::put_chunk(db, tenant, &job.id, "output", chunk_no, &data).await?;
            chunk_no += 1;
        }
        progress(state, item, &job.id, exported, total).await?;
        if i64::try_from(page.len()).unwrap_or(0) < want {
            break;
        }
    }
    let last = gz.finish().map_err(|e| Error::Internal(e.into()))?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = hex::encode(secret);
    let ttl = i64::try_from(state.jobs.export_ttl.as_secs()).unwrap_or(i64::MAX);
    atomically(|| async {
        let tx = db.begin().await?;
        if !last.is_empty() {
            let data = base64::engine::general_purpose::STANDARD.encode(&last);
            tx.execute(
                "DELETE FROM job_files WHERE tenant_id = $1 AND job_id = $2 AND kind = 'output' AND n = $3",
                gatehouse_store::params![tenant, &job.id, chunk_no],
            )
            .await?;
            jobs::put_chunk(&tx, tenant, &job.id, "output", chunk_no, &data).await?;
        }
        let Some(mut j) = jobs::find_for_update(&tx, tenant, &job.id).await? else {
            queue::done(&tx, tenant, &item.id).await?;
            return tx.commit().await.map_err(Error::from);
        };
        j.status = "completed".into();
        j.percentage_done = 100;
        j.time_left_seconds = None;
        j.location_hash = Some(secret::sha256_hex(&token));
        j.expires_at = Some(time::unix_now().saturating_add(ttl));
        j.updated_at = time::now();
        jobs::update(&tx, tenant, &j).await?;
        // The token is shown with the job (Auth0 shows its location to whoever reads the job).
        let mut body = j.body.clone();
        body["_location_token"] = json!(token);
        tx.execute(
            "UPDATE jobs SET body = $3 WHERE tenant_id = $1 AND id = $2",
            gatehouse_store::params![tenant, &j.id, &body],
        )
        .await?;
        queue::done(&tx, tenant, &item.id).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await
}

async fn progress(
    state: &AppState,
    item: &Item,
    job: &str,
    exported: i64,
    total: i64,
) -> Result<(), Error> {
    let (db, tenant) = (&state.db, item.tenant.as_str());
    let total = total.max(1);
    atomically(|| async {
        let tx = db.begin().await?;
        if let Some(mut j) = jobs::find_for_update(&tx, tenant, job).await? {
            j.status = "processing".into();
            j.percentage_done = (exported * 100 / total).clamp(0, 99);
            j.updated_at = time::now();
            jobs::update(&tx, tenant, &j).await?;
        }
        queue::extend(&tx, tenant, &item.id, LEASE).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await
}

async fn download(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    let token = token
        .strip_suffix(".json.gz")
        .or_else(|| token.strip_suffix(".csv.gz"))
        .unwrap_or(&token)
        .to_owned();
    if token.len() != 64 {
        return not_found();
    }
    let hash = secret::sha256_hex(&token);
    let (tenant, job) = match jobs::find_by_location(&state.db, &hash).await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "export download");
            return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    if job.expires_at.is_none_or(|e| e <= time::unix_now()) {
        return (StatusCode::GONE, "This export has expired.").into_response();
    }
    let n = match jobs::chunk_count(&state.db, &tenant, &job.id, "output").await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = ?e, "export download");
            return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    let csv = job.body.get("format").and_then(Value::as_str) == Some("csv");
    // Streamed chunk by chunk: a large export is never whole in memory.
    let db = state.db.clone();
    let job_id = job.id.clone();
    let stream = futures::stream::unfold(0i64, move |i| {
        let (db, tenant, id) = (db.clone(), tenant.clone(), job_id.clone());
        async move {
            if i >= n {
                return None;
            }
            let item = match jobs::chunk(&db, &tenant, &id, "output", i).await {
                Ok(Some(b64)) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(axum::body::Bytes::from)
                    .map_err(std::io::Error::other),
                Ok(None) => Err(std::io::Error::other("missing chunk")),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            Some((item, i + 1))
        }
    });
    let name = format!(
        "attachment; filename=\"{}.{}.gz\"",
        job.id,
        if csv { "csv" } else { "json" }
    );
    (
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_paths() {
        let v = json!({"user_metadata": {"plan": "gold"}, "identities": [{"connection": "db"}], "a.b": 1});
        assert_eq!(pick(&v, "user_metadata.plan"), Some(&json!("gold")));
        assert_eq!(pick(&v, "identities[0].connection"), Some(&json!("db")));
        assert_eq!(pick(&v, "a.b"), Some(&json!(1)));
        assert_eq!(pick(&v, "nope.x"), None);
        assert_eq!(csv_cell(Some(&json!("a,\"b\""))), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_cell(Some(&json!(3))), "3");
    }
}
