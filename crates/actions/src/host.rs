//! What an execution's context offers besides the language: `console`, `require`, the trigger's
//! `api` (built in Rust: parsing JavaScript for it on every run would cost more than the rest of
//! the run), and `fetch`/timers, whose JavaScript (kit.js) is loaded on first use.

use std::{
    rc::Rc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rquickjs::{
    Ctx, Exception, Function, Object, Value,
    convert::Coerced,
    function::{Rest, This},
};

use crate::{Command, Run, Trigger, fetch};

const KIT: &str = include_str!("kit.js");
/// Where the loaded kit is kept (a non-enumerable global of the execution's own context).
const KIT_KEY: &str = "__gatehouse_kit";
/// Where each api sub-object keeps the api object it belongs to (methods return it).
const API_KEY: &str = "__api";

pub(crate) fn install<'js>(ctx: &Ctx<'js>, run: &Rc<Run>) -> rquickjs::Result<()> {
    let g = ctx.globals();
    let console = Object::new(ctx.clone())?;
    for level in ["log", "info", "warn", "error", "debug", "trace"] {
        let r = run.clone();
        console.set(
            level,
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
                let line: Vec<String> = args.0.iter().map(|v| format_arg(&ctx, v)).collect();
                r.log(&line.join(" "));
            })?,
        )?;
    }
    g.set("console", console)?;
    let r = run.clone();
    g.set(
        "require",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: Coerced<String>| -> rquickjs::Result<Value<'js>> {
                if let Some(m) = name.0.strip_prefix("actions:")
                    && let Some(v) = crate::load_module(&ctx, &r, m)?
                {
                    return Ok(v);
                }
                let e = Exception::from_message(
                    ctx.clone(),
                    &format!("Cannot find module '{}'", name.0),
                )?;
                e.set("code", "MODULE_NOT_FOUND")?;
                Err(ctx.throw(e.into_value()))
            },
        )?,
    )?;
    for name in [
        "fetch",
        "setTimeout",
        "clearTimeout",
        "setImmediate",
        "clearImmediate",
    ] {
        let r = run.clone();
        g.set(
            name,
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> rquickjs::Result<Value<'js>> {
                    let f: Function = kit(&ctx, &r)?.get(name)?;
                    f.call((Rest(args.0),))
                },
            )?
            .with_name(name)?,
        )?;
    }
    Ok(())
}

/// The fetch/timers kit of this execution, loaded on first use.
fn kit<'js>(ctx: &Ctx<'js>, run: &Rc<Run>) -> rquickjs::Result<Object<'js>> {
    if run.kit_loaded.get() {
        return ctx.globals().get(KIT_KEY);
    }
    let host = Object::new(ctx.clone())?;
    let r = run.clone();
    host.set(
        "sleep",
        Function::new(ctx.clone(), move |ms: f64| {
            let left = r.deadline.saturating_duration_since(Instant::now());
            let want = if ms.is_finite() && ms > 0.0 {
                Duration::from_secs_f64((ms / 1000.0).min(3600.0))
            } else {
                Duration::ZERO
            };
            std::thread::sleep(want.min(left));
        })?,
    )?;
    let r = run.clone();
    host.set(
        "fetch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  url: String,
                  method: String,
                  headers: String,
                  body: Option<String>|
                  -> rquickjs::Result<String> {
                let headers: Vec<(String, String)> =
                    serde_json::from_str(&headers).unwrap_or_default();
                fetch::fetch(&r.limits, r.deadline, &url, &method, &headers, body)
                    .map_err(|m| Exception::throw_type(&ctx, &m))
            },
        )?,
    )?;
    let load: Function = ctx.eval(KIT)?;
    let kit: Object = load.call((host,))?;
    define_hidden(ctx, &ctx.globals(), KIT_KEY, kit.clone().into_value())?;
    run.kit_loaded.set(true);
    Ok(kit)
}

/// Runs the earliest timer; `false` when there is none (or no timer was ever set).
pub(crate) fn tick<'js>(ctx: &Ctx<'js>, run: &Rc<Run>) -> rquickjs::Result<bool> {
    if !run.kit_loaded.get() {
        return Ok(false);
    }
    let f: Function = kit(ctx, run)?.get("tick")?;
    f.call(())
}

fn define_hidden<'js>(
    ctx: &Ctx<'js>,
    target: &Object<'js>,
    key: &str,
    value: Value<'js>,
) -> rquickjs::Result<()> {
    let object: Object = ctx.globals().get("Object")?;
    let define: Function = object.get("defineProperty")?;
    let desc = Object::new(ctx.clone())?;
    desc.set("value", value)?;
    define.call::<_, Value>((target.clone(), key, desc))?;
    Ok(())
}

/// A console argument as Node prints it, roughly: strings as they are, errors with their stack,
/// objects as JSON.
fn format_arg<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> String {
    if let Some(s) = v.as_string() {
        return s.to_string().unwrap_or_default();
    }
    if let Some(e) = v.as_exception() {
        let name = e
            .get::<_, String>("name")
            .unwrap_or_else(|_| "Error".into());
        let head = format!("{name}: {}", e.message().unwrap_or_default());
        return match e.stack().filter(|s| !s.is_empty()) {
            Some(stack) => format!("{head}\n{}", stack.trim_end_matches('\n')),
            None => head,
        };
    }
    if let Some(f) = v.as_function() {
        let name = f.get::<_, String>("name").unwrap_or_default();
        return if name.is_empty() {
            "[Function (anonymous)]".into()
        } else {
            format!("[Function: {name}]")
        };
    }
    if v.is_object() {
        match ctx.json_stringify(v.clone()) {
            Ok(Some(s)) => return s.to_string().unwrap_or_default(),
            Ok(None) => {}
            Err(_) => {
                let _ = ctx.catch();
            }
        }
    }
    if v.is_symbol() {
        return "Symbol()".into();
    }
    match v.get::<Coerced<String>>() {
        Ok(s) => s.0,
        Err(_) => {
            let _ = ctx.catch();
            format!("[{}]", v.type_name())
        }
    }
}

fn arg<'js>(args: &Rest<Value<'js>>, i: usize) -> Option<Value<'js>> {
    args.0
        .get(i)
        .filter(|v| !v.is_undefined() && !v.is_null())
        .cloned()
}

/// A string argument (`undefined`/`null` as the empty string).
fn text<'js>(args: &Rest<Value<'js>>, i: usize) -> rquickjs::Result<String> {
    match arg(args, i) {
        Some(v) => Ok(v.get::<Coerced<String>>()?.0),
        None => Ok(String::new()),
    }
}

/// A value argument as JSON (as it is at the call: later changes to it do not count).
fn json<'js>(
    ctx: &Ctx<'js>,
    args: &Rest<Value<'js>>,
    i: usize,
) -> rquickjs::Result<serde_json::Value> {
    let Some(v) = args.0.get(i) else {
        return Ok(serde_json::Value::Null);
    };
    Ok(match ctx.json_stringify(v.clone())? {
        Some(s) => serde_json::from_str(&s.to_string()?).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    })
}

#[derive(Clone, Copy)]
enum Rec {
    DenyReason,
    DenyCodeReason,
    RegistrationDeny,
    AccessClaim,
    IdClaim,
    AddScope,
    RemoveScope,
    Multifactor,
    AppMetadata,
    UserMetadata,
    Redirect,
    Validation,
    Unsupported(&'static str),
}

fn command<'js>(ctx: &Ctx<'js>, rec: Rec, a: &Rest<Value<'js>>) -> rquickjs::Result<Command> {
    Ok(match rec {
        Rec::DenyReason => Command::AccessDeny {
            code: None,
            reason: text(a, 0)?,
        },
        Rec::DenyCodeReason => Command::AccessDeny {
            code: Some(text(a, 0)?),
            reason: text(a, 1)?,
        },
        Rec::RegistrationDeny => Command::RegistrationDeny {
            reason: text(a, 0)?,
            user_message: match arg(a, 1) {
                Some(v) => Some(v.get::<Coerced<String>>()?.0),
                None => None,
            },
        },
        Rec::AccessClaim => Command::AccessTokenSetCustomClaim {
            name: text(a, 0)?,
            value: json(ctx, a, 1)?,
        },
        Rec::IdClaim => Command::IdTokenSetCustomClaim {
            name: text(a, 0)?,
            value: json(ctx, a, 1)?,
        },
        Rec::AddScope => Command::AccessTokenAddScope { scope: text(a, 0)? },
        Rec::RemoveScope => Command::AccessTokenRemoveScope { scope: text(a, 0)? },
        Rec::Multifactor => Command::MultifactorEnable {
            provider: text(a, 0)?,
            options: match arg(a, 1) {
                Some(_) => json(ctx, a, 1)?,
                None => serde_json::json!({}),
            },
        },
        Rec::AppMetadata => Command::UserSetAppMetadata {
            name: text(a, 0)?,
            value: json(ctx, a, 1)?,
        },
        Rec::UserMetadata => Command::UserSetUserMetadata {
            name: text(a, 0)?,
            value: json(ctx, a, 1)?,
        },
        Rec::Redirect => {
            let query = match arg(a, 1).and_then(|o| o.into_object()) {
                Some(o) => match o.get::<_, Value>("query")? {
                    q if q.is_undefined() => serde_json::json!({}),
                    q => match ctx.json_stringify(q)? {
                        Some(s) => {
                            serde_json::from_str(&s.to_string()?).unwrap_or(serde_json::Value::Null)
                        }
                        None => serde_json::Value::Null,
                    },
                },
                None => serde_json::json!({}),
            };
            Command::RedirectSendUserTo {
                url: text(a, 0)?,
                query,
            }
        }
        Rec::Validation => Command::ValidationError {
            code: text(a, 0)?,
            message: text(a, 1)?,
        },
        Rec::Unsupported(name) => {
            return Err(Exception::throw_message(
                ctx,
                &format!("{name} is not supported by this server"),
            ));
        }
    })
}

/// An api sub-object with the given recording methods; each returns the api object.
fn group<'js>(
    ctx: &Ctx<'js>,
    run: &Rc<Run>,
    api: &Object<'js>,
    name: &str,
    methods: &[(&'static str, Rec)],
) -> rquickjs::Result<()> {
    let o = Object::new(ctx.clone())?;
    for &(m, rec) in methods {
        let r = run.clone();
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  this: This<Value<'js>>,
                  args: Rest<Value<'js>>|
                  -> rquickjs::Result<Value<'js>> {
                let c = command(&ctx, rec, &args)?;
                r.commands.borrow_mut().push(c);
                match this.0.as_object() {
                    Some(o) => o.get(API_KEY),
                    None => Ok(Value::new_undefined(ctx.clone())),
                }
            },
        )?
        .with_name(m)?;
        o.set(m, f)?;
    }
    define_hidden(ctx, &o, API_KEY, api.clone().into_value())?;
    api.set(name, o)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// `api.cache`: get/set/delete on this execution's cache.
fn cache<'js>(ctx: &Ctx<'js>, run: &Rc<Run>, api: &Object<'js>) -> rquickjs::Result<()> {
    let o = Object::new(ctx.clone())?;
    let r = run.clone();
    o.set(
        "get",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: Coerced<String>| -> rquickjs::Result<Value<'js>> {
                let cache = r.cache.borrow();
                match cache.get(&key.0) {
                    Some((value, at)) if *at > now_ms() => {
                        let rec = Object::new(ctx.clone())?;
                        rec.set("value", value.as_str())?;
                        rec.set("expires_at", *at as f64)?;
                        Ok(rec.into_value())
                    }
                    _ => Ok(Value::new_undefined(ctx.clone())),
                }
            },
        )?,
    )?;
    let r = run.clone();
    o.set(
        "set",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> rquickjs::Result<Object<'js>> {
                let key = text(&args, 0)?;
                let value = text(&args, 1)?;
                let mut at = now_ms() + 15 * 60 * 1000;
                if let Some(opts) = arg(&args, 2).and_then(|v| v.into_object()) {
                    if let Ok(e) = opts.get::<_, f64>("expires_at") {
                        at = e as i64;
                    } else if let Ok(ttl) = opts.get::<_, f64>("ttl") {
                        at = now_ms() + ttl as i64;
                    }
                }
                r.cache
                    .borrow_mut()
                    .insert(key.clone(), (value.clone(), at));
                r.commands.borrow_mut().push(Command::CacheSet {
                    key,
                    value,
                    expires_at: at,
                });
                success(&ctx)
            },
        )?,
    )?;
    let r = run.clone();
    o.set(
        "delete",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: Coerced<String>| -> rquickjs::Result<Object<'js>> {
                r.cache.borrow_mut().remove(&key.0);
                r.commands
                    .borrow_mut()
                    .push(Command::CacheDelete { key: key.0 });
                success(&ctx)
            },
        )?,
    )?;
    api.set("cache", o)
}

fn success<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    o.set("type", "success")?;
    Ok(o)
}

/// The `api` object of the trigger: exactly the methods Auth0 documents for it (that this
/// server implements; others are absent, so calling them is a TypeError).
pub(crate) fn api<'js>(
    ctx: &Ctx<'js>,
    run: &Rc<Run>,
    trigger: Trigger,
) -> rquickjs::Result<Object<'js>> {
    let api = Object::new(ctx.clone())?;
    cache(ctx, run, &api)?;
    match trigger {
        Trigger::PostLogin => {
            group(ctx, run, &api, "access", &[("deny", Rec::DenyReason)])?;
            group(
                ctx,
                run,
                &api,
                "accessToken",
                &[
                    ("setCustomClaim", Rec::AccessClaim),
                    ("addScope", Rec::AddScope),
                    ("removeScope", Rec::RemoveScope),
                ],
            )?;
            group(
                ctx,
                run,
                &api,
                "idToken",
                &[("setCustomClaim", Rec::IdClaim)],
            )?;
            group(
                ctx,
                run,
                &api,
                "multifactor",
                &[("enable", Rec::Multifactor)],
            )?;
            group(
                ctx,
                run,
                &api,
                "user",
                &[
                    ("setAppMetadata", Rec::AppMetadata),
                    ("setUserMetadata", Rec::UserMetadata),
                ],
            )?;
            group(
                ctx,
                run,
                &api,
                "redirect",
                &[
                    ("sendUserTo", Rec::Redirect),
                    ("encodeToken", Rec::Unsupported("api.redirect.encodeToken")),
                    (
                        "validateToken",
                        Rec::Unsupported("api.redirect.validateToken"),
                    ),
                ],
            )?;
        }
        Trigger::CredentialsExchange => {
            group(ctx, run, &api, "access", &[("deny", Rec::DenyCodeReason)])?;
            group(
                ctx,
                run,
                &api,
                "accessToken",
                &[("setCustomClaim", Rec::AccessClaim)],
            )?;
        }
        Trigger::PreUserRegistration => {
            group(ctx, run, &api, "access", &[("deny", Rec::RegistrationDeny)])?;
            group(
                ctx,
                run,
                &api,
                "user",
                &[
                    ("setAppMetadata", Rec::AppMetadata),
                    ("setUserMetadata", Rec::UserMetadata),
                ],
            )?;
            group(ctx, run, &api, "validation", &[("error", Rec::Validation)])?;
        }
        Trigger::PasswordResetPostChallenge => {
            group(ctx, run, &api, "access", &[("deny", Rec::DenyReason)])?;
        }
        Trigger::PostUserRegistration
        | Trigger::PostChangePassword
        | Trigger::SendPhoneMessage
        | Trigger::EventStream => {}
    }
    Ok(api)
}
