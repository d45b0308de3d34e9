//! Multi-factor authentication in the hosted login, over plain HTTP form posts (no browser):
//! a user with TOTP cannot log in without the second factor; enrollment at login with the
//! recovery code shown once; the recovery code as the second factor; SSO after MFA; the
//! enrollment-ticket page; the e-mailed code through a real SMTP server.

use aws_lc_rs::hmac;
use base64::Engine as _;
use gatehouse_store::{Db, docs, jobs, tenants};
use gatehouse_testkit::{TestServer, backends, smtp::SmtpSink, spawn_on};
use serde_json::{Value, json};

use crate::login_pages::{
    App, Browser, CALLBACK, Page, app, authorize_url, hidden, login, param, pkce,
};

const T: &str = tenants::DEFAULT_TENANT;

/// Turns factors on and the policy to `all-applications`, as GUARDIAN's operations store them
/// (`crate::mfa::{FACTOR_KIND, POLICIES_KIND}`).
async fn enable(s: &TestServer, factors: &[&str], policy: bool) {
    let db = Db::connect(&s.db.url).await.unwrap();
    let now = gatehouse_core::time::now();
    for f in factors {
        docs::put(
            &db,
            T,
            "guardian_factor",
            f,
            &json!({"enabled": true}),
            &now,
        )
        .await
        .unwrap();
    }
    let p = if policy {
        json!(["all-applications"])
    } else {
        json!([])
    };
    docs::put(&db, T, "guardian_policies", tenants::SETTINGS_ID, &p, &now)
        .await
        .unwrap();
}

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u64, 0u32, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap() as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    out
}

/// RFC 6238 (SHA-1, 6 digits, 30 s) at `offset` steps from now.
pub fn totp(secret_b32: &str, offset: i64) -> String {
    let key = hmac::Key::new(
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        &base32_decode(secret_b32),
    );
    let step = (gatehouse_core::time::unix_now() / 30 + offset) as u64;
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let o = (h[19] & 0x0f) as usize;
    let n = (u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff) % 1_000_000;
    format!("{n:06}")
}

/// The text of the element `id` (`<code id="…">text</code>`).
fn text_of(body: &str, id: &str) -> String {
    let needle = format!("id=\"{id}\">");
    let i = body
        .find(&needle)
        .unwrap_or_else(|| panic!("no #{id} in {body}"))
        + needle.len();
    body[i..].split('<').next().unwrap().trim().to_owned()
}

fn path_of(loc: &str) -> String {
    loc.split('?').next().unwrap().to_owned()
}

/// Posts the page's form (state and csrf from it) with `fields`.
async fn submit(
    s: &TestServer,
    br: &Browser,
    page: &Page,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    let state = hidden(&page.body, "state");
    let csrf = hidden(&page.body, "csrf");
    let mut form = vec![("state", state.as_str()), ("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    br.post(&format!("{}{path}?state={state}", s.url), &form)
        .await
}

async fn exchange(s: &TestServer, a: &App, code: &str, verifier: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &a.client_id),
            ("client_secret", &a.client_secret),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

const USER: &str = "alice@example.com";
const PASSWORD: &str = "Passw0rd!-alice";

/// Password accepted, the MFA step next: its page.
async fn password_then(
    s: &TestServer,
    br: &Browser,
    a: &App,
    extra: &[(&str, &str)],
    path: &str,
) -> Page {
    let p = login(
        s,
        br,
        &authorize_url(s, &a.client_id, extra),
        USER,
        PASSWORD,
    )
    .await;
    assert_eq!(p.status, 302, "{}", p.body);
    let loc = p.location.clone().unwrap();
    assert_eq!(path_of(&loc), path, "{loc}");
    // No session before the second factor.
    assert!(br.cookie("gh_session").is_none());
    let page = br.get(&format!("{}{loc}", s.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

#[tokio::test]
async fn totp_is_required_after_the_password() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        enable(&s, &["otp", "recovery-code"], true).await;
        let (verifier, challenge) = pkce();
        let pk = [
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];

        // 1. No factor yet: the enrollment (QR code as SVG, the secret in text).
        let br = Browser::new();
        let page = password_then(&s, &br, &a, &pk, "/u/mfa-otp-enrollment").await;
        assert!(page.body.contains("<svg"), "{}", page.body);
        assert!(page.body.contains("Secure Your Account"));
        let secret = text_of(&page.body, "secret");
        assert_eq!(base32_decode(&secret).len(), 20, "{secret}");
        // A reload shows the same secret (one enrollment in progress).
        let again = br
            .get(&format!(
                "{}/u/mfa-otp-enrollment?state={}",
                s.url,
                hidden(&page.body, "state")
            ))
            .await;
        assert_eq!(text_of(&again.body, "secret"), secret);
        let page = again;
        // Wrong codes: Auth0's messages, no session.
        let p = submit(
            &s,
            &br,
            &page,
            "/u/mfa-otp-enrollment",
            &[("code", "12345")],
        )
        .await;
        assert_eq!(p.status, 400);
        assert!(
            p.body.contains("OTP Code must have 6 numeric characters"),
            "{}",
            p.body
        );
        let wrong = if totp(&secret, 0) == "000000" {
            "111111"
        } else {
            "000000"
        };
        let p = submit(&s, &br, &p, "/u/mfa-otp-enrollment", &[("code", wrong)]).await;
        assert_eq!(p.status, 400);
        assert!(
            p.body.contains("The code you entered is invalid"),
            "{}",
            p.body
        );
        assert!(br.cookie("gh_session").is_none());
        // A forged CSRF token is refused.
        let forged = br
            .post(
                &format!("{}/u/mfa-otp-enrollment", s.url),
                &[
                    ("state", &hidden(&p.body, "state")),
                    ("csrf", "forged"),
                    ("code", &totp(&secret, 0)),
                ],
            )
            .await;
        assert_eq!(forged.status, 403, "{}", forged.body);
        // The right code: the recovery code, shown once; still no session.
        let p = submit(
            &s,
            &br,
            &p,
            "/u/mfa-otp-enrollment",
            &[("code", &totp(&secret, 0))],
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("Almost There!"));
        let recovery = text_of(&p.body, "recovery-code");
        assert!(recovery.len() >= 20, "{recovery}");
        assert!(br.cookie("gh_session").is_none());
        let reload = br
            .get(&format!(
                "{}/u/mfa-recovery-code-enrollment?state={}",
                s.url,
                hidden(&p.body, "state")
            ))
            .await;
        assert!(!reload.body.contains(&recovery));
        // (The reload's form carries the transaction's current CSRF token.)
        let done = submit(
            &s,
            &br,
            &reload,
            "/u/mfa-recovery-code-enrollment",
            &[("saved", "yes")],
        )
        .await;
        assert_eq!(done.status, 302, "{}", done.body);
        let loc = done.location.unwrap();
        assert!(loc.starts_with(CALLBACK), "{loc}");
        assert!(br.cookie("gh_session").is_some());
        let tokens = exchange(&s, &a, &param(&loc, "code").unwrap(), &verifier).await;
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert!(
            id["amr"].as_array().unwrap().contains(&json!("mfa")),
            "{id}"
        );

        // 2. SSO: a session that passed MFA is not asked again.
        let p = br.get(&authorize_url(&s, &a.client_id, &pk)).await;
        assert_eq!(p.status, 302);
        assert!(p.location.unwrap().starts_with(CALLBACK));
        // prompt=login: password and second factor again.
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[("prompt", "login")]),
            USER,
            PASSWORD,
        )
        .await;
        assert_eq!(path_of(&p.location.unwrap()), "/u/mfa-otp-challenge");

        // 3. Another browser: the password alone gives no code and no session.
        let br2 = Browser::new();
        let page = password_then(&s, &br2, &a, &pk, "/u/mfa-otp-challenge").await;
        assert!(page.body.contains("Verify Your Identity"));
        assert!(page.body.contains("Use a recovery code"));
        let p = br2
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert_eq!(
            param(&p.location.unwrap(), "error").as_deref(),
            Some("login_required")
        );
        // The code already used (its time step) is refused; the next step's is accepted.
        let p = submit(
            &s,
            &br2,
            &page,
            "/u/mfa-otp-challenge",
            &[("code", &totp(&secret, 0))],
        )
        .await;
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("The code you entered is invalid"));
        let p = submit(
            &s,
            &br2,
            &p,
            "/u/mfa-otp-challenge",
            &[("code", &totp(&secret, 1))],
        )
        .await;
        assert_eq!(p.status, 302, "{}", p.body);
        let loc = p.location.unwrap();
        assert!(loc.starts_with(CALLBACK), "{loc}");
        assert!(br2.cookie("gh_session").is_some());

        // 4. The recovery code instead: it logs in once and is replaced by a new one.
        let br3 = Browser::new();
        let page = password_then(&s, &br3, &a, &pk, "/u/mfa-otp-challenge").await;
        let state = hidden(&page.body, "state");
        let page = br3
            .get(&format!(
                "{}/u/mfa-recovery-code-challenge?state={state}",
                s.url
            ))
            .await;
        assert!(
            page.body.contains("Enter your recovery code"),
            "{}",
            page.body
        );
        let p = submit(
            &s,
            &br3,
            &page,
            "/u/mfa-recovery-code-challenge",
            &[("code", "NOTTHECODE0000000000000")],
        )
        .await;
        assert_eq!(p.status, 400);
        assert!(p.body.contains("The code you entered is invalid"));
        let p = submit(
            &s,
            &br3,
            &p,
            "/u/mfa-recovery-code-challenge",
            &[("code", &recovery)],
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.body);
        let new_code = text_of(&p.body, "recovery-code");
        assert_ne!(new_code, recovery);
        let done = submit(
            &s,
            &br3,
            &p,
            "/u/mfa-recovery-code-enrollment",
            &[("saved", "yes")],
        )
        .await;
        assert_eq!(done.status, 302, "{}", done.body);
        assert!(done.location.unwrap().starts_with(CALLBACK));
        // The used code is no more.
        let br4 = Browser::new();
        let page = password_then(&s, &br4, &a, &[], "/u/mfa-otp-challenge").await;
        let state = hidden(&page.body, "state");
        let page = br4
            .get(&format!(
                "{}/u/mfa-recovery-code-challenge?state={state}",
                s.url
            ))
            .await;
        let p = submit(
            &s,
            &br4,
            &page,
            "/u/mfa-recovery-code-challenge",
            &[("code", &recovery)],
        )
        .await;
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(br4.cookie("gh_session").is_none());
    }
}

#[tokio::test]
async fn without_factors_the_password_is_enough() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        // No factor enabled: the password is enough.
        let br = Browser::new();
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[]),
            USER,
            PASSWORD,
        )
        .await;
        assert_eq!(p.status, 302);
        assert!(p.location.unwrap().starts_with(CALLBACK));
    }
}

async fn ticket(s: &TestServer, user_id: &str, expires_in: i64) -> String {
    let db = Db::connect(&s.db.url).await.unwrap();
    let secret = gatehouse_core::secret::random_token();
    let row = jobs::TicketRow {
        token_hash: gatehouse_core::secret::sha256_hex(&secret),
        kind: "guardian_enrollment".into(),
        user_id: user_id.to_owned(),
        body: json!({}),
        expires_at: gatehouse_core::time::unix_now() + expires_in,
        used_at: None,
        created_at: gatehouse_core::time::now(),
    };
    jobs::insert_ticket(&db, T, &row).await.unwrap();
    secret
}

#[tokio::test]
async fn enrollment_ticket_page() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        enable(&s, &["otp"], false).await;
        let (st, users) = gatehouse_testkit::spawn::call(
            &s,
            &t,
            reqwest::Method::GET,
            "/users-by-email?email=alice%40example.com",
            None,
        )
        .await;
        assert_eq!(st, 200);
        let uid = users[0]["user_id"].as_str().unwrap().to_owned();

        // Unknown and expired tickets: an error page, never a 500.
        let br = Browser::new();
        for bad in ["nope".to_owned(), ticket(&s, &uid, -10).await] {
            let p = br
                .get(&format!("{}/guardian/enroll?ticket={bad}", s.url))
                .await;
            assert_eq!(p.status, 400, "{}", p.body);
        }
        let tk = ticket(&s, &uid, 600).await;
        let page = br
            .get(&format!("{}/guardian/enroll?ticket={tk}", s.url))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<svg"));
        let secret = text_of(&page.body, "secret");
        let csrf = hidden(&page.body, "csrf");
        let post = |code: String, csrf: String| {
            let br = br.clone();
            let url = format!("{}/guardian/enroll", s.url);
            let tk = tk.clone();
            async move {
                br.post(
                    &url,
                    &[
                        ("ticket", tk.as_str()),
                        ("csrf", csrf.as_str()),
                        ("code", code.as_str()),
                    ],
                )
                .await
            }
        };
        let p = post(totp(&secret, 0), "forged".into()).await;
        assert_eq!(p.status, 403);
        let p = post("999999x".into(), csrf.clone()).await;
        assert_eq!(p.status, 400);
        assert!(p.body.contains("OTP Code must have 6 numeric characters"));
        let csrf = hidden(&p.body, "csrf");
        let p = post(totp(&secret, 0), csrf).await;
        assert_eq!(p.status, 200, "{}", p.body);
        // Used: the link no longer works.
        let p = br
            .get(&format!("{}/guardian/enroll?ticket={tk}", s.url))
            .await;
        assert_eq!(p.status, 400);

        // Under the policy, the enrolled user is asked for the code at login (no enrollment).
        enable(&s, &[], true).await;
        let br = Browser::new();
        let page = password_then(&s, &br, &a, &[], "/u/mfa-otp-challenge").await;
        let p = submit(
            &s,
            &br,
            &page,
            "/u/mfa-otp-challenge",
            &[("code", &totp(&secret, 1))],
        )
        .await;
        assert_eq!(p.status, 302, "{}", p.body);
        assert!(p.location.unwrap().starts_with(CALLBACK));
    }
}

#[tokio::test]
async fn email_code_through_the_tenant_provider() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let sink = SmtpSink::start().await;
        crate::jobs::provider(&s, &t, &sink).await;
        enable(&s, &["email"], true).await;
        let (_, users) = gatehouse_testkit::spawn::call(
            &s,
            &t,
            reqwest::Method::GET,
            "/users-by-email?email=alice%40example.com",
            None,
        )
        .await;
        let uid = users[0]["user_id"].as_str().unwrap().to_owned();
        let db = Db::connect(&s.db.url).await.unwrap();
        let row = gatehouse_store::mfa::AuthenticatorRow {
            id: "email|dev_testtesttesttest".into(),
            user_id: uid,
            kind: "email".into(),
            confirmed: true,
            name: None,
            secret: None,
            data: json!({"email": USER}),
            created_at: gatehouse_core::time::now(),
            enrolled_at: Some(gatehouse_core::time::now()),
            last_auth_at: None,
            last_step: None,
            failures: 0,
            locked_until: None,
        };
        gatehouse_store::mfa::insert(&db, T, &row).await.unwrap();

        let br = Browser::new();
        let page = password_then(&s, &br, &a, &[], "/u/mfa-email-challenge").await;
        assert!(
            page.body
                .contains("We&#x27;ve sent an email with your code to")
                || page.body.contains("sent an email with your code"),
            "{}",
            page.body
        );
        let mut mails = Vec::new();
        for _ in 0..100 {
            mails = sink.mails().await;
            if !mails.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, vec![USER.to_owned()]);
        let body = mails[0].body();
        let code: String = body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap_or_else(|| panic!("no code in {body}"))
            .to_owned();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let p = submit(&s, &br, &page, "/u/mfa-email-challenge", &[("code", wrong)]).await;
        assert_eq!(p.status, 400);
        assert!(p.body.contains("The code you entered is invalid"));
        assert!(br.cookie("gh_session").is_none());
        let p = submit(&s, &br, &p, "/u/mfa-email-challenge", &[("code", &code)]).await;
        assert_eq!(p.status, 302, "{}", p.body);
        assert!(p.location.unwrap().starts_with(CALLBACK));
        assert!(br.cookie("gh_session").is_some());
    }
}
