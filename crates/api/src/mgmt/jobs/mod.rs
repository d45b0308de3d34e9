//! Tag `jobs`: users imports (`POST /jobs/users-imports`, Auth0's bulk import schema), users
//! exports (`POST /jobs/users-exports`, ndjson or csv, gzip, served at an expiring location),
//! verification e-mails (`POST /jobs/verification-email`), job status and errors.
//!
//! A job is a `jobs` row and a queue item of kind [`KIND`] enqueued in the transaction that
//! creates the row: it survives a restart and any instance may run it (`crate::worker`). The
//! worker records progress in the row (`percentage_done`, `summary`) in the transaction of each
//! batch it writes, so a job taken over after a crash goes on from the last committed batch.

pub mod export;
pub mod import;

use std::time::Duration;

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Exec, atomically, connections,
    jobs::{self, JobRow},
    queue::{self, Item},
    users,
};

use crate::{
    spine::{Ctx, Input, Registry, Reply},
    state::AppState,
};

/// The queue kind of jobs.
pub const KIND: &str = "job";

/// The jobs' kind of work for the queue's loops (one job at a time per instance).
pub const WORK: crate::worker::Kind = crate::worker::Kind {
    name: KIND,
    handler: handle,
    batch: 1,
    lease: LEASE,
};

/// How long a worker holds a job before another instance may take it over (extended while it
/// runs).
pub const LEASE: Duration = Duration::from_secs(120);

/// Auth0's limit on an import file.
pub const AUTH0_IMPORT_LIMIT: usize = 500 * 1024;

/// The jobs' server settings.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// The largest users file an import takes (`--import-max-bytes`; Auth0's 500 KB by default).
    pub import_max_bytes: usize,
    /// How long an export's download location works (`--export-ttl-secs`).
    pub export_ttl: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            import_max_bytes: AUTH0_IMPORT_LIMIT,
            export_ttl: Duration::from_secs(3600),
        }
    }
}

pub fn register(reg: &mut Registry) {
    reg.add(Op::PostUsersImports, import::post_users_imports);
    reg.add(Op::PostUsersExports, export::post_users_exports);
    reg.add(Op::PostVerificationEmail, post_verification_email);
    reg.add(Op::GetJobsById, get_jobs_by_id);
    reg.add(Op::GetErrors, get_errors);
}

/// The body limit of `POST /jobs/users-imports`: the file and the form around it.
pub fn import_body_limit(cfg: &JobsConfig) -> usize {
    cfg.import_max_bytes.saturating_add(64 * 1024)
}

fn job_not_found() -> Error {
    Error::not_found("inexistent_job", "The job does not exist.")
}

/// A new job row (`pending`).
pub fn new_job(kind: &str, body: Value) -> JobRow {
    let now = time::now();
    JobRow {
        id: ids::prefixed("job", 16),
        kind: kind.to_owned(),
        status: "pending".into(),
        body,
        summary: None,
        percentage_done: 0,
        time_left_seconds: None,
        status_details: None,
        location_hash: None,
        expires_at: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// Inserts the job and its queue item in the caller's transaction.
pub async fn enqueue(x: &impl Exec, tenant: &str, job: &JobRow) -> Result<(), Error> {
    jobs::insert(x, tenant, job).await?;
    queue::enqueue(
        x,
        tenant,
        KIND,
        &job.id,
        &json!({ "job": job.id }),
        Duration::ZERO,
    )
    .await?;
    Ok(())
}

/// The job as Auth0 shows it.
pub fn render(j: &JobRow, location: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(j.kind));
    m.insert("status".into(), json!(j.status));
    m.insert("created_at".into(), json!(j.created_at));
    m.insert("id".into(), json!(j.id));
    if let Value::Object(b) = &j.body {
        for (k, v) in b {
            if !k.starts_with('_') {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(l) = location {
        m.insert("location".into(), json!(l));
    }
    if j.status == "processing" {
        m.insert("percentage_done".into(), json!(j.percentage_done));
        if let Some(t) = j.time_left_seconds {
            m.insert("time_left_seconds".into(), json!(t));
        }
    }
    if let Some(Value::Object(s)) = &j.summary {
        let shown: Map<String, Value> = s
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.insert("summary".into(), Value::Object(shown));
    }
    if let Some(d) = &j.status_details {
        m.insert("status_details".into(), json!(d));
    }
    Value::Object(m)
}

async fn get_jobs_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let job = jobs::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(job_not_found)?;
    let location = export::location(&ctx.state, &job);
    Ok(Reply::json(render(&job, location)))
}

async fn get_errors(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let job = jobs::find(db, tenant, input.path("id"))
        .await?
        .ok_or_else(job_not_found)?;
    if job.status == "failed" {
        return Ok(Reply::json(render(&job, None)));
    }
    let errors = jobs::errors(db, tenant, &job.id).await?;
    if errors.is_empty() {
        return Ok(Reply {
            status: Some(204),
            body: None,
            ..Reply::empty()
        });
    }
    Ok(Reply::json(Value::Array(errors)))
}

// ---- POST /jobs/verification-email --------------------------------------------------------

async fn post_verification_email(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let user_id = req
        .get("user_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = users::find(db, tenant, user_id)
        .await?
        .ok_or_else(crate::mgmt::users::user_not_found)?;
    if user.email.is_none() {
        return Err(Error::bad_body("The user does not have an email address."));
    }
    if let Some(identity) = req.get("identity") {
        let provider = identity
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = identity
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ids = users::identities(db, tenant, &user.user_id).await?;
        if !ids
            .iter()
            .any(|i| i.provider == provider && i.identity_user_id == id)
        {
            return Err(Error::bad_body("The identity does not belong to the user."));
        }
    }
    if let Some(client_id) = req.get("client_id").and_then(Value::as_str)
        && gatehouse_store::clients::find(db, tenant, client_id)
            .await?
            .is_none()
    {
        return Err(Error::not_found("inexistent_client", "Client not found"));
    }
    let mut body = Map::new();
    body.insert("_user_id".into(), json!(user.user_id));
    for k in ["client_id", "organization_id"] {
        if let Some(v) = req.get(k) {
            body.insert(format!("_{k}"), v.clone());
        }
    }
    let job = new_job("verification_email", Value::Object(body));
    atomically(|| async {
        let tx = db.begin().await?;
        enqueue(&tx, tenant, &job).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    ctx.state.worker.wake(KIND);
    Ok(Reply::json(render(&job, None)))
}

/// Sends the verification e-mail of a `verification_email` job: a ticket, the message in the
/// outbox, the job completed and its queue item done, in one transaction.
async fn run_verification_email(state: &AppState, item: &Item, job: JobRow) -> Result<(), Error> {
    let tenant = item.tenant.as_str();
    let db = &state.db;
    let user_id = job
        .body
        .get("_user_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = crate::email::template(db, tenant, "verify_email").await?;
    let result_url = template
        .as_ref()
        .and_then(|t| t.get("resultUrl"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let ttl = template
        .as_ref()
        .and_then(|t| t.get("urlLifetimeInSeconds"))
        .and_then(Value::as_i64)
        .filter(|t| *t > 0);
    let client_id = job
        .body
        .get("_client_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let issuer = state.default_tenant.issuer.clone();
    let job_id = job.id.as_str();
    atomically(|| {
        let (template, result_url, client_id, issuer) = (
            template.clone(),
            result_url.clone(),
            client_id.clone(),
            issuer.clone(),
        );
        async move {
            let tx = db.begin().await?;
            let Some(mut job) = jobs::find_for_update(&tx, tenant, job_id).await? else {
                queue::done(&tx, tenant, &item.id).await?;
                return tx.commit().await.map_err(Error::from);
            };
            let user = users::find(&tx, tenant, user_id).await?;
            match user.as_ref().and_then(|u| u.email.clone().map(|e| (u, e))) {
                Some((user, email)) => {
                    let mut opts = json!({ "mark_email_as_verified": true });
                    if let Some(r) = &result_url {
                        opts["result_url"] = json!(r);
                    }
                    if let Some(c) = &client_id {
                        opts["client_id"] = json!(c);
                    }
                    let url = crate::mgmt::tickets::create(
                        &tx,
                        tenant,
                        &issuer,
                        crate::mgmt::tickets::EMAIL_VERIFICATION,
                        &user.user_id,
                        opts,
                        ttl,
                    )
                    .await?;
                    let application = match &client_id {
                        Some(c) => gatehouse_store::clients::find(&tx, tenant, c)
                            .await?
                            .map(|c| json!({ "name": c.name, "clientID": c.client_id })),
                        None => None,
                    };
                    let vars = crate::email::variables(
                        &tx,
                        tenant,
                        json!({
                            "user": crate::email::user_vars(user),
                            "url": url,
                            "application": application.unwrap_or_else(|| json!({})),
                        }),
                    )
                    .await?;
                    if let Some(msg) =
                        crate::email::render("verify_email", template.as_ref(), &email, &vars)?
                    {
                        crate::email::enqueue(&tx, tenant, &msg).await?;
                    }
                    job.status = "completed".into();
                }
                None => {
                    job.status = "failed".into();
                    job.status_details = Some("The user or its e-mail address is gone.".into());
                }
            }
            job.percentage_done = 100;
            job.updated_at = time::now();
            jobs::update(&tx, tenant, &job).await?;
            queue::done(&tx, tenant, &item.id).await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;
    state.worker.wake(crate::email::KIND);
    Ok(())
}

// ---- the worker ---------------------------------------------------------------------------

/// Attempts before a job whose run keeps failing is marked failed.
const MAX_ATTEMPTS: i64 = 5;

/// The queue handler of [`KIND`]: runs each claimed job.
pub fn handle(
    state: AppState,
    items: Vec<Item>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        for item in items {
            run_one(&state, &item).await;
        }
    })
}

async fn run_one(state: &AppState, item: &Item) {
    let tenant = item.tenant.as_str();
    let job = match jobs::find(&state.db, tenant, &item.target).await {
        Ok(Some(j)) => j,
        Ok(None) => {
            let _ = queue::done(&state.db, tenant, &item.id).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read a job");
            let _ = queue::retry(&state.db, tenant, &item.id, backoff(item.attempts), "read").await;
            return;
        }
    };
    if matches!(job.status.as_str(), "completed" | "failed") {
        let _ = queue::done(&state.db, tenant, &item.id).await;
        return;
    }
    let result = match job.kind.as_str() {
        "users_import" => import::run(state, item, job).await,
        "users_export" => export::run(state, item, job).await,
        "verification_email" => run_verification_email(state, item, job).await,
        other => Err(Error::Internal(anyhow::anyhow!("unknown job type {other}"))),
    };
    if let Err(e) = result {
        let message = match &e {
            Error::Internal(inner) => {
                tracing::error!(error = ?inner, job = %item.target, "job failed");
                "An internal error occurred while running the job.".to_owned()
            }
            other => other.to_string(),
        };
        if item.attempts + 1 >= MAX_ATTEMPTS || !matches!(e, Error::Internal(_)) {
            let _ = fail(state, item, &message).await;
        } else {
            let _ = queue::retry(
                &state.db,
                tenant,
                &item.id,
                backoff(item.attempts),
                &message,
            )
            .await;
        }
    }
}

fn backoff(attempts: i64) -> Duration {
    queue::backoff(Duration::from_secs(1), attempts, Duration::from_secs(600))
}

/// Marks the job failed (`status_details`) and its item done, in one transaction.
pub async fn fail(state: &AppState, item: &Item, details: &str) -> Result<(), Error> {
    let tenant = item.tenant.as_str();
    let tx = state.db.begin().await?;
    if let Some(mut job) = jobs::find_for_update(&tx, tenant, &item.target).await? {
        job.status = "failed".into();
        job.status_details = Some(details.to_owned());
        job.updated_at = time::now();
        jobs::update(&tx, tenant, &job).await?;
        jobs::delete_file(&tx, tenant, &job.id, "input").await?;
    }
    queue::done(&tx, tenant, &item.id).await?;
    tx.commit().await?;
    Ok(())
}

/// The connection a job names, for the reply's `connection` (its name).
pub async fn connection_of(
    x: &impl Exec,
    tenant: &str,
    id: &str,
) -> Result<connections::ConnectionRow, Error> {
    connections::find(x, tenant, id).await?.ok_or_else(|| {
        Error::bad_request("inexistent_connection", "The connection does not exist.")
    })
}
