//! The ceilings of the token endpoint: RS256 signing and verification alone (for
//! `client_credentials` and refresh-token exchanges) and bcrypt verification at Auth0's cost 10
//! alone (for password logins).
//!
//! - `rs256_sign` / `rs256_verify` / `bcrypt10_verify`: one call on one core.
//! - `rs256_sign_parallel`: one signature's share of wall time while every core signs at once
//!   (one thread per core), i.e. `1 / (aggregate signatures per second)`: what signing alone
//!   allows on the whole machine, with its real cores, SMT and noisy neighbours.
//! - `bcrypt10_verify_parallel`: the same for bcrypt-10 verification.
//!
//! Besides criterion's own report (and `target/criterion/<name>/new/estimates.json`), each
//! measured function prints one machine-readable line, `BENCH-OPS <name> <ops_per_sec>
//! threads=<n>`, from criterion's mean estimate; `bench/run.sh` reads those.
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::jwt::{SigningKey, Verifier};
use serde_json::{Value, json};

const ISS: &str = "http://127.0.0.1:3000/";
const AUD: &str = "http://127.0.0.1:3000/api/v2/";

fn claims() -> Value {
    json!({"iss":ISS,"sub":"abc@clients","aud":AUD,
        "iat":1_700_000_000,"exp":4_000_000_000_i64,"scope":"read:clients create:clients","gty":"client-credentials","azp":"abc"})
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Criterion's mean for `name`, as operations per second, printed on one line. Only an
/// estimate written since `since` counts (a function a filter skipped prints nothing).
fn report(name: &str, threads: usize, since: SystemTime) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::PathBuf::from("target"), Into::into);
    // `cargo bench` runs benches from the package's directory; the target dir is the workspace's.
    let candidates = [
        dir.join("criterion").join(name).join("new/estimates.json"),
        std::path::PathBuf::from("../../target/criterion")
            .join(name)
            .join("new/estimates.json"),
    ];
    for path in candidates {
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        if !fresh {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(ns) = v
            .pointer("/mean/point_estimate")
            .and_then(Value::as_f64)
            .filter(|ns| *ns > 0.0)
        {
            println!("BENCH-OPS {name} {:.1} threads={threads}", 1e9 / ns);
            return;
        }
    }
}

fn bench(c: &mut Criterion) {
    // A little slack for file systems with coarse timestamps.
    let since = SystemTime::now() - Duration::from_secs(2);
    let Ok((key, _)) = SigningKey::generate("bench".into()) else {
        return;
    };
    let claims = claims();
    c.bench_function("rs256_sign", |b| b.iter(|| key.sign(&claims)));
    report("rs256_sign", 1, since);

    let n = cores();
    c.bench_function("rs256_sign_parallel", |b| {
        b.iter_custom(|iters| {
            on_every_core(iters, n, || {
                let _ = std::hint::black_box(key.sign(&claims));
            })
        });
    });
    report("rs256_sign_parallel", n, since);

    let mut v = Verifier::default();
    if v.add_key("bench", &key.public_der()).is_err() {
        return;
    }
    let Ok(token) = key.sign(&claims) else { return };
    c.bench_function("rs256_verify", |b| {
        b.iter(|| v.verify(&token, ISS, AUD, 1_700_000_001));
    });
    report("rs256_verify", 1, since);
}

/// Wall time of `iters` calls of `f` spread over `n` threads at once, scaled back to `iters`
/// when the even split overshot.
fn on_every_core(iters: u64, n: usize, f: impl Fn() + Sync) -> Duration {
    let iters = iters.max(1);
    let per = iters.div_ceil(n as u64);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                for _ in 0..per {
                    f();
                }
            });
        }
    });
    start
        .elapsed()
        .mul_f64(iters as f64 / (per * n as u64) as f64)
        .max(Duration::from_nanos(1))
}

/// bcrypt at cost 10 (what every password login verifies once).
fn bench_bcrypt(c: &mut Criterion) {
    let since = SystemTime::now() - Duration::from_secs(2);
    let password = secrecy::SecretString::from("correct horse battery staple");
    let Ok(hash) = gatehouse_core::password::hash(&password) else {
        return;
    };
    let mut g = c.benchmark_group("bcrypt");
    g.sample_size(10);
    g.bench_function("bcrypt10_verify", |b| {
        b.iter(|| gatehouse_core::password::verify(&password, &hash));
    });
    let n = cores();
    g.bench_function("bcrypt10_verify_parallel", |b| {
        b.iter_custom(|iters| {
            on_every_core(iters, n, || {
                std::hint::black_box(gatehouse_core::password::verify(&password, &hash));
            })
        });
    });
    g.finish();
    report("bcrypt/bcrypt10_verify", 1, since);
    report("bcrypt/bcrypt10_verify_parallel", n, since);
}

criterion_group!(benches, bench, bench_bcrypt);
criterion_main!(benches);
