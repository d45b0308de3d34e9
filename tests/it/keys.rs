//! Tag `keys` over real HTTP, on both backends: signing keys rotate with the next key published
//! before it signs, a revoked key's tokens are refused at once (cache included) and on a second
//! instance within the refresh bound; the encryption-key hierarchy (rekey, bring your own root
//! key through a wrapping key); custom signing keys. No reply carries key material.

use std::time::{Duration, Instant};

use aws_lc_rs::{
    key_wrap::{AES_256, AesKek, KeyWrapPadded},
    rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64},
};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method as M;
use serde_json::{Value, json};

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let h: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(base: &str) -> Vec<String> {
    let v: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert!(k.get("d").is_none() && k.get("p").is_none(), "{k}");
            assert!(k["x5c"][0].is_string(), "{k}");
            k["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// No private key, no key material, in any reply.
fn no_material(v: &Value) {
    let text = v.to_string();
    for needle in ["PRIVATE KEY", "private_der", "wrapping_der", "\"d\":"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
}

async fn status_with(s: &TestServer, base: &str, token: &str) -> u16 {
    s.http
        .get(format!("{base}/api/v2/keys/signing"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rotation_publishes_the_next_key_before_it_signs() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t0 = s.mgmt_token().await;
        let (st, list) = call(&s, &t0, M::GET, "/keys/signing", None).await;
        assert_eq!(st, 200, "{list}");
        no_material(&list);
        let list = list.as_array().unwrap().clone();
        assert_eq!(list.len(), 2, "{list:?}");
        let current = list.iter().find(|k| k["current"] == true).unwrap();
        let next = list.iter().find(|k| k["next"] == true).unwrap();
        let (k1, k2) = (
            current["kid"].as_str().unwrap().to_owned(),
            next["kid"].as_str().unwrap().to_owned(),
        );
        assert_eq!(kid_of(&t0), k1);
        for k in [current, next] {
            assert!(
                k["cert"]
                    .as_str()
                    .unwrap()
                    .starts_with("-----BEGIN CERTIFICATE-----")
            );
            assert!(
                k["pkcs7"]
                    .as_str()
                    .unwrap()
                    .starts_with("-----BEGIN PKCS7-----")
            );
            assert_eq!(k["thumbprint"].as_str().unwrap().len(), 40);
            assert_eq!(k["revoked"], false);
            assert_eq!(k["previous"], false);
        }
        assert!(current["current_since"].is_string());
        // Both published before the next one signs anything.
        assert_eq!(jwks_kids(&s.url).await, vec![k1.clone(), k2.clone()]);

        let (st, rotated) = call(&s, &t0, M::POST, "/keys/signing/rotate", None).await;
        assert_eq!(st, 201, "{rotated}");
        no_material(&rotated);
        assert_eq!(rotated["kid"], json!(k2));
        assert_eq!(rotated["current"], true);

        let t1 = s.mgmt_token().await;
        assert_eq!(kid_of(&t1), k2, "the old next key signs new tokens");
        let kids = jwks_kids(&s.url).await;
        assert_eq!(kids.len(), 3, "{kids:?}");
        assert_eq!(kids[0], k2);
        assert_eq!(
            kids[2], k1,
            "the previous key stays published until revoked"
        );
        // A previous key's tokens still verify.
        assert_eq!(status_with(&s, &s.url, &t0).await, 200);
        let (st, old) = call(&s, &t1, M::GET, &format!("/keys/signing/{k1}"), None).await;
        assert_eq!(st, 200, "{old}");
        assert_eq!(
            (
                old["current"].clone(),
                old["previous"].clone(),
                old["next"].clone()
            ),
            (json!(false), json!(true), json!(false))
        );
        assert!(old["current_until"].is_string());
        let (_, list) = call(&s, &t1, M::GET, "/keys/signing", None).await;
        let list = list.as_array().unwrap();
        assert_eq!(list.iter().filter(|k| k["current"] == true).count(), 1);
        assert_eq!(list.iter().filter(|k| k["next"] == true).count(), 1);

        let (st, e) = call(&s, &t1, M::GET, "/keys/signing/nope", None).await;
        assert_eq!(st, 404, "{e}");

        // Concurrent rotations each promote the next key of their moment: never two current
        // keys, never a lost one.
        let rotations = (0..3).map(|_| call(&s, &t1, M::POST, "/keys/signing/rotate", None));
        let kids: std::collections::BTreeSet<String> = futures::future::join_all(rotations)
            .await
            .into_iter()
            .map(|(st, v)| {
                assert_eq!(st, 201, "{v}");
                v["kid"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(kids.len(), 3, "each rotation promoted another key");
        let (_, list) = call(&s, &t1, M::GET, "/keys/signing", None).await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 6);
        let count = |f: &str| list.iter().filter(|k| k[f] == true).count();
        assert_eq!(
            (count("current"), count("next"), count("previous")),
            (1, 1, 4)
        );
        let current = list.iter().find(|k| k["current"] == true).unwrap();
        assert_eq!(jwks_kids(&s.url).await[0], current["kid"].as_str().unwrap());
        assert_eq!(
            kid_of(&s.mgmt_token().await),
            current["kid"].as_str().unwrap()
        );
    }
}

#[tokio::test]
async fn a_revoked_keys_tokens_are_refused_at_once_on_every_instance() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let twin = s.twin().await;
        let twin_base = format!("http://{}", twin.addr);
        let t0 = s.mgmt_token().await;
        let k1 = kid_of(&t0);
        // Verified (and cached) on both instances.
        assert_eq!(status_with(&s, &s.url, &t0).await, 200);
        assert_eq!(status_with(&s, &twin_base, &t0).await, 200);

        let (st, rotated) = call(&s, &t0, M::POST, "/keys/signing/rotate", None).await;
        assert_eq!(st, 201, "{rotated}");
        let t1 = s.mgmt_token().await;
        let k2 = kid_of(&t1);
        assert_ne!(k1, k2);
        let (_, list) = call(&s, &t1, M::GET, "/keys/signing", None).await;
        let k3 = list
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["next"] == true)
            .unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned();

        // Neither the current nor the next key can be revoked; an unknown key is not found.
        for kid in [&k2, &k3] {
            let (st, e) = call(
                &s,
                &t1,
                M::PUT,
                &format!("/keys/signing/{kid}/revoke"),
                None,
            )
            .await;
            assert_eq!(st, 400, "{e}");
        }
        let (st, e) = call(&s, &t1, M::PUT, "/keys/signing/nope/revoke", None).await;
        assert_eq!(st, 404, "{e}");
        assert_eq!(e["message"], "Signing key not found");

        let (st, revoked) =
            call(&s, &t1, M::PUT, &format!("/keys/signing/{k1}/revoke"), None).await;
        assert_eq!(st, 200, "{revoked}");
        no_material(&revoked);
        assert_eq!(revoked["kid"], json!(k1));
        assert_eq!(revoked["revoked"], true);
        assert!(revoked["revoked_at"].is_string());

        // At once here, though the token was cached.
        assert_eq!(status_with(&s, &s.url, &t0).await, 401);
        assert!(!jwks_kids(&s.url).await.contains(&k1));
        assert_eq!(status_with(&s, &s.url, &t1).await, 200);
        // On the other instance within the refresh bound (1 s, plus a margin for slow CI).
        let start = Instant::now();
        loop {
            let st = status_with(&s, &twin_base, &t0).await;
            if st == 401 {
                break;
            }
            assert_eq!(st, 200);
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the twin still accepts a revoked key's token"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!jwks_kids(&twin_base).await.contains(&k1));
        // The twin signs with the new current key too.
        assert_eq!(status_with(&s, &twin_base, &t1).await, 200);

        // Revoking again changes nothing.
        let (st, again) = call(&s, &t1, M::PUT, &format!("/keys/signing/{k1}/revoke"), None).await;
        assert_eq!(st, 200, "{again}");
        assert_eq!(again["revoked_at"], revoked["revoked_at"]);
        twin.stop().await;
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).unwrap()
}

/// What a customer does with the public wrapping key (`CKM_RSA_AES_KEY_WRAP`).
fn wrap(public_pem: &str, material: &[u8]) -> String {
    let public = PublicEncryptingKey::from_der(&pem_der(public_pem)).unwrap();
    let oaep = OaepPublicEncryptingKey::new(public).unwrap();
    let ephemeral = [42u8; 32];
    let mut rsa = vec![0u8; oaep.ciphertext_size()];
    let rsa = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, &ephemeral, &mut rsa, None)
        .unwrap()
        .to_vec();
    let kek = AesKek::new(&AES_256, &ephemeral).unwrap();
    let mut aes = vec![0u8; material.len() + 16];
    let aes = kek.wrap_with_padding(material, &mut aes).unwrap().to_vec();
    STANDARD.encode([rsa, aes].concat())
}

async fn encryption_keys(s: &TestServer, t: &str) -> Vec<Value> {
    let (st, v) = call(s, t, M::GET, "/keys/encryption?include_totals=true", None).await;
    assert_eq!(st, 200, "{v}");
    no_material(&v);
    let keys = v["keys"].as_array().unwrap().clone();
    assert_eq!(v["total"], json!(keys.len()));
    keys
}

fn active<'a>(keys: &'a [Value], kind: &str) -> Vec<&'a Value> {
    keys.iter()
        .filter(|k| k["type"] == kind && k["state"] == "active")
        .collect()
}

#[tokio::test]
async fn the_encryption_key_hierarchy_rekeys_and_takes_a_customer_root_key() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let keys = encryption_keys(&s, &t).await;
        assert_eq!(keys.len(), 2, "{keys:?}");
        let root = active(&keys, "environment-root-key")[0]["kid"].clone();
        let master = active(&keys, "tenant-master-key")[0].clone();
        assert_eq!(master["parent_kid"], root);
        assert_eq!(keys[0]["kid"], master["kid"], "newest first");

        let (st, _) = call(&s, &t, M::POST, "/keys/encryption/rekey", None).await;
        assert_eq!(st, 204);
        let keys = encryption_keys(&s, &t).await;
        assert_eq!(keys.len(), 3);
        let new_master = active(&keys, "tenant-master-key");
        assert_eq!(new_master.len(), 1);
        assert_ne!(new_master[0]["kid"], master["kid"]);
        assert_eq!(new_master[0]["parent_kid"], root);
        let kid = master["kid"].as_str().unwrap();
        let (st, old) = call(&s, &t, M::GET, &format!("/keys/encryption/{kid}"), None).await;
        assert_eq!((st, old["state"].clone()), (200, json!("destroyed")));

        // Paging.
        let (_, page) = call(&s, &t, M::GET, "/keys/encryption?page=1&per_page=2", None).await;
        assert_eq!(page.as_array().unwrap().len(), 1);

        // Bad and unknown ids.
        let (st, e) = call(&s, &t, M::GET, "/keys/encryption/not-a-uuid", None).await;
        assert_eq!(st, 400, "{e}");
        let unknown = "00000000-0000-4000-8000-000000000000";
        let (st, e) = call(&s, &t, M::GET, &format!("/keys/encryption/{unknown}"), None).await;
        assert_eq!(st, 404, "{e}");
        let (st, _) = call(
            &s,
            &t,
            M::DELETE,
            &format!("/keys/encryption/{unknown}"),
            None,
        )
        .await;
        assert_eq!(st, 400);
        let (st, _) = call(&s, &t, M::DELETE, &format!("/keys/encryption/{kid}"), None).await;
        assert_eq!(
            st, 400,
            "a tenant master key is not the customer's to delete"
        );
        let (st, _) = call(
            &s,
            &t,
            M::POST,
            &format!("/keys/encryption/{unknown}"),
            Some(json!({"wrapped_key": "AAAA"})),
        )
        .await;
        assert_eq!(st, 400);

        // Bring your own root key.
        let (st, e) = call(
            &s,
            &t,
            M::POST,
            "/keys/encryption",
            Some(json!({"type": "tenant-master-key"})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        let (st, cprk) = call(
            &s,
            &t,
            M::POST,
            "/keys/encryption",
            Some(json!({"type": "customer-provided-root-key"})),
        )
        .await;
        assert_eq!(st, 201, "{cprk}");
        assert_eq!(cprk["state"], "pre-activation");
        let ck = cprk["kid"].as_str().unwrap().to_owned();
        let (st, _) = call(
            &s,
            &t,
            M::POST,
            "/keys/encryption",
            Some(json!({"type": "customer-provided-root-key"})),
        )
        .await;
        assert_eq!(st, 409);
        let (st, e) = call(
            &s,
            &t,
            M::POST,
            &format!("/keys/encryption/{ck}"),
            Some(json!({"wrapped_key": "AAAA"})),
        )
        .await;
        assert_eq!(st, 409, "no wrapping key yet: {e}");
        let (st, wk) = call(
            &s,
            &t,
            M::POST,
            &format!("/keys/encryption/{ck}/wrapping-key"),
            None,
        )
        .await;
        assert_eq!(st, 201, "{wk}");
        no_material(&wk);
        assert_eq!(wk["algorithm"], "CKM_RSA_AES_KEY_WRAP");
        let public = wk["public_key"].as_str().unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let (st, e) = call(
            &s,
            &t,
            M::POST,
            &format!("/keys/encryption/{ck}"),
            Some(json!({"wrapped_key": wrap(public, &[1u8; 16])})),
        )
        .await;
        assert_eq!(st, 400, "a 128-bit key is refused: {e}");
        let (st, imported) = call(
            &s,
            &t,
            M::POST,
            &format!("/keys/encryption/{ck}"),
            Some(json!({"wrapped_key": wrap(public, &[1u8; 32])})),
        )
        .await;
        assert_eq!(st, 201, "{imported}");
        no_material(&imported);
        assert_eq!(imported["state"], "active");
        let keys = encryption_keys(&s, &t).await;
        assert!(active(&keys, "environment-root-key").is_empty());
        let m = active(&keys, "tenant-master-key");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["parent_kid"], json!(ck));
        let (st, _) = call(
            &s,
            &t,
            M::POST,
            &format!("/keys/encryption/{ck}/wrapping-key"),
            None,
        )
        .await;
        assert_eq!(st, 409, "imported already");

        // Back to a native root key.
        let (st, _) = call(&s, &t, M::DELETE, &format!("/keys/encryption/{ck}"), None).await;
        assert_eq!(st, 204);
        let keys = encryption_keys(&s, &t).await;
        let roots = active(&keys, "environment-root-key");
        assert_eq!(roots.len(), 1);
        assert_ne!(roots[0]["kid"], root);
        let m = active(&keys, "tenant-master-key");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["parent_kid"], roots[0]["kid"]);
        assert!(active(&keys, "customer-provided-root-key").is_empty());
    }
}

#[tokio::test]
async fn custom_signing_keys_are_a_replaceable_jwks() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (st, e) = call(&s, &t, M::GET, "/keys/custom-signing", None).await;
        assert_eq!(st, 404, "{e}");
        let rsa = json!({"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB"});
        let (st, e) = call(
            &s,
            &t,
            M::PUT,
            "/keys/custom-signing",
            Some(json!({"keys": [{"kty": "RSA", "kid": "k1", "e": "AQAB"}]})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        let (st, e) = call(
            &s,
            &t,
            M::PUT,
            "/keys/custom-signing",
            Some(json!({"keys": [{"kty": "RSA", "n": "sXch", "e": "AQAB", "d": "secret"}]})),
        )
        .await;
        assert_eq!(st, 400, "a private member is refused: {e}");
        let (st, put) = call(
            &s,
            &t,
            M::PUT,
            "/keys/custom-signing",
            Some(json!({"keys": [rsa]})),
        )
        .await;
        assert_eq!(st, 200, "{put}");
        let (st, got) = call(&s, &t, M::GET, "/keys/custom-signing", None).await;
        assert_eq!((st, &got), (200, &put));
        let (st, _) = call(&s, &t, M::DELETE, "/keys/custom-signing", None).await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, M::GET, "/keys/custom-signing", None).await;
        assert_eq!(st, 404);
    }
}
