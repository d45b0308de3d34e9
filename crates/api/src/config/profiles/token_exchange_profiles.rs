//! Tag `token-exchange-profiles`: each profile maps a `subject_token_type` (held by one profile
//! of the tenant) to the Action that runs a Custom Token Exchange. The namespaces Auth0 reserves
//! are refused (docs: "call your API using the Custom Token Exchange flow"). `action_id` and
//! `type` are set once (the PATCH schema has neither).
//!
//! Not checked yet: that `action_id` names a deployed Action of the `custom-token-exchange`
//! trigger, as Auth0 requires — Gatehouse has no Actions yet; the id is stored as given.

use serde_json::Value;

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;

use super::super::collection::{COLLECTION, Collection, Listing, Unique};
use crate::spine::Registry;

pub static PROFILES: Collection = Collection {
    kind: "token_exchange_profile",
    new_id,
    list: Some(Op::GetTokenExchangeProfiles),
    create: Some(Op::PostTokenExchangeProfiles),
    get: Some(Op::GetTokenExchangeProfilesById),
    patch: Some(Op::PatchTokenExchangeProfilesById),
    delete: Some(Op::DeleteTokenExchangeProfilesById),
    listing: Listing::Checkpoint,
    list_key: "token_exchange_profiles",
    check: Some(not_reserved),
    order: &[
        "id",
        "name",
        "type",
        "subject_token_type",
        "action_id",
        "created_at",
        "updated_at",
    ],
    unique: &[Unique {
        name: "subject_token_type",
        of: subject_token_type,
        taken: type_taken,
    }],
    missing: no_profile,
    delete_missing_ok: true,
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    PROFILES.register(reg);
}

/// `tep_` and 16 alphanumerics (recorded: `tep_YGHxatF4SVyjeMyp`).
fn new_id() -> String {
    ids::prefixed("tep", 16)
}

/// Recorded (TestTokenExchangeDataSourceResource#7); no errorCode.
fn no_profile() -> Error {
    Error::NotFound("Token exchange profile not found.".into())
}

fn subject_token_type(v: &Value) -> Option<String> {
    v.get("subject_token_type")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Not recorded: the spec lists 409 for a create and an update.
fn type_taken(v: &Value) -> Error {
    Error::conflict(
        "token_exchange_profile_conflict",
        format!(
            "A token exchange profile with subject_token_type {} already exists",
            subject_token_type(v).unwrap_or_default()
        ),
    )
}

/// Whether `t` is in a namespace Auth0 reserves: `http(s)://auth0.com/…`, `http(s)://okta.com/…`,
/// `urn:ietf:…`, `urn:auth0:…`, `urn:okta:…`.
fn reserved(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    if let Some(rest) = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
    {
        let host = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        return matches!(host, "auth0.com" | "okta.com");
    }
    ["urn:ietf", "urn:auth0", "urn:okta"]
        .iter()
        .any(|ns| t == *ns || t.starts_with(&format!("{ns}:")))
}

/// The message is not recorded.
fn not_reserved(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    match subject_token_type(v) {
        Some(t) if reserved(&t) => Err(Error::bad_body(format!(
            "The subject_token_type {t} is in a reserved namespace \
             (http://auth0.com, https://auth0.com, http://okta.com, https://okta.com, urn:ietf, \
             urn:auth0, urn:okta)."
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::reserved;

    #[test]
    fn reserved_namespaces() {
        for t in [
            "https://auth0.com/token",
            "http://AUTH0.com",
            "https://okta.com:443/x",
            "urn:ietf:params:oauth:token-type:jwt",
            "urn:auth0:x",
            "URN:OKTA:y",
        ] {
            assert!(reserved(t), "{t}");
        }
        for t in [
            "https://acme.com/cis-token",
            "https://auth0.company.com/t",
            "urn:acme:legacy-token",
            "urn:auth0x:t",
            "http://acme.com/legacy-token",
        ] {
            assert!(!reserved(t), "{t}");
        }
    }
}
