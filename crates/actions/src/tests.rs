use std::{
    io::{Read, Write},
    net::TcpListener,
    time::{Duration, Instant},
};

use serde_json::json;

use super::*;

fn engine() -> Engine {
    Engine::new(Limits {
        allow_private_fetch: true,
        ..Limits::default()
    })
}

async fn run(e: &Engine, code: &str, trigger: Trigger) -> Execution {
    let c = e.compile(code).unwrap();
    e.run(
        &c,
        trigger,
        json!({"user": {"email": "a@example.com"}}),
        &[],
    )
    .await
}

#[test]
fn triggers_round_trip() {
    for t in Trigger::ALL {
        assert_eq!(Trigger::from_id(t.id()), Some(t));
    }
    assert_eq!(Trigger::from_id("nope"), None);
    assert_eq!(
        Trigger::PasswordResetPostChallenge.handler(),
        "onExecutePostChallenge"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_exchange_claim() {
    let e = engine();
    let x = run(
        &e,
        "exports.onExecuteCredentialsExchange = async (event, api) => {
            api.accessToken.setCustomClaim('https://x/y', {a: [1, 2]});
        };",
        Trigger::CredentialsExchange,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(
        x.commands,
        vec![Command::AccessTokenSetCustomClaim {
            name: "https://x/y".into(),
            value: json!({"a": [1, 2]})
        }]
    );
    // credentials-exchange has no idToken: calling it is a TypeError.
    let x = run(
        &e,
        "exports.onExecuteCredentialsExchange = async (event, api) => { api.idToken.setCustomClaim('a', 1); };",
        Trigger::CredentialsExchange,
    )
    .await;
    assert!(
        matches!(&x.outcome, Outcome::Error { name, .. } if name == "TypeError"),
        "{x:?}"
    );
    let x = run(
        &e,
        "module.exports = { onExecuteCredentialsExchange: (event, api) => { api.access.deny('invalid_scope', 'no'); } };",
        Trigger::CredentialsExchange,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok);
    assert_eq!(
        x.commands,
        vec![Command::AccessDeny {
            code: Some("invalid_scope".into()),
            reason: "no".into()
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_login_deny_and_chaining() {
    let e = engine();
    let x = run(
        &e,
        "exports.onExecutePostLogin = async (event, api) => {
            if (event.user.email.endsWith('@example.com')) api.access.deny('Access denied');
            api.idToken.setCustomClaim('n', 1).accessToken.addScope('read');
            api.user.setAppMetadata('plan', 'gold');
            api.multifactor.enable('any');
            api.redirect.sendUserTo('https://x.example/a', {query: {s: 1}});
            const r = api.cache.set('k', 'v');
            console.log(r.type, api.cache.get('k').value, api.cache.get('zz'));
        };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(
        x.commands[0],
        Command::AccessDeny {
            code: None,
            reason: "Access denied".into()
        }
    );
    assert_eq!(
        x.commands[2],
        Command::AccessTokenAddScope {
            scope: "read".into()
        }
    );
    assert_eq!(
        x.commands[4],
        Command::MultifactorEnable {
            provider: "any".into(),
            options: json!({})
        }
    );
    assert_eq!(
        x.commands[5],
        Command::RedirectSendUserTo {
            url: "https://x.example/a".into(),
            query: json!({"s": 1})
        }
    );
    assert!(
        matches!(&x.commands[6], Command::CacheSet { key, value, .. } if key == "k" && value == "v")
    );
    assert_eq!(x.logs, "success v undefined\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_user_registration_api() {
    let e = engine();
    let x = run(
        &e,
        "exports.onExecutePreUserRegistration = async (event, api) => {
            api.user.setUserMetadata('a', 1);
            api.validation.error('invalid_email', 'bad');
            api.access.deny('internal', 'You may not register');
        };",
        Trigger::PreUserRegistration,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(
        x.commands[1],
        Command::ValidationError {
            code: "invalid_email".into(),
            message: "bad".into()
        }
    );
    assert_eq!(
        x.commands[2],
        Command::RegistrationDeny {
            reason: "internal".into(),
            user_message: Some("You may not register".into())
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_await_and_console() {
    let e = engine();
    let x = run(
        &e,
        "const wait = (v) => new Promise((r) => r(v));
         exports.onExecutePostLogin = async (event, api) => {
            const v = await wait(41);
            await null;
            console.log('got', v + 1, {a: 1}, [1, 'x'], null);
            console.error('oops');
            api.accessToken.setCustomClaim('v', await wait(v));
        };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(x.logs, "got 42 {\"a\":1} [1,\"x\"] null\noops\n");
    assert_eq!(
        x.commands,
        vec![Command::AccessTokenSetCustomClaim {
            name: "v".into(),
            value: json!(41)
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_run() {
    let e = engine();
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => {
            setTimeout(() => console.log('b'), 20);
            setTimeout(() => console.log('a'), 5);
            await new Promise((r) => setTimeout(r, 30));
            console.log('c');
        };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(x.logs, "a\nb\nc\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_reported() {
    let e = engine();
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { throw new RangeError('too far'); };",
        Trigger::PostLogin,
    )
    .await;
    match &x.outcome {
        Outcome::Error {
            name,
            message,
            stack,
        } => {
            assert_eq!(name, "RangeError");
            assert_eq!(message, "too far");
            assert!(
                stack
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("RangeError: too far")
            );
        }
        o => panic!("{o:?}"),
    }
    // A synchronous handler throwing, a string thrown, a top-level throw.
    let x = run(
        &e,
        "exports.onExecutePostLogin = () => { null.x; };",
        Trigger::PostLogin,
    )
    .await;
    assert!(matches!(&x.outcome, Outcome::Error { name, .. } if name == "TypeError"));
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { throw 'plain'; };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(
        x.outcome,
        Outcome::Error {
            name: "Error".into(),
            message: "plain".into(),
            stack: None
        }
    );
    let x = run(&e, "throw new Error('at load');", Trigger::PostLogin).await;
    assert!(matches!(&x.outcome, Outcome::Error { message, .. } if message == "at load"));
    // No handler for the trigger.
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => {};",
        Trigger::CredentialsExchange,
    )
    .await;
    assert_eq!(x.outcome, Outcome::NoHandler);
    // A promise nothing can settle.
    let x = run(
        &e,
        "exports.onExecutePostLogin = () => new Promise(() => {});",
        Trigger::PostLogin,
    )
    .await;
    assert!(matches!(
        x.outcome,
        Outcome::Error { .. } | Outcome::Timeout
    ));
}

#[test]
fn syntax_error_fails_compile() {
    let e = engine();
    let err = e
        .compile("exports.onExecutePostLogin = async (event, api) => { if ( };")
        .unwrap_err();
    assert!(err.contains("SyntaxError"), "{err}");
    // Compiling never runs the code, even code that closes the module function early.
    let t = Instant::now();
    assert!(e.compile("}); while (true) {} (function () {").is_ok());
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(e.compile("return 1;").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_then_next_run_works() {
    let e = Engine::new(Limits {
        wall: Duration::from_millis(300),
        ..Limits::default()
    });
    let t = Instant::now();
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { try { while (true) {} } catch (e) {} };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Timeout, "{x:?}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    let x = run(
        &e,
        "exports.onExecutePostLogin = async (e, api) => { api.access.deny('x'); };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok);
    assert_eq!(x.commands.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_then_next_run_works() {
    let e = Engine::new(Limits {
        memory: 16 * 1024 * 1024,
        ..Limits::default()
    });
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { let a = []; while (true) a.push(new Array(1e6).fill(1)); };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::OutOfMemory, "{x:?}");
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { const a = []; while (true) a.push('x'.repeat(1 << 20) + a.length); };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::OutOfMemory, "{x:?}");
    let x = run(
        &e,
        "exports.onExecutePostLogin = async (e, api) => { api.access.deny('x'); };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok);
    // Deep recursion is a RangeError (stack), not a crash.
    let x = run(
        &e,
        "const f = (n) => f(n + 1) + 1; exports.onExecutePostLogin = async () => { f(0); };",
        Trigger::PostLogin,
    )
    .await;
    assert!(
        matches!(&x.outcome, Outcome::Error { name, .. } if name == "RangeError" || name == "InternalError"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_isolation() {
    let e = engine();
    let c = e
        .compile(
            "exports.onExecutePostLogin = async (event, api) => {
                console.log(event.secrets.API_KEY, typeof globalThis.leak, typeof host);
                globalThis.leak = 1;
                Array.prototype.evil = 1;
            };",
        )
        .unwrap();
    let secrets = [("API_KEY".to_owned(), "s3cr3t".to_owned())];
    let x = e.run(&c, Trigger::PostLogin, json!({}), &secrets).await;
    assert_eq!(x.logs, "s3cr3t undefined undefined\n");
    let x = e.run(&c, Trigger::PostLogin, json!({}), &secrets).await;
    assert_eq!(x.logs, "s3cr3t undefined undefined\n");
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { console.log(typeof [].evil); };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.logs, "undefined\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_throws() {
    let e = engine();
    let x = run(
        &e,
        "const axios = require('axios'); exports.onExecutePostLogin = async () => {};",
        Trigger::PostLogin,
    )
    .await;
    assert!(
        matches!(&x.outcome, Outcome::Error { message, .. } if message == "Cannot find module 'axios'"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_modules_are_required_by_name_with_their_own_secrets() {
    let e = engine();
    let module = ModuleSource {
        name: "greeter".into(),
        code: e
            .compile(
                "let loads = (globalThis.loads || 0) + 1; globalThis.loads = loads;
                 module.exports = { greet: (n) => actions.secrets.WORD + ' ' + n, loads: () => loads };",
            )
            .unwrap(),
        secrets: vec![("WORD".into(), "hello".into())],
    };
    let c = e
        .compile(
            "const g = require('actions:greeter');
             const again = require('actions:greeter');
             exports.onExecutePostLogin = async (event, api) => {
               api.idToken.setCustomClaim('greeting', g.greet(event.user.email));
               api.idToken.setCustomClaim('loads', again.loads());
               api.idToken.setCustomClaim('action_sees_module_secret', event.secrets.WORD || null);
             };",
        )
        .unwrap();
    let x = e
        .run_with(
            &c,
            Trigger::PostLogin,
            json!({"user": {"email": "a@example.com"}}),
            Env {
                modules: vec![module],
                ..Env::default()
            },
        )
        .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(
        x.commands,
        vec![
            Command::IdTokenSetCustomClaim {
                name: "greeting".into(),
                value: json!("hello a@example.com")
            },
            Command::IdTokenSetCustomClaim {
                name: "loads".into(),
                value: json!(1)
            },
            Command::IdTokenSetCustomClaim {
                name: "action_sees_module_secret".into(),
                value: json!(null)
            },
        ]
    );
    // A module the action does not use is not found.
    let c = e
        .compile("require('actions:other'); exports.onExecutePostLogin = async () => {};")
        .unwrap();
    let x = e.run(&c, Trigger::PostLogin, json!({}), &[]).await;
    assert!(
        matches!(&x.outcome, Outcome::Error { message, .. } if message == "Cannot find module 'actions:other'"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_starts_from_what_the_caller_gives() {
    let e = engine();
    let c = e
        .compile(
            "exports.onExecuteCredentialsExchange = async (event, api) => {
               const hit = api.cache.get('token');
               api.accessToken.setCustomClaim('hit', hit ? hit.value : null);
               api.accessToken.setCustomClaim('expired', api.cache.get('old') || null);
               api.cache.set('token', 'fresh');
             };",
        )
        .unwrap();
    let mut cache = std::collections::HashMap::new();
    cache.insert("token".to_owned(), ("cached".to_owned(), i64::MAX));
    cache.insert("old".to_owned(), ("stale".to_owned(), 1));
    let x = e
        .run_with(
            &c,
            Trigger::CredentialsExchange,
            json!({}),
            Env {
                cache,
                ..Env::default()
            },
        )
        .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    assert_eq!(
        x.commands[0],
        Command::AccessTokenSetCustomClaim {
            name: "hit".into(),
            value: json!("cached")
        }
    );
    assert_eq!(
        x.commands[1],
        Command::AccessTokenSetCustomClaim {
            name: "expired".into(),
            value: json!(null)
        }
    );
    assert!(
        matches!(&x.commands[2], Command::CacheSet { key, value, .. } if key == "token" && value == "fresh")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_capped() {
    let e = Engine::new(Limits {
        logs_max_bytes: 100,
        ..Limits::default()
    });
    let x = run(
        &e,
        "exports.onExecutePostLogin = async () => { for (let i = 0; i < 100; i++) console.log('0123456789'); };",
        Trigger::PostLogin,
    )
    .await;
    assert_eq!(x.outcome, Outcome::Ok);
    assert_eq!(x.logs.len(), 100);
}

/// A one-shot HTTP/1.1 server answering each connection with `reply` (or never, when `None`).
fn server(reply: Option<String>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                match reply {
                    Some(r) => {
                        let _ = s.write_all(r.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(30)),
                }
            });
        }
    });
    format!("http://{addr}")
}

fn http(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

const FETCH: &str = "exports.onExecutePostLogin = async (event, api) => {
    try {
        const r = await fetch(event.url, { method: 'POST', headers: { 'x-a': '1' }, body: '{}' });
        const j = await r.json();
        console.log(r.status, r.ok, r.headers.get('Content-Type'), JSON.stringify(j));
    } catch (e) {
        console.log(e.name, e.message);
    }
};";

async fn fetch_logs(e: &Engine, url: &str) -> String {
    let c = e.compile(FETCH).unwrap();
    let x = e
        .run(&c, Trigger::PostLogin, json!({ "url": url }), &[])
        .await;
    assert_eq!(x.outcome, Outcome::Ok, "{x:?}");
    x.logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_refuses_private_addresses_by_default() {
    let url = server(Some(http("200 OK", "{\"a\":1}")));
    let e = Engine::new(Limits::default());
    let logs = fetch_logs(&e, &url).await;
    assert!(logs.starts_with("TypeError "), "{logs}");
    assert!(logs.contains("not allowed"), "{logs}");
    let logs = fetch_logs(&e, "http://localhost:1/").await;
    assert!(logs.contains("not allowed"), "{logs}");
    let logs = fetch_logs(&e, "file:///etc/passwd").await;
    assert!(logs.starts_with("TypeError "), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_works_with_private_allowed() {
    let url = server(Some(http("201 Created", "{\"a\":1}")));
    let logs = fetch_logs(&engine(), &url).await;
    assert_eq!(logs, "201 true application/json {\"a\":1}\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_refuses_oversize_bodies() {
    let big = format!("\"{}\"", "x".repeat(2000));
    let url = server(Some(http("200 OK", &big)));
    let e = Engine::new(Limits {
        allow_private_fetch: true,
        fetch_max_bytes: 1000,
        ..Limits::default()
    });
    let logs = fetch_logs(&e, &url).await;
    assert!(logs.starts_with("TypeError "), "{logs}");
    assert!(logs.contains("larger than 1000 bytes"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_times_out() {
    let url = server(None);
    let e = Engine::new(Limits {
        allow_private_fetch: true,
        fetch_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let t = Instant::now();
    let logs = fetch_logs(&e, &url).await;
    assert!(logs.contains("timed out"), "{logs}");
    assert!(t.elapsed() < Duration::from_secs(3));
    // The wall deadline bounds it too.
    let e = Engine::new(Limits {
        allow_private_fetch: true,
        wall: Duration::from_millis(300),
        ..Limits::default()
    });
    let c = e.compile(FETCH).unwrap();
    let t = Instant::now();
    let x = e
        .run(&c, Trigger::PostLogin, json!({ "url": url }), &[])
        .await;
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(matches!(x.outcome, Outcome::Timeout | Outcome::Ok), "{x:?}");
}

/// Prints the cost of one run of a claim-adding Action (`cargo test -p gatehouse-actions
/// --release -- --ignored --nocapture per_run_cost`).
#[test]
#[ignore]
fn per_run_cost() {
    let e = Engine::new(Limits::default());
    let c = e
        .compile(
            "exports.onExecuteCredentialsExchange = async (event, api) => {
                api.accessToken.setCustomClaim('https://example.com/tier', event.client.metadata.tier || 'free');
            };",
        )
        .unwrap();
    let event = json!({"client": {"client_id": "abc", "name": "x", "metadata": {"tier": "gold"}}});
    for _ in 0..200 {
        let x = e.run_blocking(&c, Trigger::CredentialsExchange, event.clone(), &[]);
        assert_eq!(x.outcome, Outcome::Ok);
    }
    let n = 5000;
    let t = Instant::now();
    for _ in 0..n {
        let x = e.run_blocking(&c, Trigger::CredentialsExchange, event.clone(), &[]);
        assert_eq!(x.commands.len(), 1);
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("per run: {per:.1} µs");
}

#[test]
#[ignore]
fn cost_breakdown() {
    let rt = Runtime::new().unwrap();
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        let c = Context::full(&rt).unwrap();
        drop(c);
    }
    println!(
        "context full: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        let c = Context::base(&rt).unwrap();
        drop(c);
    }
    println!(
        "context base: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    use rquickjs::context::intrinsic as i;
    macro_rules! m {
        ($label:expr, $t:ty) => {{
            let t = Instant::now();
            for _ in 0..n {
                drop(Context::custom::<$t>(&rt).unwrap());
            }
            println!(
                "{}: {:.1} µs",
                $label,
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            );
        }};
    }
    m!("date", (i::Date,));
    m!("eval", (i::Eval,));
    m!("regexp", (i::RegExpCompiler, i::RegExp));
    m!("json", (i::Json,));
    m!("proxy", (i::Proxy,));
    m!("mapset", (i::MapSet,));
    m!("typed", (i::TypedArrays,));
    m!("promise", (i::Promise,));
    m!("perf", (i::Performance,));
    m!("weakref", (i::WeakRef,));
    m!("dom", (i::DOMException,));
    let t = Instant::now();
    for _ in 0..n {
        rt.run_gc();
    }
    println!("gc: {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
