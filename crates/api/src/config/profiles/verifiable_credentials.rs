//! Tag `verifiable-credentials`: the templates of a verifiable-credential verification (which
//! claims of a mobile driving licence a presentation asks for, and which issuers are trusted).
//! Nothing of this family is recorded; its shape is the spec's and Auth0's API docs'.
//! Gatehouse stores the templates; it does not verify presentations.

use serde_json::Value;

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;

use super::super::collection::{COLLECTION, Collection, Listing};
use crate::spine::Registry;

pub static TEMPLATES: Collection = Collection {
    kind: "vc_template",
    new_id,
    list: Some(Op::GetVcTemplates),
    create: Some(Op::PostVcTemplates),
    get: Some(Op::GetVcTemplatesById),
    patch: Some(Op::PatchVcTemplatesById),
    delete: Some(Op::DeleteVcTemplatesById),
    listing: Listing::Checkpoint,
    list_key: "templates",
    check: Some(complete),
    order: &[
        "id",
        "name",
        "type",
        "dialect",
        "presentation",
        "custom_certificate_authority",
        "well_known_trusted_issuers",
        "created_at",
        "updated_at",
    ],
    missing: no_template,
    delete_missing_ok: true,
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    TEMPLATES.register(reg);
}

/// `vct_` and 22 base58 characters: Auth0's real format is not recorded (the docs' example is
/// `vct_0000000000000001`; the path's id is at most 26 characters).
fn new_id() -> String {
    format!("vct_{}", ids::base58(22))
}

/// Not recorded.
fn no_template() -> Error {
    Error::NotFound("Verifiable credential template not found.".into())
}

/// What every template has (the create schema's required members).
const REQUIRED: &[&str] = &[
    "name",
    "type",
    "dialect",
    "presentation",
    "well_known_trusted_issuers",
];

/// A PATCH may set members to `null` (the schema allows it) but a template keeps what a
/// template must have; `version` (in the PATCH schema, undocumented) is not kept.
fn complete(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    let Value::Object(o) = v else { return Ok(()) };
    o.remove("version");
    if let Some(missing) = REQUIRED.iter().find(|k| !o.contains_key(**k)) {
        return Err(Error::bad_body(format!(
            "Payload validation error: Missing required property: {missing}."
        )));
    }
    Ok(())
}
