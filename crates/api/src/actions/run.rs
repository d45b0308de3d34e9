//! Running deployed actions at their triggers, testing drafts, and the executions' records.
//!
//! What is bound to a trigger is cached per tenant and trigger for one second (dropped at once
//! on this instance by every write to actions or bindings; other instances see a change within
//! the second), each deployed version compiled once. A trigger with nothing bound costs one
//! cache lookup. Each execution's record (`GET /actions/executions/{id}`) is written behind the
//! request by one writer task in batches, so running actions adds no database write to the
//! request; records are kept ten days, as Auth0 keeps them.
//!
//! `api.cache` persists between the executions of an action on this instance (Auth0's cache is
//! likewise best effort): each action's entries are kept in memory with their expiry, given to
//! every execution and updated from its `set`/`delete` calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use gatehouse_actions::{
    Command, Compiled, Engine, Env, Execution, Limits, ModuleSource, Outcome, Trigger,
};
use gatehouse_core::{Error, ids, time};
use gatehouse_store::{Db, docs};

use super::{ACTION, ACTIONS, SECRET_VALUES, VERSIONS, bindings, modules, str_of};
use crate::spine::{Ctx, Input, Reply};

const EXECUTION: &str = "action_execution";
/// How long execution records are kept (Auth0: 10 days).
const KEEP_EXECUTIONS: Duration = Duration::from_secs(10 * 24 * 3600);
/// Batches of execution records: at most this many, or what came within this time.
const BATCH: usize = 256;
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// The server's settings for Actions.
#[derive(Debug, Clone)]
pub struct ActionsConfig {
    /// Wall time of one action's execution (Auth0's limit is 20 s).
    pub timeout: Duration,
    /// Whether an action's `fetch` may reach loopback and private addresses (tests).
    pub allow_private_fetch: bool,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            timeout: Duration::from_secs(20),
            allow_private_fetch: false,
        }
    }
}

/// An action's `api.cache`: key → (value, expires_at in ms since the epoch).
type ActionCache = HashMap<String, (String, i64)>;

/// A client as `event.client` shows it: its name and its `client_metadata`.
pub type ClientView = (Option<String>, Value);

/// A deployed version bound to a trigger, ready to run.
pub struct Bound {
    pub action_id: String,
    pub action_name: String,
    compiled: Result<Compiled, String>,
    secrets: Vec<(String, String)>,
    modules: Vec<ModuleSource>,
}

struct Record {
    tenant: String,
    id: String,
    body: Value,
}

pub struct Runtime {
    pub engine: Engine,
    bound: moka::sync::Cache<(String, &'static str), Arc<Vec<Bound>>>,
    compiled: moka::sync::Cache<String, Compiled>,
    /// Each action's `api.cache` (by tenant and action id); an action unused for a day is
    /// forgotten.
    caches: moka::sync::Cache<(String, String), Arc<Mutex<ActionCache>>>,
    /// What `event.client` shows (name, metadata) by tenant and client id, for one second.
    clients: moka::sync::Cache<(String, String), Arc<ClientView>>,
    records: OnceLock<mpsc::Sender<Record>>,
}

/// What a trigger's actions decided.
#[derive(Debug, Default)]
pub struct Flow {
    /// The record's id (`None` when nothing was bound).
    pub execution_id: Option<String>,
    /// The commands of the actions that ran, in order.
    pub commands: Vec<Command>,
    /// The action that failed the flow and why, if one did.
    pub failure: Option<Failure>,
}

#[derive(Debug)]
pub enum Failure {
    /// `api.access.deny`.
    Denied {
        code: Option<String>,
        reason: String,
    },
    /// The action threw, timed out or ran out of memory.
    Failed {
        action_name: String,
        message: String,
    },
}

impl Runtime {
    pub fn new(cfg: &ActionsConfig) -> Self {
        let limits = Limits {
            wall: cfg.timeout,
            allow_private_fetch: cfg.allow_private_fetch,
            ..Limits::default()
        };
        Runtime {
            engine: Engine::new(limits),
            bound: moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(1))
                .max_capacity(10_000)
                .build(),
            compiled: moka::sync::Cache::builder().max_capacity(10_000).build(),
            caches: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(24 * 3600))
                .max_capacity(10_000)
                .build(),
            clients: moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(1))
                .max_capacity(10_000)
                .build(),
            records: OnceLock::new(),
        }
    }

    /// Drops what this instance cached of a tenant's bindings.
    pub fn invalidate(&self, tenant: &str) {
        for t in Trigger::ALL {
            self.bound.invalidate(&(tenant.to_owned(), t.id()));
        }
    }

    /// The deployed versions bound to a trigger, in order.
    pub async fn bound(
        &self,
        db: &Db,
        tenant: &str,
        trigger: Trigger,
    ) -> Result<Arc<Vec<Bound>>, Error> {
        let key = (tenant.to_owned(), trigger.id());
        if let Some(b) = self.bound.get(&key) {
            return Ok(b);
        }
        let mut out = Vec::new();
        if let Some(doc) = docs::get(db, tenant, bindings::BINDINGS, trigger.id()).await? {
            for b in bindings::stored(&doc) {
                let action_id = str_of(&b, "action_id");
                let Some(action) = docs::get(db, tenant, ACTION, action_id).await? else {
                    continue;
                };
                let Some(vid) = action
                    .pointer("/deployed_version/id")
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                let Some(version) = docs::get(db, tenant, &VERSIONS.kind(action_id), vid).await?
                else {
                    continue;
                };
                // A deployed version was built, so it compiles; if it does not (an engine
                // change), running it fails the flow with the compiler's message.
                let compiled = match self.compiled.get(vid) {
                    Some(c) => Ok(c),
                    None => self.engine.compile(str_of(&version, "code")).inspect(|c| {
                        self.compiled.insert(vid.to_owned(), c.clone());
                    }),
                };
                let mut secrets = secret_pairs(version.get(SECRET_VALUES));
                // Binding-level secrets add to (and override) the version's.
                for (k, v) in secret_pairs(b.get(SECRET_VALUES)) {
                    secrets.retain(|(n, _)| *n != k);
                    secrets.push((k, v));
                }
                let modules = self.modules(db, tenant, version.get("modules")).await?;
                out.push(Bound {
                    action_id: action_id.to_owned(),
                    action_name: str_of(&action, "name").to_owned(),
                    compiled,
                    secrets,
                    modules,
                });
            }
        }
        let out = Arc::new(out);
        self.bound.insert(key, out.clone());
        Ok(out)
    }

    /// Runs the deployed version of one action (an event stream's destination) with `event`:
    /// the execution, or why there was none (no such action, nothing deployed).
    pub async fn run_deployed(
        &self,
        db: &Db,
        tenant: &str,
        action_id: &str,
        trigger: Trigger,
        event: Value,
    ) -> Result<Result<Execution, String>, Error> {
        let Some(action) = docs::get(db, tenant, ACTION, action_id).await? else {
            return Ok(Err("the action does not exist".into()));
        };
        let Some(vid) = action
            .pointer("/deployed_version/id")
            .and_then(Value::as_str)
        else {
            return Ok(Err("the action has no deployed version".into()));
        };
        let Some(version) = docs::get(db, tenant, &VERSIONS.kind(action_id), vid).await? else {
            return Ok(Err("the action has no deployed version".into()));
        };
        let compiled = match self.compiled.get(vid) {
            Some(c) => c,
            None => match self.engine.compile(str_of(&version, "code")) {
                Ok(c) => {
                    self.compiled.insert(vid.to_owned(), c.clone());
                    c
                }
                Err(m) => return Ok(Err(m)),
            },
        };
        let env = Env {
            secrets: secret_pairs(version.get(SECRET_VALUES)),
            modules: self.modules(db, tenant, version.get("modules")).await?,
            cache: self.cache_of(tenant, action_id),
        };
        let ex = self.engine.run_with(&compiled, trigger, event, env).await;
        self.keep_cache(tenant, action_id, &ex.commands);
        Ok(Ok(ex))
    }

    /// The live entries of an action's `api.cache`.
    fn cache_of(&self, tenant: &str, action_id: &str) -> ActionCache {
        let key = (tenant.to_owned(), action_id.to_owned());
        let Some(c) = self.caches.get(&key) else {
            return ActionCache::new();
        };
        let now = now_ms();
        let mut c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.retain(|_, (_, at)| *at > now);
        c.clone()
    }

    /// Applies an execution's `api.cache.set`/`delete` calls to the action's cache.
    fn keep_cache(&self, tenant: &str, action_id: &str, commands: &[Command]) {
        let changes = commands
            .iter()
            .filter(|c| matches!(c, Command::CacheSet { .. } | Command::CacheDelete { .. }));
        if changes.clone().next().is_none() {
            return;
        }
        let key = (tenant.to_owned(), action_id.to_owned());
        let cache = self.caches.get_with(key, Default::default);
        let mut c = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for change in changes {
            match change {
                Command::CacheSet {
                    key,
                    value,
                    expires_at,
                } => {
                    c.insert(key.clone(), (value.clone(), *expires_at));
                }
                Command::CacheDelete { key } => {
                    c.remove(key);
                }
                _ => {}
            }
        }
    }

    /// A client's name and metadata as `event.client` shows them (cached for one second).
    pub async fn client(
        &self,
        db: &Db,
        tenant: &str,
        client_id: &str,
    ) -> Result<Arc<ClientView>, Error> {
        let key = (tenant.to_owned(), client_id.to_owned());
        if let Some(c) = self.clients.get(&key) {
            return Ok(c);
        }
        let row = gatehouse_store::clients::find(db, tenant, client_id).await?;
        let c = Arc::new((
            row.as_ref().map(|c| c.name.clone()),
            row.as_ref()
                .and_then(|c| c.body.get("client_metadata"))
                .cloned()
                .unwrap_or_else(|| json!({})),
        ));
        self.clients.insert(key, c.clone());
        Ok(c)
    }

    /// The module versions an action (or version) references, ready for `require`; a version
    /// that is gone, or code that does not compile, is left out (its `require` then fails).
    async fn modules(
        &self,
        db: &Db,
        tenant: &str,
        refs: Option<&Value>,
    ) -> Result<Vec<ModuleSource>, Error> {
        let mut out = Vec::new();
        for r in refs.and_then(Value::as_array).into_iter().flatten() {
            let (mid, vid) = (str_of(r, "module_id"), str_of(r, "module_version_id"));
            let Some(v) = docs::get(db, tenant, &modules::VERSIONS.kind(mid), vid).await? else {
                continue;
            };
            let code = match self.compiled.get(vid) {
                Some(c) => c,
                None => match self.engine.compile(str_of(&v, "code")) {
                    Ok(c) => {
                        self.compiled.insert(vid.to_owned(), c.clone());
                        c
                    }
                    Err(_) => continue,
                },
            };
            out.push(ModuleSource {
                name: str_of(r, "module_name").to_owned(),
                code,
                secrets: secret_pairs(v.get(SECRET_VALUES)),
            });
        }
        Ok(out)
    }

    /// Runs the actions bound to `trigger` in order with `event`, stopping at the first that
    /// denies or fails, and records the execution.
    pub async fn execute(
        &self,
        db: &Db,
        tenant: &str,
        trigger: Trigger,
        event: Value,
    ) -> Result<Flow, Error> {
        let bound = self.bound(db, tenant, trigger).await?;
        if bound.is_empty() {
            return Ok(Flow::default());
        }
        let mut flow = Flow::default();
        let mut results = Vec::with_capacity(bound.len());
        for b in bound.iter() {
            let started = time::now();
            let ex = match &b.compiled {
                Ok(c) => {
                    let env = Env {
                        secrets: b.secrets.clone(),
                        modules: b.modules.clone(),
                        cache: self.cache_of(tenant, &b.action_id),
                    };
                    let ex = self.engine.run_with(c, trigger, event.clone(), env).await;
                    self.keep_cache(tenant, &b.action_id, &ex.commands);
                    ex
                }
                Err(m) => Execution {
                    outcome: Outcome::Error {
                        name: "SyntaxError".into(),
                        message: m.clone(),
                        stack: None,
                    },
                    commands: Vec::new(),
                    logs: String::new(),
                    duration: Duration::ZERO,
                },
            };
            let ended = time::now();
            let error = error_of(&ex.outcome);
            let mut result = json!({
                "action_name": b.action_name,
                "started_at": started,
                "ended_at": ended,
                "logs": ex.logs,
            });
            if let (Some(e), Value::Object(o)) = (&error, &mut result) {
                o.insert("error".into(), e.clone());
            }
            results.push(result);
            if let Some(e) = error {
                flow.failure = Some(Failure::Failed {
                    action_name: b.action_name.clone(),
                    message: str_of(&e, "msg").to_owned(),
                });
                break;
            }
            let deny = ex.commands.iter().find_map(|c| match c {
                Command::AccessDeny { code, reason } => Some(Failure::Denied {
                    code: code.clone(),
                    reason: reason.clone(),
                }),
                Command::RegistrationDeny { reason, .. } => Some(Failure::Denied {
                    code: None,
                    reason: reason.clone(),
                }),
                _ => None,
            });
            flow.commands.extend(ex.commands);
            if deny.is_some() {
                flow.failure = deny;
                break;
            }
        }
        let id = ids::uuid_v4();
        let now = time::now();
        self.record(
            db,
            Record {
                tenant: tenant.to_owned(),
                id: id.clone(),
                body: json!({
                    "id": id,
                    "trigger_id": trigger.id(),
                    "status": "final",
                    "results": results,
                    "created_at": now,
                    "updated_at": now,
                }),
            },
        );
        tracing::info!(
            execution_id = %id,
            trigger = trigger.id(),
            failed = flow.failure.is_some(),
            "actions ran"
        );
        flow.execution_id = Some(id);
        Ok(flow)
    }

    /// Hands a record to the writer (started on first use); a full queue drops it, with a
    /// warning, rather than slow the request.
    fn record(&self, db: &Db, r: Record) {
        let tx = self.records.get_or_init(|| {
            let (tx, rx) = mpsc::channel(8192);
            tokio::spawn(write_records(db.clone(), rx));
            tx
        });
        if tx.try_send(r).is_err() {
            tracing::warn!("action execution records queue full: a record was dropped");
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn secret_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// An execution's error as Auth0's `ActionError` (`{id, msg}`), `None` when it succeeded.
fn error_of(o: &Outcome) -> Option<Value> {
    let (id, msg) = match o {
        Outcome::Ok => return None,
        Outcome::Error { name, message, .. } => ("execution_error", format!("{name}: {message}")),
        Outcome::Timeout => (
            "execution_timeout",
            "The action exceeded its time limit".to_owned(),
        ),
        Outcome::OutOfMemory => (
            "execution_out_of_memory",
            "The action exceeded its memory limit".to_owned(),
        ),
        Outcome::NoHandler => (
            "missing_handler",
            "The action does not export this trigger's handler".to_owned(),
        ),
    };
    Some(json!({"id": id, "msg": msg}))
}

/// Writes records in batches, one transaction each; prunes records past their keep time every
/// few minutes.
async fn write_records(db: Db, mut rx: mpsc::Receiver<Record>) {
    let mut last_prune = std::time::Instant::now();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                _ => break,
            }
        }
        if let Err(e) = write_batch(&db, &batch).await {
            tracing::warn!(error = %e, n = batch.len(), "could not write action execution records");
        }
        if last_prune.elapsed() > Duration::from_secs(300) {
            last_prune = std::time::Instant::now();
            let cutoff = time::format(
                ::time::OffsetDateTime::now_utc()
                    - ::time::Duration::seconds(KEEP_EXECUTIONS.as_secs() as i64),
            );
            let mut tenants: Vec<&str> = batch.iter().map(|r| r.tenant.as_str()).collect();
            tenants.dedup();
            for t in tenants {
                if let Err(e) = docs::delete_before(&db, t, EXECUTION, &cutoff).await {
                    tracing::warn!(error = %e, "could not prune action execution records");
                }
            }
        }
    }
}

async fn write_batch(db: &Db, batch: &[Record]) -> Result<(), Error> {
    gatehouse_store::atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        for r in batch {
            docs::put(&tx, &r.tenant, EXECUTION, &r.id, &r.body, &now).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await
}

/// `GET /actions/executions/{id}`.
pub async fn get_execution(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let e = docs::get(ctx.db(), ctx.tenant_id(), EXECUTION, input.path("id"))
        .await?
        .ok_or_else(|| Error::NotFound("That execution does not exist.".into()))?;
    Ok(Reply::json(e))
}

/// `POST /actions/actions/{id}/test`: runs the draft (its code and secrets) for its first
/// supported trigger with `payload` as the event; answers what it did: the `api` calls it made
/// (`commands`), its `logs`, how long it ran, and its `error` if it failed.
pub async fn test(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let action = ACTIONS.load(&ctx, input.path("id")).await?;
    let payload = input
        .body
        .get("payload")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let trigger_id = super::trigger_ids(&action)
        .into_iter()
        .next()
        .unwrap_or_default();
    let trigger = Trigger::from_id(&trigger_id).ok_or_else(|| {
        Error::BadRequestPlain(
            format!("Actions of the trigger '{trigger_id}' cannot be tested on this server.")
                .into(),
        )
    })?;
    let rt = &ctx.state.actions;
    let mut out = Map::new();
    match rt.engine.compile(str_of(&action, "code")) {
        Err(m) => {
            out.insert(
                "error".into(),
                json!({"id": "compilation_failed", "msg": m}),
            );
        }
        Ok(compiled) => {
            let secrets = secret_pairs(action.get(SECRET_VALUES));
            let modules = rt
                .modules(ctx.db(), ctx.tenant_id(), action.get("modules"))
                .await?;
            let env = Env {
                secrets,
                modules,
                ..Env::default()
            };
            let ex = rt.engine.run_with(&compiled, trigger, payload, env).await;
            out.insert(
                "commands".into(),
                serde_json::to_value(&ex.commands).unwrap_or_else(|_| json!([])),
            );
            out.insert("logs".into(), json!(ex.logs));
            out.insert(
                "stats".into(),
                json!({"action_duration_ms": ex.duration.as_millis() as u64}),
            );
            if let Some(e) = error_of(&ex.outcome) {
                out.insert("error".into(), e);
            }
        }
    }
    Ok(Reply::json(json!({ "payload": out })))
}
