//! Users, their identities, what must be unique per connection (`user_keys`) and their
//! searchable metadata (`user_attrs`).
//!
//! The storage contract (user search and the benchmark seeder rely on it):
//! - `users`: one row per user; the searchable top-level fields in typed columns (`email`
//!   lower-case), `app_metadata` / `user_metadata` as JSON, `body` the rest of the profile
//!   (`picture`, …), `key_order` the order of the API object's keys;
//! - `user_identities`: every identity of a user, the primary one included (`is_primary`); a
//!   database identity holds the bcrypt `password_hash`;
//! - `user_keys`: `(connection_id, kind, value)` unique: a duplicate is a unique violation;
//! - `user_attrs`: one row per metadata leaf, from [`metadata_attrs`].

use serde_json::{Map, Value};

use crate::{DbResult, Exec, Locked, P, Row, Tx, bulk, params};

/// A user as stored (its primary identity's profile).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserRow {
    pub user_id: String,
    pub connection_id: String,
    pub connection: String,
    pub provider: String,
    /// Lower-case.
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub phone_number: Option<String>,
    pub phone_verified: bool,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub blocked: bool,
    pub logins_count: i64,
    pub last_login: Option<String>,
    pub last_ip: Option<String>,
    /// `None`: the user has none (the key is not shown).
    pub app_metadata: Option<Value>,
    pub user_metadata: Option<Value>,
    /// The rest of the profile, as the API shows it (`picture`, …).
    pub body: Map<String, Value>,
    /// The API object's top-level keys in the order Auth0 shows them; `None` for Auth0's order
    /// of a new user.
    pub key_order: Option<Vec<String>>,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) const USER_COLUMNS: &str = "user_id, connection_id, connection, provider, email, email_verified, username, phone_number, phone_verified, name, nickname, given_name, family_name, blocked, logins_count, last_login, last_ip, app_metadata, user_metadata, body, key_order, created_at, updated_at";

fn opt_json(r: &Row, name: &str) -> DbResult<Option<Value>> {
    Ok(match r.json(name)? {
        Value::Null => None,
        v => Some(v),
    })
}

impl UserRow {
    pub fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            user_id: r.text("user_id")?,
            connection_id: r.text("connection_id")?,
            connection: r.text("connection")?,
            provider: r.text("provider")?,
            email: r.opt_text("email")?,
            email_verified: r.bool("email_verified")?,
            username: r.opt_text("username")?,
            phone_number: r.opt_text("phone_number")?,
            phone_verified: r.bool("phone_verified")?,
            name: r.opt_text("name")?,
            nickname: r.opt_text("nickname")?,
            given_name: r.opt_text("given_name")?,
            family_name: r.opt_text("family_name")?,
            blocked: r.bool("blocked")?,
            logins_count: r.i64("logins_count")?,
            last_login: r.opt_text("last_login")?,
            last_ip: r.opt_text("last_ip")?,
            app_metadata: opt_json(r, "app_metadata")?,
            user_metadata: opt_json(r, "user_metadata")?,
            body: match r.json("body")? {
                Value::Object(o) => o,
                _ => Map::new(),
            },
            key_order: r
                .opt_text("key_order")?
                .map(|s| s.split(',').map(str::to_owned).collect()),
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    /// The profile columns' values, `connection_id` to `key_order` in `USER_COLUMNS` order:
    /// what an INSERT and an UPDATE of a user both write.
    fn profile_values(&self) -> Vec<P> {
        params![
            &self.connection_id,
            &self.connection,
            &self.provider,
            self.email.as_deref(),
            self.email_verified,
            self.username.as_deref(),
            self.phone_number.as_deref(),
            self.phone_verified,
            self.name.as_deref(),
            self.nickname.as_deref(),
            self.given_name.as_deref(),
            self.family_name.as_deref(),
            self.blocked,
            self.logins_count,
            self.last_login.as_deref(),
            self.last_ip.as_deref(),
            self.app_metadata.as_ref(),
            self.user_metadata.as_ref(),
            Value::Object(self.body.clone()),
            self.key_order_text(),
        ]
    }

    fn key_order_text(&self) -> Option<String> {
        self.key_order.as_ref().map(|k| k.join(","))
    }
}

/// One identity of a user: the account inside its connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityRow {
    pub connection_id: String,
    /// The id inside the provider (the part of a user id after `provider|`).
    pub identity_user_id: String,
    /// The user it belongs to.
    pub user_id: String,
    pub connection: String,
    pub provider: String,
    pub is_social: bool,
    pub is_primary: bool,
    /// bcrypt; database identities only. Never shown.
    pub password_hash: Option<String>,
    /// The profile a linked (secondary) identity brought along.
    pub profile_data: Option<Value>,
    /// Earlier password hashes, newest first.
    pub password_history: Vec<String>,
}

const IDENTITY_COLUMNS: &str = "connection_id, identity_user_id, user_id, connection, provider, is_social, is_primary, password_hash, profile_data, password_history";

impl IdentityRow {
    pub fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            connection_id: r.text("connection_id")?,
            identity_user_id: r.text("identity_user_id")?,
            user_id: r.text("user_id")?,
            connection: r.text("connection")?,
            provider: r.text("provider")?,
            is_social: r.bool("is_social")?,
            is_primary: r.bool("is_primary")?,
            password_hash: r.opt_text("password_hash")?,
            profile_data: opt_json(r, "profile_data")?,
            password_history: match r.json("password_history")? {
                Value::Array(a) => a
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
        })
    }
}

/// What must be unique inside a connection: `("email" | "username" | "phone_number", value)`.
pub type UserKey = (&'static str, String);

/// The searchable leaves of a user's metadata: `(path, value_text, value_num)`, one per leaf of
/// `app_metadata` / `user_metadata` (paths like `app_metadata.plan` or
/// `user_metadata.address.city`; array elements share their array's path). Strings as they are,
/// numbers and booleans as JSON text; `value_num` is set for numbers. `null`s and empty objects
/// or arrays have no leaf.
pub fn metadata_attrs(app: &Value, user: &Value) -> Vec<(String, String, Option<f64>)> {
    fn walk(path: &str, v: &Value, out: &mut Vec<(String, String, Option<f64>)>) {
        match v {
            Value::Null => {}
            Value::Bool(b) => out.push((path.to_owned(), b.to_string(), None)),
            Value::Number(n) => out.push((path.to_owned(), n.to_string(), n.as_f64())),
            Value::String(s) => out.push((path.to_owned(), s.clone(), None)),
            Value::Array(items) => {
                for item in items {
                    walk(path, item, out);
                }
            }
            Value::Object(o) => {
                for (k, item) in o {
                    walk(&format!("{path}.{k}"), item, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("app_metadata", app, &mut out);
    walk("user_metadata", user, &mut out);
    // Each (path, value) once per user (`user_attrs_user` is unique on it), so that a search
    // can count matching rows without DISTINCT.
    let mut seen = std::collections::HashSet::new();
    out.retain(|(path, text, _)| seen.insert((path.clone(), text.clone())));
    out
}

/// Rewrites a user's `user_attrs` rows from its metadata (one DELETE, one multi-row INSERT).
pub async fn write_attrs(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    app: Option<&Value>,
    user: Option<&Value>,
) -> DbResult<()> {
    x.execute(
        "DELETE FROM user_attrs WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, user_id],
    )
    .await?;
    insert_attrs(x, tenant, user_id, app, user).await
}

fn history_json(h: &[String]) -> Option<Value> {
    (!h.is_empty()).then(|| Value::from(h.to_vec()))
}

/// `tenant_id`, then `columns` (a `", "`-separated list), then `extra`: a multi-row INSERT's
/// column list derived from the SELECT lists above.
fn insert_columns<'a>(columns: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    std::iter::once("tenant_id")
        .chain(columns.split(", "))
        .chain(extra.iter().copied())
        .collect()
}

/// A `users` row in `insert_columns(USER_COLUMNS, &["seq"])` order.
fn user_values(tenant: &str, u: &UserRow, seq: i64) -> Vec<P> {
    let mut row = params![tenant, &u.user_id];
    row.extend(u.profile_values());
    row.extend(params![&u.created_at, &u.updated_at, seq]);
    row
}

/// A `user_identities` row in `insert_columns(IDENTITY_COLUMNS, &["seq"])` order.
fn identity_values(tenant: &str, i: &IdentityRow, seq: i64) -> Vec<P> {
    params![
        tenant,
        &i.connection_id,
        &i.identity_user_id,
        &i.user_id,
        &i.connection,
        &i.provider,
        i.is_social,
        i.is_primary,
        i.password_hash.as_deref(),
        i.profile_data.as_ref(),
        history_json(&i.password_history),
        seq
    ]
}

const KEY_COLUMNS: &[&str] = &[
    "tenant_id",
    "connection_id",
    "kind",
    "value",
    "identity_user_id",
    "user_id",
];

/// `user_keys` rows for one identity's keys, in `KEY_COLUMNS` order.
fn key_values(
    tenant: &str,
    identity: &IdentityRow,
    user_id: &str,
    keys: &[UserKey],
) -> Vec<Vec<P>> {
    keys.iter()
        .map(|(kind, value)| {
            params![
                tenant,
                &identity.connection_id,
                *kind,
                value,
                &identity.identity_user_id,
                user_id
            ]
        })
        .collect()
}

const ATTR_COLUMNS: &[&str] = &["tenant_id", "user_id", "path", "value_text", "value_num"];

/// `user_attrs` rows for a user's metadata, in `ATTR_COLUMNS` order.
fn attr_values(
    tenant: &str,
    user_id: &str,
    app: Option<&Value>,
    user: Option<&Value>,
) -> Vec<Vec<P>> {
    metadata_attrs(app.unwrap_or(&Value::Null), user.unwrap_or(&Value::Null))
        .into_iter()
        .map(|(path, text, num)| {
            vec![
                P::from(tenant),
                P::from(user_id),
                P::from(path),
                P::from(text),
                num.map_or(P::Null, P::F64),
            ]
        })
        .collect()
}

async fn insert_attrs(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    app: Option<&Value>,
    user: Option<&Value>,
) -> DbResult<()> {
    let rows = attr_values(tenant, user_id, app, user);
    bulk::insert_rows(x, "user_attrs", ATTR_COLUMNS, rows).await?;
    Ok(())
}

/// A new user as [`insert_users`] takes it: the user, its primary identity (with its
/// pre-computed password hash, if any) and its unique keys.
pub type NewUser<'a> = (&'a UserRow, &'a IdentityRow, &'a [UserKey]);

/// Inserts new users with their primary identities, unique keys and metadata rows, in one
/// multi-row INSERT per table. Run it inside the caller's transaction: a duplicate key or user
/// id is a unique violation ([`crate::db::is_unique_violation`]) and the caller's rollback
/// leaves nothing behind. No reads, no hashing: the benchmark seeder inserts its batches of
/// users through it.
pub async fn insert_users(x: &impl Exec, tenant: &str, batch: &[NewUser<'_>]) -> DbResult<()> {
    let seq = crate::seq_now();
    let (mut users, mut identities, mut keys, mut attrs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (n, (user, identity, user_keys)) in (0..).zip(batch) {
        users.push(user_values(tenant, user, seq + n));
        identities.push(identity_values(tenant, identity, seq + n));
        keys.extend(key_values(tenant, identity, &user.user_id, user_keys));
        attrs.extend(attr_values(
            tenant,
            &user.user_id,
            user.app_metadata.as_ref(),
            user.user_metadata.as_ref(),
        ));
    }
    bulk::insert_rows(x, "users", &insert_columns(USER_COLUMNS, &["seq"]), users).await?;
    let identity_columns = insert_columns(IDENTITY_COLUMNS, &["seq"]);
    bulk::insert_rows(x, "user_identities", &identity_columns, identities).await?;
    bulk::insert_rows(x, "user_keys", KEY_COLUMNS, keys).await?;
    bulk::insert_rows(x, "user_attrs", ATTR_COLUMNS, attrs).await?;
    Ok(())
}

/// Inserts one new user: [`insert_users`] with a batch of one.
pub async fn insert_user(
    x: &impl Exec,
    tenant: &str,
    user: &UserRow,
    identity: &IdentityRow,
    keys: &[UserKey],
) -> DbResult<()> {
    insert_users(x, tenant, &[(user, identity, keys)]).await
}

pub async fn find(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<Option<UserRow>> {
    x.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND user_id = $2"),
        params![tenant, user_id],
    )
    .await?
    .as_ref()
    .map(UserRow::from_row)
    .transpose()
}

/// The user, locked until the transaction ends: every write of a user and of what hangs off it
/// (identities, keys, metadata rows) starts here, so writes of one user never interleave.
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    user_id: &str,
) -> DbResult<Option<Locked<UserRow>>> {
    tx.query_opt(
        &format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND user_id = $2{}",
            tx.for_update()
        ),
        params![tenant, user_id],
    )
    .await?
    .map(|r| Locked::new(r).try_map(UserRow::from_row))
    .transpose()
}

fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The users with these ids (one query), in no particular order.
pub async fn find_many(x: &impl Exec, tenant: &str, user_ids: &[String]) -> DbResult<Vec<UserRow>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ps = params![tenant];
    ps.extend(user_ids.iter().map(Into::into));
    x.query(
        &format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND user_id IN ({})",
            in_list(2, user_ids.len())
        ),
        ps,
    )
    .await?
    .iter()
    .map(UserRow::from_row)
    .collect()
}

/// The identities of these users (one query), each user's in the order they were added.
pub async fn identities_of(
    x: &impl Exec,
    tenant: &str,
    user_ids: &[String],
) -> DbResult<Vec<IdentityRow>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ps = params![tenant];
    ps.extend(user_ids.iter().map(Into::into));
    x.query(
        &format!(
            "SELECT {IDENTITY_COLUMNS} FROM user_identities WHERE tenant_id = $1 AND user_id IN ({}) ORDER BY user_id, is_primary DESC, seq, connection_id",
            in_list(2, user_ids.len())
        ),
        ps,
    )
    .await?
    .iter()
    .map(IdentityRow::from_row)
    .collect()
}

/// A user's identities, the primary first.
pub async fn identities(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<Vec<IdentityRow>> {
    identities_of(x, tenant, &[user_id.to_owned()]).await
}

/// The identities with this provider and id (one per connection of that provider).
pub async fn find_identities(
    x: &impl Exec,
    tenant: &str,
    provider: &str,
    identity_user_id: &str,
) -> DbResult<Vec<IdentityRow>> {
    x.query(
        &format!(
            "SELECT {IDENTITY_COLUMNS} FROM user_identities WHERE tenant_id = $1 AND provider = $2 AND identity_user_id = $3 ORDER BY seq, connection_id"
        ),
        params![tenant, provider, identity_user_id],
    )
    .await?
    .iter()
    .map(IdentityRow::from_row)
    .collect()
}

/// Writes every column of an existing user. False when there is no such user.
pub async fn update_user(x: &Tx, tenant: &str, u: &Locked<UserRow>) -> DbResult<bool> {
    let n = x
        .execute(
            "UPDATE users SET connection_id = $3, connection = $4, provider = $5, email = $6, email_verified = $7, username = $8, phone_number = $9, phone_verified = $10, name = $11, nickname = $12, given_name = $13, family_name = $14, blocked = $15, logins_count = $16, last_login = $17, last_ip = $18, app_metadata = $19, user_metadata = $20, body = $21, key_order = $22, updated_at = $23 WHERE tenant_id = $1 AND user_id = $2",
            {
                let mut ps = params![tenant, &u.user_id];
                ps.extend(u.profile_values());
                ps.push(P::from(&u.updated_at));
                ps
            },
        )
        .await?;
    Ok(n > 0)
}

/// Replaces the unique keys of one identity (a duplicate is a unique violation).
pub async fn replace_keys(
    x: &impl Exec,
    tenant: &str,
    identity: &IdentityRow,
    keys: &[UserKey],
) -> DbResult<()> {
    x.execute(
        "DELETE FROM user_keys WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3",
        params![tenant, &identity.connection_id, &identity.identity_user_id],
    )
    .await?;
    let rows = key_values(tenant, identity, &identity.user_id, keys);
    bulk::insert_rows(x, "user_keys", KEY_COLUMNS, rows).await?;
    Ok(())
}

/// Sets an identity's password hash and its history of earlier hashes.
pub async fn set_password(
    x: &impl Exec,
    tenant: &str,
    identity: &IdentityRow,
    hash: &str,
    history: &[String],
) -> DbResult<()> {
    x.execute(
        "UPDATE user_identities SET password_hash = $4, password_history = $5 WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3",
        params![
            tenant,
            &identity.connection_id,
            &identity.identity_user_id,
            hash,
            history_json(history)
        ],
    )
    .await?;
    Ok(())
}

/// Sets a linked identity's `profileData`.
pub async fn set_profile_data(
    x: &impl Exec,
    tenant: &str,
    identity: &IdentityRow,
    profile: &Value,
) -> DbResult<()> {
    x.execute(
        "UPDATE user_identities SET profile_data = $4 WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3",
        params![
            tenant,
            &identity.connection_id,
            &identity.identity_user_id,
            profile
        ],
    )
    .await?;
    Ok(())
}

/// What hangs on a user besides its identities: its metadata rows, roles (tenant and
/// organization), direct permissions and organization memberships.
const USER_DEPENDENTS: [&str; 8] = [
    "user_attrs",
    "user_keys",
    "user_identities",
    "user_roles",
    "user_permissions",
    "organization_members",
    "authenticators",
    "mfa_challenges",
];

/// Deletes a user with all its identities, keys, metadata rows, roles, direct permissions,
/// organization and group memberships, MFA authenticators and pending MFA challenges. Run it in a transaction. The user's row goes first: a concurrent
/// write that locked the user (e.g. a role assignment) is either seen by the deletes that
/// follow or finds no user. Returns whether it existed.
pub async fn delete_user(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<bool> {
    let n = x
        .execute(
            "DELETE FROM users WHERE tenant_id = $1 AND user_id = $2",
            params![tenant, user_id],
        )
        .await?;
    for table in USER_DEPENDENTS {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND user_id = $2"),
            params![tenant, user_id],
        )
        .await?;
    }
    x.execute(
        "DELETE FROM directory_group_members WHERE tenant_id = $1 AND member_type = 'user' AND member_id = $2",
        params![tenant, user_id],
    )
    .await?;
    Ok(n > 0)
}

/// Deletes one identity that is linked to (not the primary identity of) a user, with its keys.
pub async fn delete_linked_identity(
    x: &impl Exec,
    tenant: &str,
    identity: &IdentityRow,
) -> DbResult<()> {
    for table in ["user_keys", "user_identities"] {
        x.execute(
            &format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3"
            ),
            params![tenant, &identity.connection_id, &identity.identity_user_id],
        )
        .await?;
    }
    Ok(())
}

/// The users whose (lower-case) e-mail is `email`, in creation order.
pub async fn by_email(x: &impl Exec, tenant: &str, email: &str) -> DbResult<Vec<UserRow>> {
    x.query(
        &format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2 ORDER BY seq, user_id"
        ),
        params![tenant, email],
    )
    .await?
    .iter()
    .map(UserRow::from_row)
    .collect()
}

/// The users of a connection (their primary identity is there) with this e-mail.
pub async fn by_connection_email(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    email: &str,
) -> DbResult<Vec<String>> {
    x.query(
        "SELECT user_id FROM users WHERE tenant_id = $1 AND email = $2 AND connection_id = $3 ORDER BY seq, user_id",
        params![tenant, email, connection_id],
    )
    .await?
    .iter()
    .map(|r| r.text("user_id"))
    .collect()
}

/// Who holds a unique key in a connection: `(user_id, identity_user_id)`.
pub async fn find_key(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    kind: &str,
    value: &str,
) -> DbResult<Option<(String, String)>> {
    x.query_opt(
        "SELECT user_id, identity_user_id FROM user_keys WHERE tenant_id = $1 AND connection_id = $2 AND kind = $3 AND value = $4",
        params![tenant, connection_id, kind, value],
    )
    .await?
    .map(|r| Ok((r.text("user_id")?, r.text("identity_user_id")?)))
    .transpose()
}

/// Links `secondary` (a user's primary identity) under `primary_user_id`: the identity and its
/// keys move to the primary user with `profile_data`, and the secondary user's row and metadata
/// rows are deleted. Run it in the caller's transaction: it is several writes.
pub async fn link(
    x: &impl Exec,
    tenant: &str,
    primary_user_id: &str,
    secondary: &IdentityRow,
    profile_data: &Value,
) -> DbResult<()> {
    let old_user = secondary.user_id.as_str();
    x.execute(
        "UPDATE user_identities SET user_id = $4, is_primary = $5, profile_data = $6, seq = $7 WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3",
        params![
            tenant,
            &secondary.connection_id,
            &secondary.identity_user_id,
            primary_user_id,
            false,
            profile_data,
            crate::seq_now()
        ],
    )
    .await?;
    x.execute(
        "UPDATE user_keys SET user_id = $3 WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, old_user, primary_user_id],
    )
    .await?;
    x.execute(
        "DELETE FROM user_attrs WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, old_user],
    )
    .await?;
    let n = x
        .execute(
            "DELETE FROM users WHERE tenant_id = $1 AND user_id = $2",
            params![tenant, old_user],
        )
        .await?;
    anyhow::ensure!(n == 1, "linked user {old_user} vanished during the link");
    // The linked user is gone: so are its roles, direct permissions and memberships.
    for table in ["user_roles", "user_permissions", "organization_members"] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND user_id = $2"),
            params![tenant, old_user],
        )
        .await?;
    }
    Ok(())
}

/// Unlinks a linked identity: it becomes the primary identity of `new_user` (inserted here),
/// its keys move along. Run it in the caller's transaction.
pub async fn unlink(
    x: &impl Exec,
    tenant: &str,
    identity: &IdentityRow,
    new_user: &UserRow,
) -> DbResult<()> {
    let seq = crate::seq_now();
    let row = user_values(tenant, new_user, seq);
    bulk::insert_rows(
        x,
        "users",
        &insert_columns(USER_COLUMNS, &["seq"]),
        vec![row],
    )
    .await?;
    x.execute(
        "UPDATE user_identities SET user_id = $4, is_primary = $5, profile_data = NULL, seq = $6 WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3",
        params![
            tenant,
            &identity.connection_id,
            &identity.identity_user_id,
            &new_user.user_id,
            true,
            seq
        ],
    )
    .await?;
    x.execute(
        "UPDATE user_keys SET user_id = $4 WHERE tenant_id = $1 AND connection_id = $2 AND identity_user_id = $3",
        params![
            tenant,
            &identity.connection_id,
            &identity.identity_user_id,
            &new_user.user_id
        ],
    )
    .await?;
    insert_attrs(
        x,
        tenant,
        &new_user.user_id,
        new_user.app_metadata.as_ref(),
        new_user.user_metadata.as_ref(),
    )
    .await
}

/// Deletes every user whose primary identity is in `connection_id`, with their identities,
/// keys and metadata rows, and every secondary identity of other users in that connection.
/// Returns how many users were deleted. Run it inside the caller's transaction.
pub async fn delete_for_connection(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
) -> DbResult<u64> {
    let owned = "SELECT user_id FROM users WHERE tenant_id = $1 AND connection_id = $2";
    for table in USER_DEPENDENTS {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND user_id IN ({owned})"),
            params![tenant, connection_id],
        )
        .await?;
    }
    x.execute(
        &format!(
            "DELETE FROM directory_group_members WHERE tenant_id = $1 AND member_type = 'user' AND member_id IN ({owned})"
        ),
        params![tenant, connection_id],
    )
    .await?;
    for table in ["user_keys", "user_identities"] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND connection_id = $2"),
            params![tenant, connection_id],
        )
        .await?;
    }
    x.execute(
        "DELETE FROM users WHERE tenant_id = $1 AND connection_id = $2",
        params![tenant, connection_id],
    )
    .await
}

/// How many users of the tenant last logged in at or after `since` (an ISO timestamp).
pub async fn count_logged_in_since(x: &impl Exec, tenant: &str, since: &str) -> DbResult<i64> {
    x.query_opt(
        "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND last_login >= $2",
        params![tenant, since],
    )
    .await?
    .map_or(Ok(0), |r| r.i64("n"))
}

/// Users created per UTC day in `[from, until)` (ISO timestamps), ascending: the day
/// (`YYYY-MM-DD`), how many, the first and the last creation time that day.
pub async fn created_by_day(
    x: &impl Exec,
    tenant: &str,
    from: &str,
    until: &str,
) -> DbResult<Vec<(String, i64, String, String)>> {
    let rows = x
        .query(
            "SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n, MIN(created_at) AS first, MAX(created_at) AS last \
             FROM users WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
             GROUP BY substr(created_at, 1, 10) ORDER BY day",
            params![tenant, from, until],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.text("day")?,
                r.i64("n")?,
                r.text("first")?,
                r.text("last")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_metadata_value_once_per_path() {
        let app = json!({"tags": ["a", "b", "a"], "n": [1, 1]});
        let got = metadata_attrs(&app, &Value::Null);
        assert_eq!(
            got,
            vec![
                ("app_metadata.tags".into(), "a".into(), None),
                ("app_metadata.tags".into(), "b".into(), None),
                ("app_metadata.n".into(), "1".into(), Some(1.0)),
            ]
        );
    }

    #[test]
    fn flattens_metadata_leaves() {
        let app = json!({"plan": "pro", "seats": 5, "flags": [true, "x"], "empty": {}, "n": null});
        let user = json!({"address": {"city": "Paris", "zip": 75001.5}});
        let got = metadata_attrs(&app, &user);
        assert_eq!(
            got,
            vec![
                ("app_metadata.plan".into(), "pro".into(), None),
                ("app_metadata.seats".into(), "5".into(), Some(5.0)),
                ("app_metadata.flags".into(), "true".into(), None),
                ("app_metadata.flags".into(), "x".into(), None),
                ("user_metadata.address.city".into(), "Paris".into(), None),
                (
                    "user_metadata.address.zip".into(),
                    "75001.5".into(),
                    Some(75001.5)
                ),
            ]
        );
        assert!(metadata_attrs(&Value::Null, &json!({})).is_empty());
    }
}
