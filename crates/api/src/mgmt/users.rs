//! Tag `users` (create, read, list, update, delete, link and unlink identities),
//! `users-by-email` and `DELETE /connections/{id}/users`; `user-blocks` (blocks.rs), a user's
//! sessions, refresh tokens and revoke-access (sessions.rs), connected accounts and federated
//! token sets (federated.rs).
//!
//! A user is stored as typed columns + `body` + identities (see `gatehouse_store::users`); the
//! API object is rebuilt from them in Auth0's key order: a new user's keys alphabetically with
//! `app_metadata` last, keys added later after the existing ones (as Auth0's store appends them).
//! No e-mail is sent (`verify_email` is accepted and has no effect yet).

pub mod blocks;
pub mod federated;
pub mod mfa;
pub mod password;
pub mod sessions;

use std::collections::HashMap;

use md5::{Digest, Md5};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Db, Exec, atomically,
    connections::{self, ConnectionRow},
    db::is_unique_violation,
    user_search::{self, SearchRequest},
    users::{self, IdentityRow, UserKey, UserRow},
};

use crate::spine::{Ctx, Input, Registry, Reply, page::project};
use password::Policy;

pub fn register(reg: &mut Registry) {
    reg.add(Op::PostUsers, post_users);
    reg.add(Op::GetUsers, get_users);
    reg.add(Op::GetUsersById, get_users_by_id);
    reg.add(Op::PatchUsersById, patch_users_by_id);
    reg.allow_null_unset(Op::PatchUsersById);
    reg.add(Op::DeleteUsersById, delete_users_by_id);
    reg.add(Op::PostIdentities, post_identities);
    reg.add(Op::DeleteUserIdentityByUserId, delete_user_identity);
    reg.add(Op::GetUsersByEmail, get_users_by_email);
    blocks::register(reg);
    sessions::register(reg);
    federated::register(reg);
    mfa::register(reg);
    reg.add(Op::DeleteUsersByEmail, delete_connection_user_by_email);
}

// ---- errors -------------------------------------------------------------------------------

pub(crate) fn user_not_found() -> Error {
    Error::not_found("inexistent_user", "The user does not exist.")
}

fn user_exists() -> Error {
    Error::conflict("auth0_idp_error", "The user already exists.")
}

pub(crate) fn connection_not_found() -> Error {
    Error::bad_request("inexistent_connection", "The connection does not exist.")
}

fn missing(property: &str) -> Error {
    Error::bad_body(format!(
        "Payload validation error: 'Missing required property: {property}'."
    ))
}

/// Maps a write's unique violation to Auth0's 409.
fn conflict_or(e: anyhow::Error) -> Error {
    if is_unique_violation(&e) {
        user_exists()
    } else {
        e.into()
    }
}

/// The `*current_user*` scopes act only on the token's own user: without one of `full`, the
/// user acted on must be the token's subject.
fn check_self(ctx: &Ctx, user_id: &str, full: &[&str]) -> Result<(), Error> {
    if full.iter().any(|s| ctx.has_scope(s)) || ctx.principal.sub == user_id {
        Ok(())
    } else {
        Err(Error::InsufficientScope(
            "User to be acted on does not match subject in bearer token.".into(),
        ))
    }
}

// ---- connections --------------------------------------------------------------------------

/// What a connection lets the API do with users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `auth0`: the Auth0 user store, with passwords.
    Database,
    /// `email` / `sms`: passwordless.
    Email,
    Sms,
    /// Social, enterprise, …: users come from their provider, not from this API.
    Federated,
}

pub(crate) fn kind(c: &ConnectionRow) -> Kind {
    match c.strategy.as_str() {
        "auth0" => Kind::Database,
        "email" => Kind::Email,
        "sms" => Kind::Sms,
        _ => Kind::Federated,
    }
}

pub(crate) fn provider_of(k: Kind, strategy: &str) -> String {
    match k {
        Kind::Database => "auth0".into(),
        Kind::Email => "email".into(),
        Kind::Sms => "sms".into(),
        Kind::Federated => strategy.into(),
    }
}

/// `signup.status` of an attribute in the connection's `attributes` (flexible identifiers).
fn attr<'a>(c: &'a ConnectionRow, name: &str) -> Option<&'a Value> {
    c.options().get("attributes").and_then(|a| a.get(name))
}

fn attr_required(c: &ConnectionRow, name: &str) -> bool {
    attr(c, name)
        .and_then(|a| a.get("signup"))
        .and_then(|s| s.get("status"))
        .and_then(Value::as_str)
        == Some("required")
}

fn has_attributes(c: &ConnectionRow) -> bool {
    c.options().get("attributes").is_some_and(Value::is_object)
}

fn requires_username(c: &ConnectionRow) -> bool {
    c.options()
        .get("requires_username")
        .and_then(Value::as_bool)
        == Some(true)
}

/// Whether a database connection takes usernames at all.
fn allows_username(c: &ConnectionRow) -> bool {
    requires_username(c) || attr(c, "username").is_some()
}

fn username_required(c: &ConnectionRow) -> bool {
    if has_attributes(c) {
        attr_required(c, "username")
    } else {
        requires_username(c)
    }
}

fn email_required(c: &ConnectionRow) -> bool {
    !has_attributes(c) || attr_required(c, "email")
}

fn email_unique(c: &ConnectionRow) -> bool {
    attr(c, "email")
        .and_then(|a| a.get("unique"))
        .and_then(Value::as_bool)
        != Some(false)
}

/// Length limits of usernames: the attribute's validation, the classic `validation.username`,
/// or Auth0's schema limits.
fn username_limits(c: &ConnectionRow) -> (usize, usize) {
    let o = c.options();
    let (min, max) = if let Some(v) = attr(c, "username").and_then(|a| a.get("validation")) {
        (v.get("min_length"), v.get("max_length"))
    } else if let Some(v) = o.get("validation").and_then(|v| v.get("username")) {
        (v.get("min"), v.get("max"))
    } else {
        (None, None)
    };
    let n = |v: Option<&Value>, d: usize| v.and_then(Value::as_u64).map_or(d, |n| n as usize);
    (n(min, 1), n(max, 128))
}

/// The unique keys of a user's identity in its connection.
pub(crate) fn keys_for(c: &ConnectionRow, u: &Creds) -> Vec<UserKey> {
    let mut keys = Vec::new();
    let k = kind(c);
    if let Some(e) = &u.email
        && (k != Kind::Database || email_unique(c))
    {
        keys.push(("email", e.clone()));
    }
    if let Some(n) = &u.username {
        keys.push(("username", n.clone()));
    }
    if let Some(p) = &u.phone_number
        && (k == Kind::Sms || attr(c, "phone_number").is_some())
    {
        keys.push(("phone_number", p.clone()));
    }
    keys
}

// ---- profile and rendering ----------------------------------------------------------------

/// The identifying fields of one identity, the ones a connection's rules look at: the user's
/// own for its primary identity, the `profileData` of a linked one.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Creds {
    email: Option<String>,
    email_verified: bool,
    username: Option<String>,
    phone_number: Option<String>,
    phone_verified: bool,
}

impl Creds {
    pub(crate) fn of_user(u: &UserRow) -> Self {
        Self {
            email: u.email.clone(),
            email_verified: u.email_verified,
            username: u.username.clone(),
            phone_number: u.phone_number.clone(),
            phone_verified: u.phone_verified,
        }
    }

    fn to_user(&self, u: &mut UserRow) {
        u.email.clone_from(&self.email);
        u.email_verified = self.email_verified;
        u.username.clone_from(&self.username);
        u.phone_number.clone_from(&self.phone_number);
        u.phone_verified = self.phone_verified;
    }

    fn of_profile(p: Option<&Value>) -> Self {
        let s = |k: &str| {
            p.and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let b = |k: &str| p.and_then(|p| p.get(k)).and_then(Value::as_bool) == Some(true);
        Self {
            email: s("email"),
            email_verified: b("email_verified"),
            username: s("username"),
            phone_number: s("phone_number"),
            phone_verified: b("phone_verified"),
        }
    }

    fn to_profile(&self, p: &mut Map<String, Value>) {
        for (k, v) in [
            ("email", &self.email),
            ("username", &self.username),
            ("phone_number", &self.phone_number),
        ] {
            match v {
                Some(v) => {
                    p.insert(k.into(), json!(v));
                }
                None => {
                    p.shift_remove(k);
                }
            }
        }
        for (flag, value, present) in [
            ("email_verified", self.email_verified, self.email.is_some()),
            (
                "phone_verified",
                self.phone_verified,
                self.phone_number.is_some(),
            ),
        ] {
            if present {
                p.insert(flag.into(), json!(value));
            } else {
                p.shift_remove(flag);
            }
        }
    }

    fn same_keys(&self, o: &Self) -> bool {
        self.email == o.email && self.username == o.username && self.phone_number == o.phone_number
    }
}

/// What JavaScript's `encodeURIComponent` escapes.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `https://s.gravatar.com/avatar/<md5 of the e-mail>?s=480&r=pg&d=<Auth0's initials avatar>`,
/// as Auth0 defaults `picture`; the initials are the first letters of the first two words of the
/// name, or its first two letters.
pub(crate) fn default_picture(email: Option<&str>, name: &str) -> String {
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let initials: String = match words.as_slice() {
        [a, b, ..] => a.chars().take(1).chain(b.chars().take(1)).collect(),
        _ => name.chars().take(2).collect(),
    };
    let initials = initials.to_lowercase();
    let avatar = format!("https://cdn.auth0.com/avatars/{initials}.png");
    match email {
        Some(e) => format!(
            "https://s.gravatar.com/avatar/{}?s=480&r=pg&d={}",
            hex::encode(Md5::digest(e.trim().to_lowercase().as_bytes())),
            percent_encoding::utf8_percent_encode(&avatar, URI_COMPONENT)
        ),
        None => avatar,
    }
}

pub(crate) fn identity_json(i: &IdentityRow) -> Value {
    let mut m = Map::new();
    m.insert("connection".into(), json!(i.connection));
    m.insert("user_id".into(), json!(i.identity_user_id));
    m.insert("provider".into(), json!(i.provider));
    m.insert("isSocial".into(), json!(i.is_social));
    if !i.is_primary
        && let Some(p) = &i.profile_data
    {
        m.insert("profileData".into(), p.clone());
    }
    Value::Object(m)
}

/// Auth0's order for keys it has no recorded position for: alphabetical, `app_metadata` last.
fn canonical_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    (a == "app_metadata", a).cmp(&(b == "app_metadata", b))
}

/// The API object of a user.
pub(crate) fn render(u: &UserRow, identities: &[IdentityRow]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("created_at".into(), json!(u.created_at));
    if let Some(e) = &u.email {
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), json!(u.email_verified));
    }
    if let Some(p) = &u.phone_number {
        m.insert("phone_number".into(), json!(p));
        m.insert("phone_verified".into(), json!(u.phone_verified));
    }
    for (k, v) in [
        ("username", &u.username),
        ("name", &u.name),
        ("nickname", &u.nickname),
        ("given_name", &u.given_name),
        ("family_name", &u.family_name),
        ("last_login", &u.last_login),
        ("last_ip", &u.last_ip),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    let listed = |k: &str| {
        u.key_order
            .as_ref()
            .is_some_and(|o| o.iter().any(|x| x == k))
    };
    if u.blocked || listed("blocked") {
        m.insert("blocked".into(), json!(u.blocked));
    }
    if u.logins_count > 0 || u.last_login.is_some() {
        m.insert("logins_count".into(), json!(u.logins_count));
    }
    m.insert(
        "identities".into(),
        Value::Array(identities.iter().map(identity_json).collect()),
    );
    for (k, v) in &u.body {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m.insert("updated_at".into(), json!(u.updated_at));
    m.insert("user_id".into(), json!(u.user_id));
    if let Some(v) = &u.user_metadata {
        m.insert("user_metadata".into(), v.clone());
    }
    if let Some(v) = &u.app_metadata {
        m.insert("app_metadata".into(), v.clone());
    }
    // Known positions first, then the others in Auth0's order for new keys.
    let mut out = Map::with_capacity(m.len());
    for k in u.key_order.iter().flatten() {
        if let Some(v) = m.shift_remove(k) {
            out.insert(k.clone(), v);
        }
    }
    let mut rest: Vec<(String, Value)> = m.into_iter().collect();
    rest.sort_by(|a, b| canonical_cmp(&a.0, &b.0));
    out.extend(rest);
    out
}

/// Records the order `render` shows now, so that keys added later go after these.
pub(crate) fn pin_key_order(u: &mut UserRow, identities: &[IdentityRow]) {
    u.key_order = Some(render(u, identities).keys().cloned().collect());
}

/// Loads and renders users in the order of `ids` (two queries).
async fn load_rendered(db: &Db, tenant: &str, ids: &[String]) -> Result<Vec<Value>, Error> {
    let rows = users::find_many(db, tenant, ids).await?;
    let mut idents: HashMap<String, Vec<IdentityRow>> = HashMap::new();
    for i in users::identities_of(db, tenant, ids).await? {
        idents.entry(i.user_id.clone()).or_default().push(i);
    }
    let mut by_id: HashMap<String, UserRow> =
        rows.into_iter().map(|u| (u.user_id.clone(), u)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|u| {
            let i = idents.get(&u.user_id).map_or(&[][..], Vec::as_slice);
            Value::Object(render(&u, i))
        })
        .collect())
}

async fn load(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
) -> Result<(UserRow, Vec<IdentityRow>), Error> {
    let u = users::find(x, tenant, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let i = users::identities(x, tenant, user_id).await?;
    Ok((u, i))
}

// ---- passwords ----------------------------------------------------------------------------

async fn hash_password(pw: &str) -> Result<String, Error> {
    let secret = SecretString::from(pw.to_owned());
    tokio::task::spawn_blocking(move || gatehouse_core::password::hash(&secret))
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .map_err(Error::Internal)
}

/// Whether `pw` matches any of `hashes` (bcrypt on the blocking pool).
pub(crate) async fn matches_any(pw: &str, hashes: Vec<String>) -> Result<bool, Error> {
    let secret = SecretString::from(pw.to_owned());
    tokio::task::spawn_blocking(move || {
        hashes
            .iter()
            .any(|h| gatehouse_core::password::verify(&secret, h))
    })
    .await
    .map_err(|e| Error::Internal(e.into()))
}

/// The personal data a password may not contain: names, username, e-mail local part.
fn personal_info(u: &UserRow) -> Vec<String> {
    let mut v: Vec<String> = [
        &u.name,
        &u.nickname,
        &u.username,
        &u.given_name,
        &u.family_name,
        &u.phone_number,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    if let Some(e) = &u.email {
        v.push(e.split('@').next().unwrap_or_default().to_owned());
    }
    if let Some(m) = &u.user_metadata {
        for k in ["name", "first", "last"] {
            if let Some(s) = m.get(k).and_then(Value::as_str) {
                v.push(s.to_owned());
            }
        }
    }
    v
}

pub(crate) fn check_password(policy: &Policy, pw: &str, u: &UserRow) -> Result<(), Error> {
    let info = personal_info(u);
    let refs: Vec<&str> = info.iter().map(String::as_str).collect();
    policy.check(pw, &refs)
}

// ---- helpers on the request ---------------------------------------------------------------

fn str_field(req: &Map<String, Value>, k: &str) -> Option<String> {
    req.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn bool_field(req: &Map<String, Value>, k: &str) -> Option<bool> {
    req.get(k).and_then(Value::as_bool)
}

/// A plausible e-mail address (what Auth0's `format: email` accepts in practice).
pub(crate) fn check_email(email: &str) -> Result<(), Error> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::bad_body(format!(
            "Payload validation error: 'Object didn't pass validation for format email: {email}' on property email (The user's email)."
        )))
    }
}

fn check_username(c: &ConnectionRow, username: &str) -> Result<(), Error> {
    let (min, max) = username_limits(c);
    let n = username.chars().count();
    if n < min || n > max {
        return Err(Error::bad_body(format!(
            "Payload validation error: 'The username must have between {min} and {max} characters'."
        )));
    }
    Ok(())
}

// ---- POST /users --------------------------------------------------------------------------

async fn post_users(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (_, shown) = create_user(&ctx, &req).await?;
    Ok(Reply::json(shown))
}

/// Creates a user from a `POST /users` body: the one set of rules (connection kind, required
/// identifiers, password policy, unique keys) and the `user.created` event, shared by
/// `POST /users` and the Authentication API's sign-up. The user and what the API shows of it.
pub(crate) async fn create_user(
    ctx: &Ctx,
    req: &Map<String, Value>,
) -> Result<(UserRow, Value), Error> {
    let req = req.clone();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let conn_name = str_field(&req, "connection").ok_or_else(|| missing("connection"))?;
    let conn = connections::find_by_name(db, tenant, &conn_name)
        .await?
        .ok_or_else(connection_not_found)?;
    let k = kind(&conn);
    if k == Kind::Federated {
        return Err(Error::bad_body(
            "Connection does not support user creation through the API. It must either be a database or passwordless connection.",
        ));
    }
    let email = str_field(&req, "email").map(|e| e.trim().to_lowercase());
    let username = str_field(&req, "username");
    let phone_number = str_field(&req, "phone_number");
    let password = str_field(&req, "password");
    if let Some(e) = &email {
        check_email(e)?;
    }
    match k {
        Kind::Database => {
            if email.is_none() && email_required(&conn) {
                return Err(missing("email"));
            }
            match &username {
                Some(_) if !allows_username(&conn) => {
                    return Err(Error::bad_body(
                        "Cannot set username for connection without requires_username",
                    ));
                }
                Some(n) => check_username(&conn, n)?,
                None if username_required(&conn) => return Err(missing("username")),
                None => {}
            }
            if phone_number.is_none() && attr_required(&conn, "phone_number") {
                return Err(missing("phone_number"));
            }
            if password.is_none() {
                return Err(missing("password"));
            }
        }
        Kind::Email => {
            if email.is_none() {
                return Err(missing("email"));
            }
        }
        Kind::Sms => {
            if phone_number.is_none() {
                return Err(missing("phone_number"));
            }
        }
        Kind::Federated => {}
    }
    if k != Kind::Database && username.is_some() {
        return Err(Error::bad_body(
            "Cannot set username for connection without requires_username",
        ));
    }

    let provider = provider_of(k, &conn.strategy);
    let identity_user_id = str_field(&req, "user_id").unwrap_or_else(ids::hex24);
    let user_id = format!("{provider}|{identity_user_id}");
    let name = str_field(&req, "name")
        .or_else(|| email.clone())
        .or_else(|| username.clone())
        .or_else(|| phone_number.clone());
    let nickname = str_field(&req, "nickname")
        .or_else(|| {
            email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(str::to_owned)
        })
        .or_else(|| username.clone())
        .or_else(|| phone_number.clone());
    let picture = str_field(&req, "picture")
        .unwrap_or_else(|| default_picture(email.as_deref(), name.as_deref().unwrap_or_default()));
    let app_metadata = req
        .get("app_metadata")
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .cloned();
    let user_metadata = req.get("user_metadata").filter(|v| v.is_object()).cloned();
    let now = time::now();
    let mut body = Map::new();
    body.insert("picture".into(), json!(picture));
    let mut user = UserRow {
        user_id: user_id.clone(),
        connection_id: conn.id.clone(),
        connection: conn.name.clone(),
        provider: provider.clone(),
        email,
        email_verified: bool_field(&req, "email_verified").unwrap_or(false),
        username,
        phone_number,
        phone_verified: bool_field(&req, "phone_verified").unwrap_or(false),
        name,
        nickname,
        given_name: str_field(&req, "given_name"),
        family_name: str_field(&req, "family_name"),
        blocked: bool_field(&req, "blocked").unwrap_or(false),
        app_metadata,
        user_metadata,
        body,
        created_at: now.clone(),
        updated_at: now,
        ..UserRow::default()
    };
    let password_hash = match (&password, k) {
        (Some(pw), Kind::Database) => {
            check_password(&Policy::from_options(conn.options()), pw, &user)?;
            Some(hash_password(pw).await?)
        }
        _ => None,
    };
    let identity = IdentityRow {
        connection_id: conn.id.clone(),
        identity_user_id,
        user_id: user_id.clone(),
        connection: conn.name.clone(),
        provider,
        is_social: false,
        is_primary: true,
        password_hash,
        profile_data: None,
        password_history: Vec::new(),
    };
    let identities = vec![identity];
    if req.contains_key("blocked") {
        user.key_order = Some(vec!["blocked".into()]);
    }
    pin_key_order(&mut user, &identities);
    let keys = keys_for(&conn, &Creds::of_user(&user));
    let tx = db.begin().await?;
    users::insert_user(&tx, tenant, &user, &identities[0], &keys)
        .await
        .map_err(conflict_or)?;
    let shown = Value::Object(render(&user, &identities));
    crate::events::emit(ctx, &tx, "user.created", shown.clone()).await?;
    tx.commit().await?;
    Ok((user, shown))
}

// ---- GET /users ---------------------------------------------------------------------------

async fn get_users(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    user_search::check_search_engine(q.get("search_engine"))
        .map_err(|e| Error::InvalidQueryString(e.message.into()))?;
    // `search` refuses pages past Auth0's first 1000 results.
    let page = q.i64("page").unwrap_or(0).max(0);
    let per_page = q.i64("per_page").unwrap_or(50).clamp(0, 100);
    let offset = page.saturating_mul(per_page);
    let include_totals = q.bool("include_totals").unwrap_or(false);
    let req = SearchRequest {
        q: q.get("q").filter(|s| !s.trim().is_empty()),
        connection: q.get("connection"),
        sort: q.get("sort"),
        offset,
        limit: per_page,
        include_totals,
    };
    let found = match user_search::search(ctx.db(), ctx.tenant_id(), &req).await? {
        Ok(r) => r,
        Err(e) => return Err(Error::InvalidQueryString(e.message.into())),
    };
    let items: Vec<Value> = load_rendered(ctx.db(), ctx.tenant_id(), &found.user_ids)
        .await?
        .into_iter()
        .map(|u| project(u, q))
        .collect();
    if !include_totals {
        return Ok(Reply::json(Value::Array(items)));
    }
    let len = items.len();
    let mut env = Map::new();
    env.insert("start".into(), json!(offset));
    env.insert("limit".into(), json!(per_page));
    env.insert("length".into(), json!(len));
    env.insert("users".into(), Value::Array(items));
    env.insert("total".into(), json!(found.total.unwrap_or(len as i64)));
    Ok(Reply::json(Value::Object(env)))
}

// ---- GET / DELETE /users/{id} -------------------------------------------------------------

async fn get_users_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    check_self(
        &ctx,
        input.path("id"),
        &["read:users", "read:user_idp_tokens"],
    )?;
    let (u, i) = load(ctx.db(), ctx.tenant_id(), input.path("id")).await?;
    Ok(Reply::json(project(
        Value::Object(render(&u, &i)),
        &input.query,
    )))
}

/// 204 whether or not the user existed, as Auth0 answers.
async fn delete_users_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    check_self(&ctx, input.path("id"), &["delete:users"])?;
    let (tx, id) = (ctx.db().begin().await?, input.path("id"));
    // What the event shows: the user as it was (read only when a stream wants it).
    let gone = match crate::events::wanted(&ctx, &tx, "user.deleted").await? {
        true => load(&tx, ctx.tenant_id(), id).await.ok(),
        false => None,
    };
    if users::delete_user(&tx, ctx.tenant_id(), id).await?
        && let Some((u, i)) = gone
    {
        let mut shown = render(&u, &i);
        shown.insert("deleted_at".into(), json!(gatehouse_core::time::now()));
        crate::events::emit(&ctx, &tx, "user.deleted", Value::Object(shown)).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}

// ---- PATCH /users/{id} --------------------------------------------------------------------

/// The top-level keys PATCH accepts (Auth0's list, plus the request-only flags).
const PATCHABLE: &[&str] = &[
    "app_metadata",
    "blocked",
    "email",
    "email_verified",
    "family_name",
    "given_name",
    "name",
    "nickname",
    "password",
    "phone_number",
    "phone_verified",
    "picture",
    "username",
    "user_metadata",
    "verify_email",
    "verify_phone_number",
    "connection",
    "client_id",
];

/// Merges a metadata PATCH: first-level keys replace, `null` removes one; an empty object (or
/// `null`) clears it all.
pub(crate) fn merge_metadata(current: Option<Value>, patch: &Value) -> Option<Value> {
    match patch {
        Value::Object(p) if !p.is_empty() => {
            let mut m = match current {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    m.shift_remove(k);
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
            Some(Value::Object(m))
        }
        _ => None,
    }
}

/// The profile attributes a linked identity's connection may not change.
const PROFILE_ATTRIBUTES: &[&str] = &["family_name", "given_name", "name", "nickname", "picture"];

async fn patch_users_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    if let Some(k) = req.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
        return Err(Error::bad_body(format!(
            "Payload validation error: 'Additional properties not allowed: {k}'."
        )));
    }
    let user_id = input.path("id");
    if !ctx.has_scope("update:users") {
        // Narrower scopes: only app_metadata (update:users_app_metadata), or the token's own
        // user's user_metadata (update:current_user_metadata).
        let allowed = |k: &str| {
            (k == "app_metadata" && ctx.has_scope("update:users_app_metadata"))
                || (k == "user_metadata"
                    && ctx.has_scope("update:current_user_metadata")
                    && ctx.principal.sub == user_id)
        };
        if let Some(k) = req.keys().find(|k| !allowed(k)) {
            return Err(Error::InsufficientScope(
                format!("Some fields cannot be updated with the permissions granted by the bearer token scopes: {k}").into(),
            ));
        }
    }
    // The new password's hash depends on nothing stored: it is made before the transaction, so
    // that the user's lock is not held through a bcrypt round.
    let new_hash = match req.get("password").and_then(Value::as_str) {
        Some(pw) => Some(hash_password(pw).await?),
        None => None,
    };
    let (req, new_hash) = (&req, new_hash.as_deref());
    let (u, identities) =
        atomically(|| patch_user(&ctx, db, tenant, user_id, req, new_hash)).await?;
    Ok(Reply::json(Value::Object(render(&u, &identities))))
}

/// One attempt at a user PATCH: the user is read locked, changed and written in one transaction.
async fn patch_user(
    ctx: &Ctx,
    db: &Db,
    tenant: &str,
    user_id: &str,
    req: &Map<String, Value>,
    new_hash: Option<&str>,
) -> Result<(UserRow, Vec<IdentityRow>), Error> {
    let tx = db.begin().await?;
    let mut locked = users::find_for_update(&tx, tenant, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let u: &mut UserRow = &mut locked;
    let mut identities = users::identities(&tx, tenant, user_id).await?;
    // The identity whose credentials change: the primary one unless `connection` names a
    // linked identity.
    let target = match str_field(req, "connection") {
        Some(name) => {
            let conn = connections::find_by_name(&tx, tenant, &name)
                .await?
                .ok_or_else(connection_not_found)?;
            identities
                .iter()
                .find(|i| i.connection_id == conn.id)
                .cloned()
                .ok_or_else(|| Error::bad_body("Connection is not supported for this operation."))?
        }
        None => identities
            .iter()
            .find(|i| i.is_primary)
            .cloned()
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("user {user_id} has no primary identity"))
            })?,
    };
    let secondary = !target.is_primary;
    if secondary && PROFILE_ATTRIBUTES.iter().any(|a| req.contains_key(*a)) {
        return Err(Error::bad_body(
            "The following user attributes cannot be updated: family_name, given_name, name, nickname, picture. The specified connection belongs to a secondary identity.",
        ));
    }
    let conn = connections::find(&tx, tenant, &target.connection_id)
        .await?
        .ok_or_else(connection_not_found)?;
    let k = kind(&conn);
    let has = |f: &str| req.get(f).is_some_and(|v| !v.is_null());
    for (a, b) in [
        ("password", "email"),
        ("password", "email_verified"),
        ("username", "email"),
        ("username", "email_verified"),
        ("username", "password"),
    ] {
        if k == Kind::Database && has(a) && has(b) {
            return Err(Error::bad_body(format!(
                "Cannot update {a} and {b} simultaneously"
            )));
        }
    }
    if k == Kind::Federated {
        if req.contains_key("email") {
            return Err(Error::bad_body("Cannot update email for non-database user"));
        }
        if req.contains_key("password") {
            return Err(Error::bad_body(
                "Cannot update password for non-database user",
            ));
        }
    }
    let mut creds = if secondary {
        Creds::of_profile(target.profile_data.as_ref())
    } else {
        Creds::of_user(u)
    };
    let old_creds = creds.clone();

    // Identifiers.
    if let Some(v) = req.get("email") {
        let email = v.as_str().map(|e| e.trim().to_lowercase());
        if let Some(e) = &email {
            check_email(e)?;
        }
        if email.is_none() && (k == Kind::Email || (k == Kind::Database && email_required(&conn))) {
            return Err(Error::bad_body("Cannot remove the email of this user"));
        }
        if email != creds.email {
            creds.email = email;
            creds.email_verified = false;
        }
    }
    if let Some(v) = req.get("username") {
        match v.as_str() {
            Some(_) if k != Kind::Database || !allows_username(&conn) => {
                return Err(Error::bad_body(
                    "Cannot set username for connection without requires_username",
                ));
            }
            Some(n) => {
                check_username(&conn, n)?;
                creds.username = Some(n.to_owned());
            }
            None if username_required(&conn) => {
                return Err(Error::bad_body("Cannot remove the username of this user"));
            }
            None => creds.username = None,
        }
    }
    if let Some(v) = req.get("phone_number") {
        if v.is_null() && k == Kind::Sms {
            return Err(Error::bad_body(
                "Cannot remove the phone number of this user",
            ));
        }
        let p = v.as_str().map(str::to_owned);
        if p != creds.phone_number {
            creds.phone_number = p;
            creds.phone_verified = false;
        }
    }
    if let Some(b) = bool_field(req, "email_verified") {
        creds.email_verified = b;
    }
    if let Some(b) = bool_field(req, "phone_verified") {
        creds.phone_verified = b;
    }
    if let Some(b) = bool_field(req, "blocked") {
        u.blocked = b;
        if let Some(order) = u.key_order.as_mut()
            && !order.iter().any(|x| x == "blocked")
        {
            order.push("blocked".into());
        }
    }
    // Profile attributes: a value sets, `null` unsets.
    for (f, slot) in [
        ("name", &mut u.name),
        ("nickname", &mut u.nickname),
        ("given_name", &mut u.given_name),
        ("family_name", &mut u.family_name),
    ] {
        if let Some(v) = req.get(f) {
            *slot = v.as_str().map(str::to_owned);
        }
    }
    if let Some(v) = req.get("picture") {
        match v.as_str() {
            Some(p) => {
                u.body.insert("picture".into(), json!(p));
            }
            None => {
                u.body.shift_remove("picture");
            }
        }
    }
    let metadata_changed = req.contains_key("user_metadata") || req.contains_key("app_metadata");
    if let Some(p) = req.get("user_metadata") {
        // An emptied user_metadata stays (as `{}`); an emptied app_metadata goes.
        u.user_metadata = Some(merge_metadata(u.user_metadata.take(), p).unwrap_or(json!({})));
    }
    if let Some(p) = req.get("app_metadata") {
        u.app_metadata = merge_metadata(u.app_metadata.take(), p)
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    }

    // Password, against the target connection's policy.
    let mut new_password: Option<(String, Vec<String>)> = None;
    if let Some(v) = req.get("password") {
        let Some(pw) = v.as_str() else {
            return Err(Error::bad_body("Cannot remove the password of this user"));
        };
        if k != Kind::Database {
            return Err(Error::bad_body(
                "Cannot update password for non-database user",
            ));
        }
        let policy = Policy::from_options(conn.options());
        let mut view = u.clone();
        creds.to_user(&mut view);
        check_password(&policy, pw, &view)?;
        let mut history = target.password_history.clone();
        if policy.history_size > 0 {
            let recent: Vec<String> = target
                .password_hash
                .iter()
                .cloned()
                .chain(history.iter().take(policy.history_size).cloned())
                .collect();
            if matches_any(pw, recent).await? {
                return Err(Error::bad_body(
                    "PasswordHistoryError: Password has previously been used",
                ));
            }
            if let Some(h) = &target.password_hash {
                history.insert(0, h.clone());
            }
            history.truncate(policy.history_size);
        } else {
            history.clear();
        }
        let hash = new_hash.ok_or_else(|| anyhow::anyhow!("the new password was not hashed"))?;
        new_password = Some((hash.to_owned(), history));
    }

    u.updated_at = time::now();
    let mut new_profile = None;
    if secondary {
        if creds != old_creds {
            let mut p = match &target.profile_data {
                Some(Value::Object(o)) => o.clone(),
                _ => Map::new(),
            };
            creds.to_profile(&mut p);
            let p = Value::Object(p);
            if let Some(i) = identities
                .iter_mut()
                .find(|i| i.connection_id == target.connection_id)
            {
                i.profile_data = Some(p.clone());
            }
            new_profile = Some(p);
        }
    } else {
        creds.to_user(u);
    }
    if !creds.same_keys(&old_creds) {
        users::replace_keys(&tx, tenant, &target, &keys_for(&conn, &creds))
            .await
            .map_err(conflict_or)?;
    }
    if let Some(p) = &new_profile {
        users::set_profile_data(&tx, tenant, &target, p).await?;
    }
    if let Some((hash, history)) = &new_password {
        users::set_password(&tx, tenant, &target, hash, history).await?;
    }
    if metadata_changed {
        users::write_attrs(
            &tx,
            tenant,
            &u.user_id,
            u.app_metadata.as_ref(),
            u.user_metadata.as_ref(),
        )
        .await?;
    }
    pin_key_order(u, &identities);
    if !users::update_user(&tx, tenant, &locked).await? {
        return Err(user_not_found());
    }
    let shown = Value::Object(render(&locked, &identities));
    crate::events::emit(ctx, &tx, "user.updated", shown).await?;
    tx.commit().await?;
    Ok((locked.into_inner(), identities))
}

// ---- identities ---------------------------------------------------------------------------

/// What a linked identity keeps of its former user's profile (`profileData`).
fn profile_data(u: &UserRow) -> Value {
    let mut m = Map::new();
    if let Some(e) = &u.email {
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), json!(u.email_verified));
    }
    for (k, v) in [
        ("name", &u.name),
        ("username", &u.username),
        ("given_name", &u.given_name),
        ("family_name", &u.family_name),
        ("nickname", &u.nickname),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(p) = &u.phone_number {
        m.insert("phone_number".into(), json!(p));
        m.insert("phone_verified".into(), json!(u.phone_verified));
    }
    for (k, v) in &u.body {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(m)
}

async fn post_identities(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    check_self(&ctx, input.path("id"), &["update:users"])?;
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    if req.contains_key("link_with") {
        return Err(Error::bad_body(
            "Invalid token (link_with): user tokens cannot be verified by this server yet; link with provider and user_id",
        ));
    }
    let provider = str_field(&req, "provider").ok_or_else(|| missing("provider"))?;
    let raw_id = match req.get("user_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(missing("user_id")),
    };
    let secondary_id = raw_id
        .strip_prefix(&format!("{provider}|"))
        .unwrap_or(&raw_id)
        .to_owned();
    let (primary_id, req) = (input.path("id"), &req);
    let (provider, secondary_id) = (provider.as_str(), secondary_id.as_str());
    let identities = atomically(|| async move {
        let tx = db.begin().await?;
        let mut primary = users::find_for_update(&tx, tenant, primary_id)
            .await?
            .ok_or_else(user_not_found)?;
        let mut candidates = users::find_identities(&tx, tenant, provider, secondary_id).await?;
        if let Some(cid) = str_field(req, "connection_id") {
            candidates.retain(|i| i.connection_id == cid);
        }
        let secondary = match candidates.as_slice() {
            [] => return Err(user_not_found()),
            [one] => one.clone(),
            _ => {
                return Err(Error::bad_body(
                    "There is more than one user with this provider and user_id: give connection_id",
                ));
            }
        };
        if secondary.user_id == primary.user_id {
            return Err(Error::bad_body(
                "Main identity and the new one are the same.",
            ));
        }
        if !secondary.is_primary {
            return Err(Error::bad_body(
                "The secondary account is already linked to another user.",
            ));
        }
        // Both users stay locked until the link commits (a conflicting link in the opposite
        // direction is a deadlock, which `atomically` runs again).
        let secondary_user = users::find_for_update(&tx, tenant, &secondary.user_id)
            .await?
            .ok_or_else(user_not_found)?;
        if users::identities(&tx, tenant, &secondary.user_id).await?.len() > 1 {
            return Err(Error::bad_body(
                "The secondary account has linked accounts of its own: unlink them first.",
            ));
        }
        users::link(
            &tx,
            tenant,
            &primary.user_id,
            &secondary,
            &profile_data(&secondary_user),
        )
        .await?;
        primary.updated_at = time::now();
        users::update_user(&tx, tenant, &primary).await?;
        let identities = users::identities(&tx, tenant, &primary.user_id).await?;
        tx.commit().await?;
        Ok(identities)
    })
    .await?;
    Ok(Reply::json(Value::Array(
        identities.iter().map(identity_json).collect(),
    )))
}

/// A standalone user again, from a linked identity's profile (Auth0 recreates the secondary
/// user on unlink).
fn user_from_identity(i: &IdentityRow, now: &str) -> UserRow {
    let p = i.profile_data.clone().unwrap_or(json!({}));
    let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    let b = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut body = Map::new();
    if let Some(obj) = p.as_object() {
        for (k, v) in obj {
            if ![
                "email",
                "email_verified",
                "name",
                "username",
                "given_name",
                "family_name",
                "nickname",
                "phone_number",
                "phone_verified",
            ]
            .contains(&k.as_str())
            {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    UserRow {
        user_id: format!("{}|{}", i.provider, i.identity_user_id),
        connection_id: i.connection_id.clone(),
        connection: i.connection.clone(),
        provider: i.provider.clone(),
        email: s("email").map(|e| e.to_lowercase()),
        email_verified: b("email_verified"),
        username: s("username"),
        phone_number: s("phone_number"),
        phone_verified: b("phone_verified"),
        name: s("name"),
        nickname: s("nickname"),
        given_name: s("given_name"),
        family_name: s("family_name"),
        body,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        ..UserRow::default()
    }
}

async fn delete_user_identity(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    check_self(&ctx, input.path("id"), &["update:users"])?;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (user_id, provider, id) = (
        input.path("id"),
        input.path("provider"),
        input.path("user_id"),
    );
    let remaining = atomically(|| async move {
        let tx = db.begin().await?;
        let mut u = users::find_for_update(&tx, tenant, user_id)
            .await?
            .ok_or_else(user_not_found)?;
        let identities = users::identities(&tx, tenant, user_id).await?;
        let Some(target) = identities
            .iter()
            .find(|i| i.provider == provider && i.identity_user_id == id)
            .cloned()
        else {
            return Err(Error::not_found(
                "inexistent_identity",
                "The identity does not exist.",
            ));
        };
        if target.is_primary {
            return Err(Error::bad_body("Main identity cannot be removed."));
        }
        let now = time::now();
        let mut restored = user_from_identity(&target, &now);
        let mut restored_identity = target.clone();
        restored_identity.user_id = restored.user_id.clone();
        restored_identity.is_primary = true;
        restored_identity.profile_data = None;
        pin_key_order(&mut restored, std::slice::from_ref(&restored_identity));
        u.updated_at = now;
        users::unlink(&tx, tenant, &target, &restored)
            .await
            .map_err(conflict_or)?;
        users::update_user(&tx, tenant, &u).await?;
        let remaining = users::identities(&tx, tenant, user_id).await?;
        tx.commit().await?;
        Ok(remaining)
    })
    .await?;
    Ok(Reply::json(Value::Array(
        remaining.iter().map(identity_json).collect(),
    )))
}

// ---- users-by-email -----------------------------------------------------------------------

async fn get_users_by_email(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let email = q.get("email").unwrap_or_default().trim().to_lowercase();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let ids: Vec<String> = users::by_email(db, tenant, &email)
        .await?
        .into_iter()
        .map(|u| u.user_id)
        .collect();
    let items = load_rendered(db, tenant, &ids)
        .await?
        .into_iter()
        .map(|u| project(u, q))
        .collect();
    Ok(Reply::json(Value::Array(items)))
}

// ---- DELETE /connections/{id}/users?email= ------------------------------------------------

async fn delete_connection_user_by_email(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let conn = connections::find(db, tenant, input.path("id"))
        .await?
        .ok_or_else(connection_not_found)?;
    if kind(&conn) != Kind::Database {
        return Err(Error::bad_body("Connection must be a database connection"));
    }
    let email = input
        .query
        .get("email")
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let owners = users::by_connection_email(db, tenant, &conn.id, &email).await?;
    // A linked identity of that connection with this e-mail belongs to another user.
    let linked = match users::find_key(db, tenant, &conn.id, "email", &email).await? {
        Some((user_id, identity_user_id)) if !owners.contains(&user_id) => {
            users::identities(db, tenant, &user_id)
                .await?
                .into_iter()
                .find(|i| i.connection_id == conn.id && i.identity_user_id == identity_user_id)
        }
        _ => None,
    };
    let tx = db.begin().await?;
    for user_id in &owners {
        users::delete_user(&tx, tenant, user_id).await?;
    }
    if let Some(i) = &linked {
        users::delete_linked_identity(&tx, tenant, i).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_matches_recording() {
        assert_eq!(
            default_picture(
                Some("testaccuser@acceptance.test.com"),
                "testaccuser@acceptance.test.com"
            ),
            "https://s.gravatar.com/avatar/324ad113b0ef6dabbb2c2c4cf8a8d108?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fte.png"
        );
        assert!(default_picture(None, "Ada Lovelace").ends_with("/al.png"));
    }

    fn user() -> UserRow {
        UserRow {
            user_id: "auth0|x".into(),
            email: Some("a@b.c".into()),
            name: Some("a@b.c".into()),
            nickname: Some("a".into()),
            username: Some("u".into()),
            body: [("picture".to_owned(), json!("p"))].into_iter().collect(),
            created_at: "c".into(),
            updated_at: "u".into(),
            ..UserRow::default()
        }
    }

    #[test]
    fn new_users_are_alphabetical_and_later_keys_follow() {
        let mut u = user();
        u.app_metadata = Some(json!({"a": 1}));
        u.user_metadata = Some(json!({}));
        u.family_name = Some("L".into());
        let keys: Vec<String> = render(&u, &[]).keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "created_at",
                "email",
                "email_verified",
                "family_name",
                "identities",
                "name",
                "nickname",
                "picture",
                "updated_at",
                "user_id",
                "user_metadata",
                "username",
                "app_metadata"
            ]
        );
        let mut u = user();
        pin_key_order(&mut u, &[]);
        u.given_name = Some("G".into());
        u.family_name = Some("F".into());
        u.app_metadata = Some(json!({"x": 1}));
        u.user_metadata = Some(json!({"x": 1}));
        let keys: Vec<String> = render(&u, &[]).keys().cloned().collect();
        assert_eq!(
            keys[9..],
            [
                "username",
                "family_name",
                "given_name",
                "user_metadata",
                "app_metadata"
            ]
        );
    }

    #[test]
    fn metadata_merges_first_level() {
        let cur = Some(json!({"a": 1, "b": {"x": 1}}));
        assert_eq!(
            merge_metadata(cur.clone(), &json!({"a": null, "b": {"y": 2}, "c": 3})),
            Some(json!({"b": {"y": 2}, "c": 3}))
        );
        assert_eq!(merge_metadata(cur, &json!({})), None);
    }
}
