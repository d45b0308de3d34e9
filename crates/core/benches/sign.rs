//! RS256 signing and verification alone: the ceiling for `POST /oauth/token`.
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::jwt::{SigningKey, Verifier};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let Ok((key, _)) = SigningKey::generate("bench".into()) else { return };
    let claims = json!({"iss":"http://127.0.0.1:3000/","sub":"abc@clients","aud":"http://127.0.0.1:3000/api/v2/",
        "iat":1_700_000_000,"exp":4_000_000_000_i64,"scope":"read:clients create:clients","gty":"client-credentials","azp":"abc"});
    c.bench_function("rs256_sign", |b| b.iter(|| key.sign(&claims)));
    let mut v = Verifier::default();
    if v.add_key("bench", &key.public_der()).is_err() {
        return;
    }
    let Ok(token) = key.sign(&claims) else { return };
    c.bench_function("rs256_verify", |b| {
        b.iter(|| v.verify(&token, "http://127.0.0.1:3000/", "http://127.0.0.1:3000/api/v2/", 1_700_000_001))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
