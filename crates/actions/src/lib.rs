//! Auth0 Actions in an embedded JavaScript engine (QuickJS through `rquickjs`).
//!
//! An Action is CommonJS code exporting one handler per trigger
//! (`exports.onExecutePostLogin = async (event, api) => {…}`). [`Engine::compile`] checks the
//! code's syntax; [`Engine::run`] runs the trigger's handler with the event (plus
//! `event.secrets`) and an `api` object offering the methods Auth0 documents for that trigger.
//! What the handler asks for through `api` comes back as [`Command`]s, in call order; the engine
//! applies nothing itself.
//!
//! Isolation: every run gets a fresh JavaScript context (no global survives a run). The QuickJS
//! runtime underneath is kept per worker thread and reused; one that hit the memory limit or the
//! wall deadline is thrown away. Limits: wall time (interrupt handler), memory (the runtime's
//! allocation limit), stack depth, and for `fetch` a timeout, a body size cap and the public-address
//! rule (`gatehouse_core::net::is_public`). No file, process or module access: `require` throws
//! "Cannot find module".
//!
//! Precompilation: rquickjs only loads bytecode through `unsafe` calls, which the workspace
//! forbids, so [`Compiled`] keeps the checked source and each run parses it again (QuickJS
//! parses an Action of a few kilobytes in microseconds).
//!
//! `api.cache` starts from the entries the caller gives ([`Env::cache`]); each set/delete is
//! also reported as [`Command::CacheSet`]/[`Command::CacheDelete`] so the caller can keep them
//! for the action's next executions. Timers (`setTimeout`) run once the microtask queue is empty, earliest first.

mod fetch;
mod host;
mod pool;

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Object, Runtime, Value,
    context::EvalOptions, convert::Coerced, function::This, promise::PromiseState,
};
use serde::{Deserialize, Serialize};

/// What one execution may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall time of one execution (Auth0's per-trigger limit is 20 s).
    pub wall: Duration,
    /// Memory of one execution (the QuickJS runtime's allocation limit).
    pub memory: usize,
    /// JavaScript stack size.
    pub stack: usize,
    /// Timeout of one `fetch` (never past the wall deadline).
    pub fetch_timeout: Duration,
    /// Largest `fetch` response body.
    pub fetch_max_bytes: usize,
    /// Logs kept per execution (the rest is cut).
    pub logs_max_bytes: usize,
    /// Whether `fetch` may reach loopback, private and other non-public addresses.
    pub allow_private_fetch: bool,
    /// Threads that run executions, each with one runtime (more executions wait for one).
    pub workers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(20),
            memory: 64 * 1024 * 1024,
            stack: 1024 * 1024,
            fetch_timeout: Duration::from_secs(10),
            fetch_max_bytes: 1024 * 1024,
            logs_max_bytes: 256 * 1024,
            allow_private_fetch: false,
            // Twice the cores: executions are mostly CPU, but some wait on `fetch`.
            workers: std::thread::available_parallelism().map_or(4, |n| (n.get() * 2).max(4)),
        }
    }
}

/// Runs Actions; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    limits: Arc<Limits>,
    pool: Arc<pool::Pool>,
}

/// Checked Action code; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Compiled(Arc<str>);

/// An action module's version an action uses: `require('actions:<name>')` answers its
/// `module.exports`, evaluated once per execution, with `actions.secrets` holding the module's
/// own secrets.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub name: String,
    pub code: Compiled,
    pub secrets: Vec<(String, String)>,
}

/// What an execution is given besides its code, trigger and event.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `event.secrets`.
    pub secrets: Vec<(String, String)>,
    /// The modules `require('actions:<name>')` loads.
    pub modules: Vec<ModuleSource>,
    /// The `api.cache` entries the execution starts with: key → (value, expires_at in ms since
    /// the epoch).
    pub cache: std::collections::HashMap<String, (String, i64)>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Compiled").field(&self.0.len()).finish()
    }
}

/// The Action triggers the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    PostLogin,
    CredentialsExchange,
    PreUserRegistration,
    PostUserRegistration,
    PostChangePassword,
    SendPhoneMessage,
    PasswordResetPostChallenge,
    /// An event stream's action destination: `event.message` is the CloudEvent.
    EventStream,
}

impl Trigger {
    pub const ALL: [Trigger; 8] = [
        Trigger::PostLogin,
        Trigger::CredentialsExchange,
        Trigger::PreUserRegistration,
        Trigger::PostUserRegistration,
        Trigger::PostChangePassword,
        Trigger::SendPhoneMessage,
        Trigger::PasswordResetPostChallenge,
        Trigger::EventStream,
    ];

    /// The trigger's id as Auth0 names it (`post-login`, …).
    pub fn id(self) -> &'static str {
        match self {
            Trigger::PostLogin => "post-login",
            Trigger::CredentialsExchange => "credentials-exchange",
            Trigger::PreUserRegistration => "pre-user-registration",
            Trigger::PostUserRegistration => "post-user-registration",
            Trigger::PostChangePassword => "post-change-password",
            Trigger::SendPhoneMessage => "send-phone-message",
            Trigger::PasswordResetPostChallenge => "password-reset-post-challenge",
            Trigger::EventStream => "event-stream",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Trigger::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The export the trigger calls.
    pub fn handler(self) -> &'static str {
        match self {
            Trigger::PostLogin => "onExecutePostLogin",
            Trigger::CredentialsExchange => "onExecuteCredentialsExchange",
            Trigger::PreUserRegistration => "onExecutePreUserRegistration",
            Trigger::PostUserRegistration => "onExecutePostUserRegistration",
            Trigger::PostChangePassword => "onExecutePostChangePassword",
            Trigger::SendPhoneMessage => "onExecuteSendPhoneMessage",
            Trigger::PasswordResetPostChallenge => "onExecutePostChallenge",
            Trigger::EventStream => "onExecuteEventStream",
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub outcome: Outcome,
    /// What the handler asked for through `api`, in call order (also when it failed after).
    pub commands: Vec<Command>,
    pub logs: String,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Outcome {
    Ok,
    Error {
        name: String,
        message: String,
        stack: Option<String>,
    },
    Timeout,
    OutOfMemory,
    /// The code does not export the trigger's handler.
    NoHandler,
}

/// One `api` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// post-login and password-reset-post-challenge `api.access.deny(reason)` (no code);
    /// credentials-exchange `api.access.deny(code, reason)`.
    AccessDeny {
        code: Option<String>,
        reason: String,
    },
    AccessTokenSetCustomClaim {
        name: String,
        value: serde_json::Value,
    },
    IdTokenSetCustomClaim {
        name: String,
        value: serde_json::Value,
    },
    AccessTokenAddScope {
        scope: String,
    },
    AccessTokenRemoveScope {
        scope: String,
    },
    MultifactorEnable {
        provider: String,
        options: serde_json::Value,
    },
    UserSetAppMetadata {
        name: String,
        value: serde_json::Value,
    },
    UserSetUserMetadata {
        name: String,
        value: serde_json::Value,
    },
    RedirectSendUserTo {
        url: String,
        query: serde_json::Value,
    },
    /// pre-user-registration `api.validation.error(code, message)`.
    ValidationError {
        code: String,
        message: String,
    },
    /// pre-user-registration `api.access.deny(reason, userMessage)`: `reason` is for the
    /// tenant's logs, `user_message` for the end user.
    RegistrationDeny {
        reason: String,
        user_message: Option<String>,
    },
    /// `api.cache.set(key, value, {ttl | expires_at})`; `expires_at` in ms since the epoch
    /// (15 minutes from the call when neither is given).
    CacheSet {
        key: String,
        value: String,
        expires_at: i64,
    },
    /// `api.cache.delete(key)`.
    CacheDelete {
        key: String,
    },
}

/// The state of one execution shared by the host functions.
struct Run {
    limits: Arc<Limits>,
    deadline: Instant,
    logs: RefCell<String>,
    logs_full: Cell<bool>,
    commands: RefCell<Vec<Command>>,
    /// `api.cache` of this execution: key → (value, expires_at in ms).
    cache: RefCell<std::collections::HashMap<String, (String, i64)>>,
    /// Whether kit.js (fetch, timers) was loaded in this execution.
    kit_loaded: Cell<bool>,
    /// The action modules `require('actions:<name>')` loads.
    modules: Vec<ModuleSource>,
}

impl Run {
    fn log(&self, line: &str) {
        if self.logs_full.get() {
            return;
        }
        let mut logs = self.logs.borrow_mut();
        let room = self.limits.logs_max_bytes.saturating_sub(logs.len());
        let need = line.len() + 1;
        if need <= room {
            logs.push_str(line);
            logs.push('\n');
        } else {
            let mut cut = room;
            while cut > 0 && !line.is_char_boundary(cut) {
                cut -= 1;
            }
            logs.push_str(&line[..cut]);
            self.logs_full.set(true);
        }
    }
}

/// A QuickJS runtime kept by one thread, with the deadline its interrupt handler checks.
struct Worker {
    rt: Runtime,
    deadline: Rc<Cell<Instant>>,
    interrupted: Rc<Cell<bool>>,
    runs: u32,
}

impl Worker {
    fn new() -> Result<Self, String> {
        let rt =
            Runtime::new().map_err(|e| format!("the JavaScript runtime could not start: {e}"))?;
        let deadline = Rc::new(Cell::new(Instant::now()));
        let interrupted = Rc::new(Cell::new(false));
        let (d, i) = (deadline.clone(), interrupted.clone());
        rt.set_interrupt_handler(Some(Box::new(move || {
            if i.get() || Instant::now() >= d.get() {
                i.set(true);
                true
            } else {
                false
            }
        })));
        Ok(Worker {
            rt,
            deadline,
            interrupted,
            runs: 0,
        })
    }

    fn arm(&self, limits: &Limits, deadline: Instant) {
        self.rt.set_memory_limit(limits.memory);
        // A context's objects are freed with it; collecting cycles while it runs is needed
        // less often than QuickJS's default (256 KiB) says.
        self.rt.set_gc_threshold(limits.memory / 64);
        self.rt.set_max_stack_size(limits.stack);
        self.deadline.set(deadline);
        self.interrupted.set(false);
    }
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's worker; the worker is dropped when `f` says it is spent.
fn with_worker<R>(f: impl FnOnce(&mut Worker) -> (R, bool)) -> Result<R, String> {
    let taken = WORKER.with(|w| w.borrow_mut().take());
    let mut worker = match taken {
        Some(w) => w,
        None => Worker::new()?,
    };
    let (r, keep) = f(&mut worker);
    if keep {
        worker.runs = worker.runs.wrapping_add(1);
        // Contexts are freed at the end of each run; cycles they left wait for a collection.
        if worker.runs % 64 == 0 {
            worker.rt.run_gc();
        }
        WORKER.with(|w| *w.borrow_mut() = Some(worker));
    }
    Ok(r)
}

/// A fresh context with the language's built-ins, less `WeakRef`/`FinalizationRegistry` and
/// `DOMException` (rarely used by Actions; each intrinsic costs on every run).
fn new_context(rt: &Runtime) -> rquickjs::Result<Context> {
    use rquickjs::context::intrinsic as i;
    Context::custom::<(
        i::Date,
        i::Eval,
        i::RegExpCompiler,
        i::RegExp,
        i::Json,
        i::Proxy,
        i::MapSet,
        i::TypedArrays,
        i::Promise,
        i::Performance,
    )>(rt)
}

impl Engine {
    pub fn new(limits: Limits) -> Self {
        Engine {
            pool: Arc::new(pool::Pool::new(limits.workers)),
            limits: Arc::new(limits),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks the code's syntax (it is compiled as the body of a CommonJS module function,
    /// without running it). `Err` holds the message of the syntax error.
    pub fn compile(&self, code: &str) -> Result<Compiled, String> {
        let limits = self.limits.clone();
        let checked = with_worker(|w| {
            w.arm(&limits, Instant::now() + limits.wall);
            let r = match new_context(&w.rt) {
                Ok(context) => context.with(|ctx| match factory(&ctx, code, true) {
                    Ok(_) => Ok(()),
                    Err(e) => compile_message(&ctx, e),
                }),
                Err(e) => Err(format!("the code could not be compiled: {e}")),
            };
            let spent = w.interrupted.get();
            (r, !spent)
        })?;
        checked.map(|()| Compiled(Arc::from(code)))
    }

    /// Runs the handler of `trigger` exported by the code with the event (its `secrets` set from
    /// `secrets`). Runs on the engine's own threads (`Limits::workers`); never panics.
    pub async fn run(
        &self,
        compiled: &Compiled,
        trigger: Trigger,
        event: serde_json::Value,
        secrets: &[(String, String)],
    ) -> Execution {
        let env = Env {
            secrets: secrets.to_vec(),
            ..Env::default()
        };
        self.run_with(compiled, trigger, event, env).await
    }

    /// [`Engine::run`] with the secrets, modules and cache of [`Env`].
    pub async fn run_with(
        &self,
        compiled: &Compiled,
        trigger: Trigger,
        event: serde_json::Value,
        env: Env,
    ) -> Execution {
        let limits = self.limits.clone();
        let code = compiled.0.clone();
        let started = Instant::now();
        match self
            .pool
            .run(move || execute(limits, &code, trigger, event, env))
            .await
        {
            Some(e) => e,
            None => Execution {
                outcome: Outcome::Error {
                    name: "InternalError".into(),
                    message: "the Action's execution failed".into(),
                    stack: None,
                },
                commands: Vec::new(),
                logs: String::new(),
                duration: started.elapsed(),
            },
        }
    }

    /// [`Engine::run`] on the calling thread (which it blocks): for callers that are already on a
    /// blocking thread, and for benchmarks.
    pub fn run_blocking(
        &self,
        compiled: &Compiled,
        trigger: Trigger,
        event: serde_json::Value,
        secrets: &[(String, String)],
    ) -> Execution {
        let env = Env {
            secrets: secrets.to_vec(),
            ..Env::default()
        };
        execute(self.limits.clone(), &compiled.0, trigger, event, env)
    }
}

const WRAP_HEAD: &str = "(function (exports, require, module, __filename, __dirname) {";
/// An action module's wrapper: a module also sees `actions` (its `actions.secrets`).
const MODULE_HEAD: &str = "(function (exports, require, module, __filename, __dirname, actions) {";
const WRAP_TAIL: &str = "\n})";

/// The module function of the code, `function (exports, require, module, __filename,
/// __dirname) { <code> }` as Node wraps CommonJS (sloppy mode; the code starts on line 1 of
/// `action.js`). With `guard` the script starts with a `throw`, so parsing it checks the syntax
/// and nothing runs, even code that closes the wrapper early; without it, code that escapes the
/// wrapper runs in the execution's own context, where the handler would run anyway.
fn factory<'js>(ctx: &Ctx<'js>, code: &str, guard: bool) -> rquickjs::Result<Value<'js>> {
    wrapped(ctx, code, guard, WRAP_HEAD, "action.js")
}

fn wrapped<'js>(
    ctx: &Ctx<'js>,
    code: &str,
    guard: bool,
    head: &str,
    filename: &str,
) -> rquickjs::Result<Value<'js>> {
    let mut src = String::with_capacity(code.len() + 96);
    if guard {
        src.push_str("throw 0;");
    }
    src.push_str(head);
    src.push_str(code);
    src.push_str(WRAP_TAIL);
    let mut opts = EvalOptions::default();
    opts.strict = false;
    opts.filename = Some(filename.into());
    ctx.eval_with_options(src, opts)
}

/// Where an execution keeps the modules it loaded (a global of its own context).
const MODULES_KEY: &str = "__gatehouse_modules";

/// `require('actions:<name>')`: the module's exports, evaluated on first use in this execution;
/// `None` when the action uses no module of that name.
fn load_module<'js>(
    ctx: &Ctx<'js>,
    run: &Rc<Run>,
    name: &str,
) -> rquickjs::Result<Option<Value<'js>>> {
    let Some(m) = run.modules.iter().find(|m| m.name == name) else {
        return Ok(None);
    };
    let g = ctx.globals();
    let loaded: Object = match g.get::<_, Option<Object>>(MODULES_KEY)? {
        Some(o) => o,
        None => {
            let o = Object::new(ctx.clone())?;
            g.set(MODULES_KEY, o.clone())?;
            o
        }
    };
    if let Some(v) = loaded.get::<_, Option<Value>>(name)? {
        return Ok(Some(v));
    }
    let module = Object::new(ctx.clone())?;
    let exports = Object::new(ctx.clone())?;
    module.set("exports", exports.clone())?;
    let actions = Object::new(ctx.clone())?;
    let secrets = Object::new(ctx.clone())?;
    for (k, v) in &m.secrets {
        secrets.set(k.as_str(), v.as_str())?;
    }
    actions.set("secrets", secrets)?;
    let require: Value = g.get("require")?;
    let filename = format!("actions:{name}");
    let f: Function = wrapped(ctx, &m.code.0, false, MODULE_HEAD, &filename)?.get()?;
    f.call::<_, Value>((
        This(exports.clone()),
        exports,
        require,
        module.clone(),
        filename.as_str(),
        "/",
        actions,
    ))?;
    let out: Value = module.get("exports")?;
    loaded.set(name, out.clone())?;
    Ok(Some(out))
}

/// `Ok` for the guard's own `throw 0` (the code parsed), else the syntax error's message.
fn compile_message(ctx: &Ctx<'_>, e: rquickjs::Error) -> Result<(), String> {
    Err(match Err::<(), _>(e).catch(ctx) {
        Err(CaughtError::Value(v)) if v.as_int() == Some(0) => return Ok(()),
        Err(CaughtError::Exception(x)) => {
            let name: String = x
                .get::<_, String>("name")
                .unwrap_or_else(|_| "SyntaxError".into());
            let msg = x.message().unwrap_or_default();
            let at = x
                .stack()
                .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
                .filter(|l| !l.is_empty());
            match at {
                Some(at) => format!("{name}: {msg} ({at})"),
                None => format!("{name}: {msg}"),
            }
        }
        Err(CaughtError::Value(v)) => format!("the code could not be compiled: {v:?}"),
        Err(CaughtError::Error(e)) => format!("the code could not be compiled: {e}"),
        Ok(()) => "the code could not be compiled".into(),
    })
}

/// How the JavaScript part of a run ended (interruption and memory are told by the worker).
enum Flow {
    Ok,
    NoHandler,
    Error {
        name: String,
        message: String,
        stack: Option<String>,
    },
    /// The engine itself failed (out of memory, interrupted, …).
    Aborted(String),
}

fn execute(
    limits: Arc<Limits>,
    code: &str,
    trigger: Trigger,
    mut event: serde_json::Value,
    env: Env,
) -> Execution {
    let Env {
        secrets,
        modules,
        cache,
    } = env;
    let started = Instant::now();
    let deadline = started + limits.wall;
    if let serde_json::Value::Object(o) = &mut event {
        let s: serde_json::Map<String, serde_json::Value> = secrets
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        o.insert("secrets".into(), serde_json::Value::Object(s));
    }
    let event = event.to_string();
    let run = Rc::new(Run {
        limits: limits.clone(),
        deadline,
        logs: RefCell::new(String::new()),
        logs_full: Cell::new(false),
        commands: RefCell::new(Vec::new()),
        cache: RefCell::new(cache),
        kit_loaded: Cell::new(false),
        modules,
    });
    let outcome = with_worker(|w| {
        w.arm(&limits, deadline);
        let flow = match new_context(&w.rt) {
            Ok(context) => context.with(|ctx| drive(&ctx, &run, code, trigger, &event)),
            Err(e) => Flow::Aborted(e.to_string()),
        };
        let interrupted = w.interrupted.get();
        // Walking the heap costs; only a run that failed can have failed for memory.
        let near_limit = !matches!(flow, Flow::Ok | Flow::NoHandler) && {
            let usage = w.rt.memory_usage();
            usage.malloc_size as u128 * 10 >= limits.memory as u128 * 9
        };
        let oom = |f: &Flow| match f {
            Flow::Aborted(m) => m.contains("out of memory") || m.contains("Allocation"),
            Flow::Error { name, message, .. } => {
                name == "InternalError" && message.contains("out of memory")
            }
            _ => false,
        };
        let outcome = if interrupted {
            Outcome::Timeout
        } else if oom(&flow) || (near_limit && !matches!(flow, Flow::Ok | Flow::NoHandler)) {
            Outcome::OutOfMemory
        } else {
            match flow {
                Flow::Ok => Outcome::Ok,
                Flow::NoHandler => Outcome::NoHandler,
                Flow::Error {
                    name,
                    message,
                    stack,
                } => Outcome::Error {
                    name,
                    message,
                    stack,
                },
                Flow::Aborted(m) => Outcome::Error {
                    name: "InternalError".into(),
                    message: m,
                    stack: None,
                },
            }
        };
        let spent = matches!(outcome, Outcome::Timeout | Outcome::OutOfMemory);
        (outcome, !spent)
    });
    let outcome = outcome.unwrap_or_else(|m| Outcome::Error {
        name: "InternalError".into(),
        message: m,
        stack: None,
    });
    let logs = run.logs.take();
    let commands = run.commands.take();
    Execution {
        outcome,
        commands,
        logs,
        duration: started.elapsed(),
    }
}

/// Sets the context up, runs the handler and drives its promise to the end.
fn drive(ctx: &Ctx<'_>, run: &Rc<Run>, code: &str, trigger: Trigger, event: &str) -> Flow {
    match drive_inner(ctx, run, code, trigger, event) {
        Ok(flow) => flow,
        Err(e) => thrown(ctx, e),
    }
}

/// A failed call, described.
fn thrown<'js>(ctx: &Ctx<'js>, e: rquickjs::Error) -> Flow {
    match Err::<(), _>(e).catch(ctx) {
        Err(CaughtError::Exception(x)) => describe(ctx, x.into_value()),
        Err(CaughtError::Value(v)) => describe(ctx, v),
        Err(CaughtError::Error(e)) => Flow::Aborted(e.to_string()),
        Ok(()) => Flow::Aborted("unknown failure".into()),
    }
}

/// A thrown value as name, message and stack (Node's `Name: message` line first).
fn describe<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> Flow {
    if v.is_null() || v.is_undefined() {
        // QuickJS throws null when it cannot even allocate the error.
        return Flow::Aborted("an exception without value (out of memory?)".into());
    }
    if let Some(o) = v.as_object()
        && o.contains_key("message").unwrap_or(false)
    {
        let name = o
            .get::<_, Coerced<String>>("name")
            .map(|c| c.0)
            .unwrap_or_else(|_| "Error".into());
        let message = o
            .get::<_, Coerced<String>>("message")
            .map(|c| c.0)
            .unwrap_or_default();
        let _ = ctx.catch();
        if name == "InternalError" && message.contains("out of memory") {
            return Flow::Aborted("out of memory".into());
        }
        let stack = o
            .get::<_, Option<String>>("stack")
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(|s| format!("{name}: {message}\n{}", s.trim_end_matches('\n')));
        let _ = ctx.catch();
        return Flow::Error {
            name,
            message,
            stack,
        };
    }
    let message = v
        .get::<Coerced<String>>()
        .map(|c| c.0)
        .unwrap_or_else(|_| format!("[{}]", v.type_name()));
    let _ = ctx.catch();
    Flow::Error {
        name: "Error".into(),
        message,
        stack: None,
    }
}

fn drive_inner<'js>(
    ctx: &Ctx<'js>,
    run: &Rc<Run>,
    code: &str,
    trigger: Trigger,
    event: &str,
) -> rquickjs::Result<Flow> {
    host::install(ctx, run)?;
    let api = host::api(ctx, run, trigger)?;
    let event = ctx.json_parse(event)?;
    // The module: exports, then the handler the trigger calls.
    let module = Object::new(ctx.clone())?;
    let exports = Object::new(ctx.clone())?;
    module.set("exports", exports.clone())?;
    let require: Value = ctx.globals().get("require")?;
    let loaded = factory(ctx, code, false).and_then(|f| {
        let f: Function = f.get()?;
        f.call::<_, Value>((
            This(exports.clone()),
            exports,
            require,
            module.clone(),
            "/action.js",
            "/",
        ))
    });
    if let Err(e) = loaded {
        return Ok(thrown(ctx, e));
    }
    let handler = match module.get::<_, Value>("exports")?.as_object() {
        Some(o) => o.get::<_, Value>(trigger.handler())?,
        None => return Ok(Flow::NoHandler),
    };
    let Some(handler) = handler.as_function() else {
        return Ok(Flow::NoHandler);
    };
    let ret: Value = match handler.call((event, api)) {
        Ok(v) => v,
        Err(e) => return Ok(thrown(ctx, e)),
    };
    let Some(promise) = ret.into_promise() else {
        // A synchronous handler: done once the jobs it queued ran.
        while ctx.execute_pending_job() {}
        return Ok(Flow::Ok);
    };
    loop {
        match promise.state() {
            PromiseState::Resolved => return Ok(Flow::Ok),
            PromiseState::Rejected => {
                return Ok(match promise.result::<Value>() {
                    Some(Err(e)) => thrown(ctx, e),
                    _ => Flow::Aborted("the handler's promise failed".into()),
                });
            }
            PromiseState::Pending => {
                if ctx.execute_pending_job() {
                    continue;
                }
                if Instant::now() >= run.deadline {
                    return Ok(Flow::Aborted("interrupted".into()));
                }
                match host::tick(ctx, run) {
                    Ok(true) => continue,
                    // Nothing left that could settle the promise: it never will, which Auth0
                    // would see as the wall limit.
                    Ok(false) => return Ok(Flow::Aborted("the handler never finished".into())),
                    Err(e) => return Ok(thrown(ctx, e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
