//! Tag `self-service-profiles`: what a customer's admin may configure in the self-service
//! enterprise-connection wizard (allowed strategies, branding, the user attributes asked for —
//! listed, or by a user-attribute profile), the wizard's custom text, and the SSO tickets that
//! open it.
//!
//! As Auth0 answers: `user_attributes` is always shown (`[]` when not given or set to `null`),
//! `description`, `branding` and `user_attribute_profile_id` only when set; a PATCH replaces each
//! member it sends; deleting a profile that is not there is no error (recorded:
//! TestSelfServiceProfile, TestSelfServiceProfile_UserAttributeProfile, go-auth0
//! TestSelfServiceProfileManager_Delete).
//!
//! An SSO ticket is a URL `<issuer origin>/self-service/connections-flow?ticket=<32 random
//! alphanumerics>`; only the ticket's SHA-256 is stored, with its profile and its expiry (5
//! days unless `ttl_sec` says less). Gatehouse does not serve the wizard yet: the URL answers
//! 404 for a ticket it does not know (or a revoked one), 410 for an expired one, and 501 for a
//! valid one.

use axum::{
    Router,
    extract::{Query as AxumQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, atomically, docs};

use super::super::collection::{COLLECTION, Collection, Listing};
use super::{ordered, user_attribute_profiles};
use crate::{
    spine::{Ctx, Input, Registry, Reply, page::project},
    state::AppState,
};

pub static PROFILES: Collection = Collection {
    kind: "self_service_profile",
    new_id,
    list: Some(Op::GetSelfServiceProfiles),
    listing: Listing::Offset,
    list_key: "self_service_profiles",
    check: Some(complete),
    order: &[
        "id",
        "name",
        "description",
        "user_attributes",
        "allowed_strategies",
        "created_at",
        "updated_at",
        "branding",
        "user_attribute_profile_id",
    ],
    missing,
    ..COLLECTION
};

/// A profile's custom text: one document per profile, `{<language>: {<page>: {…}}}`.
const TEXT: &str = "self_service_profile_custom_text";
/// An SSO ticket, keyed by the SHA-256 (hex) of the ticket.
const TICKET: &str = "sso_ticket";
/// Auth0's default and longest ticket lifetime: 5 days (`ttl_sec` 0 or not given).
const TICKET_TTL: i64 = 432_000;
/// Where the tickets' URL points.
const FLOW_PATH: &str = "/self-service/connections-flow";

pub fn register(reg: &mut Registry) {
    PROFILES.register(reg);
    reg.add(Op::PostSelfServiceProfiles, create);
    reg.add(Op::GetSelfServiceProfilesById, read);
    reg.add(Op::PatchSelfServiceProfilesById, patch);
    reg.add(Op::DeleteSelfServiceProfilesById, delete);
    reg.add(Op::GetSelfServiceProfileCustomText, get_text);
    reg.add(Op::PutSelfServiceProfileCustomText, put_text);
    reg.add(Op::PostSsoTicket, create_ticket);
    reg.add(Op::PostRevoke, revoke_ticket);
}

/// The page a ticket's URL opens.
pub fn routes() -> Router<AppState> {
    Router::new().route(FLOW_PATH, get(connections_flow))
}

/// `ssp_` and 22 base58 characters (recorded: `ssp_qFCQZB7iBxkvSD8PLFbdVL`).
fn new_id() -> String {
    format!("ssp_{}", ids::base58(22))
}

/// The collection's `missing`; replies name the id ([`not_found`]).
fn missing() -> Error {
    Error::NotFound("Profile not found".into())
}

/// Recorded (TestSelfServiceDataSourceResource#3); no errorCode.
fn not_found(id: &str) -> Error {
    Error::NotFound(format!("Profile with ID: {id} not found").into())
}

/// The collection's errors with the id named.
fn named(id: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| {
        let m = missing();
        if e.status() == m.status() && e.public_message() == m.public_message() {
            not_found(id)
        } else {
            e
        }
    }
}

/// `user_attributes` is always there (`null` reads as `[]`: recorded
/// TestSelfServiceProfile_UserAttributeProfile#3); `branding` shows `logo_url` first.
fn complete(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    let Value::Object(o) = v else { return Ok(()) };
    o.entry("user_attributes").or_insert_with(|| json!([]));
    if let Some(Value::Object(b)) = o.get_mut("branding") {
        ordered(b, &["logo_url", "colors"]);
    }
    Ok(())
}

/// The user-attribute profile the body names must exist (the message is not recorded).
async fn referenced_profile(ctx: &Ctx, body: &Value) -> Result<(), Error> {
    let Some(uap) = body
        .get("user_attribute_profile_id")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    match user_attribute_profiles::PROFILES.load(ctx, uap).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == user_attribute_profiles::no_profile().status() => Err(
            Error::bad_body(format!("User attribute profile with ID: {uap} not found")),
        ),
        Err(e) => Err(e),
    }
}

async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = Value::Object(input.body_object());
    referenced_profile(&ctx, &body).await?;
    let obj = PROFILES.create_object(&ctx, body).await?;
    Ok(Reply::json(PROFILES.shown(obj)))
}

async fn read(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let obj = PROFILES.load(&ctx, id).await.map_err(named(id))?;
    Ok(Reply::json(project(PROFILES.shown(obj), &input.query)))
}

/// Each member sent replaces the stored one; `null` removes it.
async fn patch(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let body = Value::Object(input.body_object());
    referenced_profile(&ctx, &body).await?;
    let obj = PROFILES
        .patch_object(&ctx, id, &body)
        .await
        .map_err(named(id))?;
    Ok(Reply::json(PROFILES.shown(obj)))
}

/// Deletes the profile with its custom text and its tickets, in one transaction; a profile
/// that is not there is no error.
async fn delete(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    atomically(|| async move {
        let tx = db.begin().await?;
        if docs::lock(&tx, tenant, PROFILES.kind, id).await?.is_none() {
            return Ok(());
        }
        docs::delete(&tx, tenant, PROFILES.kind, id).await?;
        docs::delete(&tx, tenant, TEXT, id).await?;
        let (tickets, _) = docs::list(&tx, tenant, TICKET, Page::ALL).await?;
        for t in tickets {
            if t.get("profile_id").and_then(Value::as_str) == Some(id)
                && let Some(hash) = t.get("hash").and_then(Value::as_str)
            {
                docs::delete(&tx, tenant, TICKET, hash).await?;
            }
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

/// The text of one page in one language: `{}` until it is set.
async fn get_text(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    PROFILES.load(&ctx, id).await.map_err(named(id))?;
    let texts = docs::get(ctx.db(), ctx.tenant_id(), TEXT, id).await?;
    let text = texts
        .as_ref()
        .and_then(|t| t.get(input.path("language")))
        .and_then(|l| l.get(input.path("page")))
        .cloned()
        .unwrap_or_else(|| json!({}));
    Ok(Reply::json(text))
}

/// Replaces the text of one page in one language (recorded: TestAccSSOCustomText#3, #9, #21),
/// with the profile locked so that it cannot go meanwhile.
async fn put_text(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let (language, page) = (input.path("language"), input.path("page"));
    let text = Value::Object(input.body_object());
    let (db, tenant, text_ref) = (ctx.db(), ctx.tenant_id(), &text);
    atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        if docs::lock(&tx, tenant, PROFILES.kind, id).await?.is_none() {
            return Err(not_found(id));
        }
        let mut all = docs::lock_or_create(&tx, tenant, TEXT, id, &json!({}), &now).await?;
        if let Value::Object(o) = &mut all {
            let lang = o
                .entry(language)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(l) = lang {
                l.insert(page.to_owned(), text_ref.clone());
            }
        }
        docs::put(&tx, tenant, TEXT, id, &all, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(text))
}

fn ticket_hash(ticket: &str) -> String {
    gatehouse_core::secret::sha256_hex(ticket)
}

/// 32 alphanumerics (about 190 bits), as Auth0's tickets.
fn new_ticket() -> String {
    ids::client_id()
}

/// Makes a ticket for the profile; answers its URL. What the body asks for (the connection to
/// create or edit, its clients and organizations, provisioning, domain verification) is kept
/// with the ticket for the wizard.
async fn create_ticket(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let body = input.body_object();
    let ttl = match body.get("ttl_sec").and_then(Value::as_i64) {
        Some(n) if n > 0 => n.min(TICKET_TTL),
        _ => TICKET_TTL,
    };
    let ticket = new_ticket();
    let hash = ticket_hash(&ticket);
    let now_unix = time::unix_now();
    let mut request = body.clone();
    request.remove("ttl_sec");
    let doc = json!({
        "hash": hash,
        "profile_id": id,
        "expires_at": now_unix + ttl,
        "request": request,
    });
    let (db, tenant, doc_ref, hash_ref) = (ctx.db(), ctx.tenant_id(), &doc, hash.as_str());
    atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        // The profile is locked so that it cannot go meanwhile (its delete removes its tickets).
        if docs::lock(&tx, tenant, PROFILES.kind, id).await?.is_none() {
            return Err(not_found(id));
        }
        // Expired tickets of the tenant go.
        let (tickets, _) = docs::list(&tx, tenant, TICKET, Page::ALL).await?;
        for t in tickets {
            if t.get("expires_at").and_then(Value::as_i64).unwrap_or(0) <= now_unix
                && let Some(h) = t.get("hash").and_then(Value::as_str)
            {
                docs::delete(&tx, tenant, TICKET, h).await?;
            }
        }
        docs::put(&tx, tenant, TICKET, hash_ref, doc_ref, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    let origin = ctx.tenant.issuer.trim_end_matches('/');
    Ok(Reply::json(
        json!({ "ticket": format!("{origin}{FLOW_PATH}?ticket={ticket}") }),
    ))
}

/// Revokes a ticket of the profile (`{id}` is the ticket): 202 `{}`, also for a ticket that
/// is not there (as Auth0 documents).
async fn revoke_ticket(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let profile = input.path("profileId");
    let hash = ticket_hash(input.path("id"));
    let (db, tenant, hash) = (ctx.db(), ctx.tenant_id(), hash.as_str());
    atomically(|| async move {
        let tx = db.begin().await?;
        if let Some(t) = docs::lock(&tx, tenant, TICKET, hash).await?
            && t.get("profile_id").and_then(Value::as_str) == Some(profile)
        {
            docs::delete(&tx, tenant, TICKET, hash).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(json!({})))
}

#[derive(serde::Deserialize)]
struct FlowQuery {
    ticket: Option<String>,
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The wizard's address: says whether the ticket is valid; the wizard itself is not served yet.
async fn connections_flow(
    State(state): State<AppState>,
    headers: HeaderMap,
    AxumQuery(q): AxumQuery<FlowQuery>,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let tenant = state.tenant_for_host(host);
    let Some(ticket) = q.ticket.filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::NOT_FOUND,
            "Invalid ticket",
            "This link has no ticket.",
        );
    };
    let found = docs::get(&state.db, &tenant.id, TICKET, &ticket_hash(&ticket)).await;
    let doc = match found {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "Invalid ticket",
                "This link is not valid, or it was revoked.",
            );
        }
        Err(e) => {
            tracing::error!(error = ?e, "reading an SSO ticket");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "The ticket could not be read.",
            );
        }
    };
    if doc.get("expires_at").and_then(Value::as_i64).unwrap_or(0) <= time::unix_now() {
        return page(StatusCode::GONE, "Expired ticket", "This link has expired.");
    }
    page(
        StatusCode::NOT_IMPLEMENTED,
        "Not implemented",
        "The self-service connection setup is not served by this server yet.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets() {
        let t = new_ticket();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_ticket(), t);
        assert_eq!(
            ticket_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn user_attributes_always_shown() {
        let mut v =
            json!({"name": "p", "branding": {"colors": {"primary": "#000"}, "logo_url": "x"}});
        complete(&mut v, None).unwrap();
        assert_eq!(v["user_attributes"], json!([]));
        assert_eq!(
            v["branding"].to_string(),
            r##"{"logo_url":"x","colors":{"primary":"#000"}}"##
        );
    }
}
