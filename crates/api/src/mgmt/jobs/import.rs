//! `POST /jobs/users-imports` and its run: Auth0's bulk import schema, users inserted in large
//! batches (one transaction per batch, one multi-row INSERT per table), existing users updated
//! with `upsert`, per-user errors recorded for `GET /jobs/{id}/errors`.
//!
//! The file is kept in `job_files` until the job ends. Passwords: `password_hash` (bcrypt) is
//! stored as is; `custom_password_hash` is validated and stored in the imported form
//! (`gatehouse_core::legacy_hash`), verified at the next password check and re-hashed to bcrypt
//! then.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, legacy_hash, time};
use gatehouse_store::{
    Db, Exec, atomically,
    connections::ConnectionRow,
    db::is_unique_violation,
    jobs::{self, JobRow},
    queue::{self, Item},
    users::{self, IdentityRow, UserKey, UserRow},
};

use super::{LEASE, connection_of, enqueue, new_job, render};
use crate::{
    mgmt::users::{Creds, Kind, default_picture, keys_for, kind, merge_metadata},
    spine::{Ctx, Input, Reply},
    state::AppState,
};

/// Users per transaction.
const BATCH: usize = 5_000;

/// The size of a stored chunk of the uploaded file.
const CHUNK: usize = 1 << 20;

/// The fields a user of the import file may have (Auth0's schema).
const FIELDS: &[&str] = &[
    "email",
    "email_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "password_hash",
    "custom_password_hash",
    "app_metadata",
    "user_metadata",
    "mfa_factors",
    "phone_number",
    "phone_verified",
];

/// What `app_metadata` may not contain (Auth0's reserved names).
const RESERVED_APP_METADATA: &[&str] = &[
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
];

pub async fn post_users_imports(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    // The body as it is (not copied: the file may be large).
    let req = input
        .body
        .as_object()
        .ok_or_else(|| Error::bad_body("Invalid request payload"))?;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let file = req.get("users").and_then(Value::as_str).unwrap_or_default();
    let limit = ctx.state.jobs.import_max_bytes;
    if file.len() > limit {
        return Err(Error::PayloadTooLarge(
            format!("The users file is larger than the maximum allowed ({limit} bytes).").into(),
        ));
    }
    let conn_id = req
        .get("connection_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let conn = connection_of(db, tenant, conn_id).await?;
    if kind(&conn) != Kind::Database {
        return Err(Error::bad_body(
            "Users can only be imported into database connections.",
        ));
    }
    let mut body = Map::new();
    body.insert("connection_id".into(), json!(conn.id));
    body.insert("connection".into(), json!(conn.name));
    if let Some(e) = req.get("external_id") {
        body.insert("external_id".into(), e.clone());
    }
    body.insert(
        "_upsert".into(),
        json!(req.get("upsert").and_then(Value::as_bool).unwrap_or(false)),
    );
    body.insert(
        "_send_completion_email".into(),
        json!(
            req.get("send_completion_email")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        ),
    );
    let job = new_job("users_import", Value::Object(body));
    atomically(|| async {
        let tx = db.begin().await?;
        enqueue(&tx, tenant, &job).await?;
        for (n, chunk) in (0..).zip(chunks(file)) {
            jobs::put_chunk(&tx, tenant, &job.id, "input", n, chunk).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    ctx.state.worker.wake(super::KIND);
    Ok(Reply::json(render(&job, None)))
}

/// The file in chunks of about [`CHUNK`] bytes, cut at character boundaries.
fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut at = CHUNK.min(rest.len());
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (a, b) = rest.split_at(at);
        out.push(a);
        rest = b;
    }
    out
}

async fn read_file(db: &Db, tenant: &str, job: &str) -> Result<String, Error> {
    let n = jobs::chunk_count(db, tenant, job, "input").await?;
    let mut file = String::new();
    for i in 0..n {
        if let Some(c) = jobs::chunk(db, tenant, job, "input", i).await? {
            file.push_str(&c);
        }
    }
    Ok(file)
}

/// One user of the file, ready to write.
struct Prepared {
    user: UserRow,
    identity: IdentityRow,
    keys: Vec<UserKey>,
    /// The fields the file gave (an upsert changes only these).
    given: Map<String, Value>,
}

fn error(code: &str, message: impl Into<String>, path: &str) -> Value {
    json!({"code": code, "message": message.into(), "path": path})
}

/// Checks one user of the file against the import schema and the connection and builds its rows.
fn prepare(conn: &ConnectionRow, v: &Value, now: &str) -> Result<Prepared, Vec<Value>> {
    let Some(o) = v.as_object() else {
        return Err(vec![error("INVALID_TYPE", "Expected type object", "")]);
    };
    let mut errors = Vec::new();
    for k in o.keys() {
        if !FIELDS.contains(&k.as_str()) {
            errors.push(error(
                "OBJECT_ADDITIONAL_PROPERTIES",
                format!("Additional properties not allowed: {k}"),
                k,
            ));
        }
    }
    let string = |k: &str, errors: &mut Vec<Value>| match o.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(error("INVALID_TYPE", "Expected type string", k));
            None
        }
    };
    let boolean = |k: &str, errors: &mut Vec<Value>| match o.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.push(error("INVALID_TYPE", "Expected type boolean", k));
            None
        }
    };
    let email = string("email", &mut errors).map(|e| e.trim().to_lowercase());
    let username = string("username", &mut errors);
    let phone_number = string("phone_number", &mut errors);
    if let Some(e) = &email
        && crate::mgmt::users::check_email(e).is_err()
    {
        errors.push(error(
            "INVALID_FORMAT",
            format!("Object didn't pass validation for format email: {e}"),
            "email",
        ));
    }
    if email.is_none() && username.is_none() {
        errors.push(error(
            "OBJECT_MISSING_REQUIRED_PROPERTY",
            "Missing required property: email",
            "email",
        ));
    }
    for k in ["app_metadata", "user_metadata"] {
        match o.get(k) {
            None | Some(Value::Null | Value::Object(_)) => {}
            Some(_) => errors.push(error("INVALID_TYPE", "Expected type object", k)),
        }
    }
    if let Some(Value::Object(app)) = o.get("app_metadata") {
        for r in RESERVED_APP_METADATA {
            if app.contains_key(*r) {
                errors.push(error(
                    "INVALID_FORMAT",
                    format!("app_metadata may not contain the property {r}"),
                    &format!("app_metadata.{r}"),
                ));
            }
        }
    }
    let password_hash = match (o.get("password_hash"), o.get("custom_password_hash")) {
        (Some(_), Some(_)) => {
            errors.push(error(
                "CONFLICT",
                "password_hash and custom_password_hash are mutually exclusive",
                "custom_password_hash",
            ));
            None
        }
        (Some(Value::String(h)), None) => {
            if legacy_hash::is_bcrypt(h) {
                Some(h.clone())
            } else {
                errors.push(error(
                    "INVALID_FORMAT",
                    "password_hash must be a bcrypt hash ($2a$ or $2b$)",
                    "password_hash",
                ));
                None
            }
        }
        (Some(_), None) => {
            errors.push(error(
                "INVALID_TYPE",
                "Expected type string",
                "password_hash",
            ));
            None
        }
        (None, Some(c)) => match legacy_hash::encode(c) {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push(error("INVALID_FORMAT", e, "custom_password_hash"));
                None
            }
        },
        (None, None) => None,
    };
    let given_user_id = string("user_id", &mut errors);
    let email_verified = boolean("email_verified", &mut errors).unwrap_or(false);
    let blocked = boolean("blocked", &mut errors).unwrap_or(false);
    let phone_verified = boolean("phone_verified", &mut errors).unwrap_or(false);
    let (given_name, family_name) = (
        string("given_name", &mut errors),
        string("family_name", &mut errors),
    );
    let (name, nickname, picture) = (
        string("name", &mut errors),
        string("nickname", &mut errors),
        string("picture", &mut errors),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    let identity_user_id = given_user_id
        .map(|id| id.strip_prefix("auth0|").map_or(id.clone(), str::to_owned))
        .unwrap_or_else(ids::hex24);
    let user_id = format!("auth0|{identity_user_id}");
    let name = name.or_else(|| email.clone()).or_else(|| username.clone());
    let nickname = nickname
        .or_else(|| {
            email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(str::to_owned)
        })
        .or_else(|| username.clone());
    let picture = picture
        .unwrap_or_else(|| default_picture(email.as_deref(), name.as_deref().unwrap_or_default()));
    let mut body = Map::new();
    body.insert("picture".into(), json!(picture));
    let user = UserRow {
        user_id: user_id.clone(),
        connection_id: conn.id.clone(),
        connection: conn.name.clone(),
        provider: "auth0".into(),
        email,
        email_verified,
        username,
        phone_number,
        phone_verified,
        name,
        nickname,
        given_name,
        family_name,
        blocked,
        app_metadata: o
            .get("app_metadata")
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            .cloned(),
        user_metadata: o.get("user_metadata").filter(|v| v.is_object()).cloned(),
        body,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        ..UserRow::default()
    };
    let identity = IdentityRow {
        connection_id: conn.id.clone(),
        identity_user_id,
        user_id,
        connection: conn.name.clone(),
        provider: "auth0".into(),
        is_social: false,
        is_primary: true,
        password_hash,
        profile_data: None,
        password_history: Vec::new(),
    };
    let keys = keys_for(conn, &Creds::of_user(&user));
    Ok(Prepared {
        user,
        identity,
        keys,
        given: o.clone(),
    })
}

/// Who holds these keys of the connection already: `(kind, value) → (user_id, identity id)`.
async fn holders(
    x: &impl Exec,
    tenant: &str,
    conn: &str,
    keys: &[(&'static str, String)],
) -> Result<HashMap<(String, String), (String, String)>, Error> {
    let mut by_kind: HashMap<&'static str, Vec<&String>> = HashMap::new();
    for (k, v) in keys {
        by_kind.entry(*k).or_default().push(v);
    }
    let mut out = HashMap::new();
    for (kind, values) in by_kind {
        for chunk in values.chunks(1000) {
            let mut ps: Vec<gatehouse_store::P> = vec![tenant.into(), conn.into(), kind.into()];
            let marks: Vec<String> = chunk
                .iter()
                .map(|v| {
                    ps.push((*v).into());
                    format!("${}", ps.len())
                })
                .collect();
            let rows = x
                .query(
                    &format!(
                        "SELECT kind, value, user_id, identity_user_id FROM user_keys \
                         WHERE tenant_id = $1 AND connection_id = $2 AND kind = $3 AND value IN ({})",
                        marks.join(", ")
                    ),
                    ps,
                )
                .await?;
            for r in rows {
                out.insert(
                    (r.text("kind")?, r.text("value")?),
                    (r.text("user_id")?, r.text("identity_user_id")?),
                );
            }
        }
    }
    Ok(out)
}

#[derive(Default, Clone, Copy)]
struct Tally {
    inserted: i64,
    updated: i64,
    failed: i64,
}

/// Applies an upsert to an existing user: the fields the file gave replace the stored ones, the
/// metadata merge as a PATCH does; the password only while the user never logged in.
async fn upsert(
    tx: &gatehouse_store::Tx,
    tenant: &str,
    user_id: &str,
    p: &Prepared,
    now: &str,
) -> Result<bool, Error> {
    let Some(mut u) = users::find_for_update(tx, tenant, user_id).await? else {
        return Ok(false);
    };
    let g = &p.given;
    if g.contains_key("email_verified") {
        u.email_verified = p.user.email_verified;
    }
    if g.contains_key("blocked") {
        u.blocked = p.user.blocked;
    }
    if g.contains_key("given_name") {
        u.given_name.clone_from(&p.user.given_name);
    }
    if g.contains_key("family_name") {
        u.family_name.clone_from(&p.user.family_name);
    }
    if g.contains_key("name") {
        u.name.clone_from(&p.user.name);
    }
    if g.contains_key("nickname") {
        u.nickname.clone_from(&p.user.nickname);
    }
    if let Some(pic) = g.get("picture") {
        u.body.insert("picture".into(), pic.clone());
    }
    if let Some(m) = g.get("user_metadata") {
        u.user_metadata = Some(merge_metadata(u.user_metadata.take(), m).unwrap_or(json!({})));
    }
    if let Some(m) = g.get("app_metadata") {
        u.app_metadata = merge_metadata(u.app_metadata.take(), m)
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    }
    u.updated_at = now.to_owned();
    let logged_in = u.logins_count > 0;
    users::update_user(tx, tenant, &u).await?;
    users::write_attrs(
        tx,
        tenant,
        &u.user_id,
        u.app_metadata.as_ref(),
        u.user_metadata.as_ref(),
    )
    .await?;
    if let Some(h) = &p.identity.password_hash
        && !logged_in
        && let Some(primary) = users::identities(tx, tenant, &u.user_id)
            .await?
            .into_iter()
            .find(|i| i.provider == "auth0")
    {
        users::set_password(tx, tenant, &primary, h, &primary.password_history).await?;
    }
    Ok(true)
}

fn user_of(v: &Value) -> Value {
    let mut u = v.as_object().cloned().unwrap_or_default();
    // Never echo password material back in the errors.
    u.shift_remove("password_hash");
    u.shift_remove("custom_password_hash");
    Value::Object(u)
}

/// Writes one batch (one transaction): new users in one multi-row INSERT per table, existing ones
/// updated (`upsert`) or refused, the errors and the job's progress with them.
#[expect(clippy::too_many_arguments, reason = "one batch's context")]
async fn write_batch(
    db: &Db,
    tenant: &str,
    item: &Item,
    conn: &ConnectionRow,
    upsert_on: bool,
    batch: &[Value],
    offset: usize,
    total: usize,
    seen: &mut HashSet<(&'static str, String)>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let now = time::now();
    let mut errors: Vec<Value> = Vec::new();
    let mut ready: Vec<(usize, Prepared)> = Vec::new();
    for (i, v) in batch.iter().enumerate() {
        match prepare(conn, v, &now) {
            Ok(p) => {
                if p.keys.iter().any(|(k, v)| seen.contains(&(*k, v.clone()))) {
                    errors.push(json!({"user": user_of(v), "errors": [error("DUPLICATED_USER", "The user appears more than once in the file", "")]}));
                } else {
                    for (k, v) in &p.keys {
                        seen.insert((*k, v.clone()));
                    }
                    ready.push((i, p));
                }
            }
            Err(e) => errors.push(json!({"user": user_of(v), "errors": e})),
        }
    }
    let all_keys: Vec<(&'static str, String)> =
        ready.iter().flat_map(|(_, p)| p.keys.clone()).collect();
    let t = *tally;
    let ready_ref = &ready;
    let errors_ref = &errors;
    let all_keys_ref = &all_keys;
    let now_ref = now.as_str();
    let result = atomically(|| async move {
        let mut t = t;
        let mut errors = errors_ref.clone();
        let tx = db.begin().await?;
        let existing = holders(&tx, tenant, &conn.id, all_keys_ref).await?;
        let mut fresh: Vec<&Prepared> = Vec::new();
        for (i, p) in ready_ref {
            let holder = p
                .keys
                .iter()
                .find_map(|(k, v)| existing.get(&((*k).to_owned(), v.clone())));
            match holder {
                Some((uid, _)) if upsert_on => {
                    if upsert(&tx, tenant, uid, p, now_ref).await? {
                        t.updated += 1;
                    }
                }
                Some(_) => errors.push(json!({"user": user_of(&batch[*i]), "errors": [error("DUPLICATED_USER", "The user already exist", "")]})),
                None => fresh.push(p),
            }
        }
        let rows: Vec<users::NewUser<'_>> = fresh
            .iter()
            .map(|p| (&p.user, &p.identity, p.keys.as_slice()))
            .collect();
        users::insert_users(&tx, tenant, &rows).await?;
        t.inserted += i64::try_from(fresh.len()).unwrap_or(0);
        t.failed += i64::try_from(errors.len()).unwrap_or(0);
        jobs::add_errors(&tx, tenant, &item.target, errors).await?;
        let Some(mut job) = jobs::find_for_update(&tx, tenant, &item.target).await? else {
            return Err(Error::Internal(anyhow::anyhow!("the job is gone")));
        };
        let done = offset + batch.len();
        job.status = "processing".into();
        job.percentage_done = i64::try_from(done * 100 / total.max(1)).unwrap_or(100);
        job.summary = Some(json!({
            "failed": t.failed, "updated": t.updated, "inserted": t.inserted,
            "total": total, "_processed": done,
        }));
        job.updated_at = time::now();
        jobs::update(&tx, tenant, &job).await?;
        queue::extend(&tx, tenant, &item.id, LEASE).await?;
        tx.commit().await?;
        Ok::<_, Error>(t)
    })
    .await;
    match result {
        Ok(new) => {
            *tally = new;
            Ok(())
        }
        // A user inserted concurrently (an API create, another import): the batch again, one
        // user per transaction, so that only the duplicates fail.
        Err(Error::Internal(e)) if is_unique_violation(&e) && batch.len() > 1 => {
            for (n, one) in batch.iter().enumerate() {
                for (k, v) in ready
                    .iter()
                    .filter(|(i, _)| *i == n)
                    .flat_map(|(_, p)| p.keys.clone())
                {
                    seen.remove(&(k, v));
                }
                Box::pin(write_batch(
                    db,
                    tenant,
                    item,
                    conn,
                    upsert_on,
                    std::slice::from_ref(one),
                    offset + n,
                    total,
                    seen,
                    tally,
                ))
                .await?;
            }
            Ok(())
        }
        Err(Error::Internal(e)) if is_unique_violation(&e) => {
            let mut t2 = *tally;
            t2.failed += 1;
            let user = user_of(&batch[0]);
            let tx = db.begin().await?;
            jobs::add_errors(&tx, tenant, &item.target, vec![json!({"user": user, "errors": [error("DUPLICATED_USER", "The user already exist", "")]})]).await?;
            tx.commit().await?;
            *tally = t2;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Runs an import job from where its last committed batch left it.
pub async fn run(state: &AppState, item: &Item, job: JobRow) -> Result<(), Error> {
    let (db, tenant) = (&state.db, item.tenant.as_str());
    let conn_id = job
        .body
        .get("connection_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let upsert_on = job.body.get("_upsert").and_then(Value::as_bool) == Some(true);
    let Ok(conn) = connection_of(db, tenant, &conn_id).await else {
        return super::fail(state, item, "The connection does not exist.").await;
    };
    let file = read_file(db, tenant, &job.id).await?;
    let users: Vec<Value> = match serde_json::from_str::<Value>(&file) {
        Ok(Value::Array(a)) => a,
        Ok(_) => {
            return super::fail(
                state,
                item,
                "The users file must contain a JSON array of users.",
            )
            .await;
        }
        Err(e) => {
            return super::fail(
                state,
                item,
                &format!("The users file is not valid JSON: {e}"),
            )
            .await;
        }
    };
    drop(file);
    let total = users.len();
    let summary = job.summary.clone().unwrap_or(Value::Null);
    let n = |k: &str| summary.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut tally = Tally {
        inserted: n("inserted"),
        updated: n("updated"),
        failed: n("failed"),
    };
    let start = usize::try_from(n("_processed")).unwrap_or(0).min(total);
    let mut seen = HashSet::new();
    // Keys of the users already processed (a job taken over after a crash): duplicates inside
    // the file are still found.
    for v in &users[..start] {
        if let Ok(p) = prepare(&conn, v, "") {
            seen.extend(p.keys);
        }
    }
    let mut offset = start;
    for batch in users[start..].chunks(BATCH) {
        write_batch(
            db, tenant, item, &conn, upsert_on, batch, offset, total, &mut seen, &mut tally,
        )
        .await?;
        offset += batch.len();
    }
    finish(state, item, &job, tally, total).await
}

/// Completes the job: the summary, the file removed, the completion e-mail queued and the
/// queue item done, in one transaction.
async fn finish(
    state: &AppState,
    item: &Item,
    job: &JobRow,
    t: Tally,
    total: usize,
) -> Result<(), Error> {
    let (db, tenant) = (&state.db, item.tenant.as_str());
    let send = job
        .body
        .get("_send_completion_email")
        .and_then(Value::as_bool)
        != Some(false);
    let mailed = atomically(|| async {
        let tx = db.begin().await?;
        let Some(mut j) = jobs::find_for_update(&tx, tenant, &job.id).await? else {
            queue::done(&tx, tenant, &item.id).await?;
            return tx.commit().await.map_err(Error::from).map(|()| false);
        };
        j.status = "completed".into();
        j.percentage_done = 100;
        j.time_left_seconds = None;
        j.summary = Some(json!({"failed": t.failed, "updated": t.updated, "inserted": t.inserted, "total": total}));
        j.updated_at = time::now();
        jobs::update(&tx, tenant, &j).await?;
        jobs::delete_file(&tx, tenant, &j.id, "input").await?;
        let mut mailed = false;
        if send {
            mailed = completion_email(&tx, tenant, &j).await?;
        }
        queue::done(&tx, tenant, &item.id).await?;
        tx.commit().await?;
        Ok::<_, Error>(mailed)
    })
    .await?;
    if mailed {
        state.worker.wake(crate::email::KIND);
    }
    Ok(())
}

/// The import's completion e-mail, to the tenant's `support_email` (Gatehouse has no dashboard
/// administrators to write to); none when the tenant has no support address.
async fn completion_email(x: &impl Exec, tenant: &str, job: &JobRow) -> Result<bool, Error> {
    let vars = crate::email::variables(x, tenant, json!({ "job": render(job, None) })).await?;
    let Some(to) = vars
        .get("support_email")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(false);
    };
    match crate::email::render("import_completion", None, &to, &vars)? {
        Some(msg) => {
            crate::email::enqueue(x, tenant, &msg).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cut_at_char_boundaries() {
        let s = "é".repeat(CHUNK);
        let c = chunks(&s);
        assert_eq!(c.concat(), s);
        assert!(c.iter().all(|p| p.len() <= CHUNK));
    }
}
