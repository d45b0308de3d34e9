//! Tag `prompts`: the Universal Login settings, and per prompt its custom text (per language)
//! and its partials. Text and partials never set read as `{}`; PUT replaces them whole (a
//! screen left empty is dropped from the partials, as recorded). The rendering operations
//! (Advanced Customizations): `rendering.rs`.

use serde_json::{Value, json};

use gatehouse_spec::Op;

use super::{DOC, Doc, Merge};

pub static DOCS: &[Doc] = &[
    Doc {
        kind: "prompts",
        get: Some(Op::GetPrompts),
        patch: Some(Op::PatchPrompts),
        defaults: Some(settings),
        merge: Merge::Shallow,
        ..DOC
    },
    Doc {
        kind: "prompt_custom_text",
        key: &["prompt", "language"],
        get: Some(Op::GetCustomTextByLanguage),
        put: Some(Op::PutCustomTextByLanguage),
        defaults: Some(empty),
        ..DOC
    },
    Doc {
        kind: "prompt_partials",
        key: &["prompt"],
        get: Some(Op::GetPartials),
        put: Some(Op::PutPartials),
        defaults: Some(empty),
        normalize: Some(drop_empty_screens),
        ..DOC
    },
];

/// A new tenant: the new Universal Login experience, identifier and password on one screen.
fn settings() -> Value {
    json!({
        "universal_login_experience": "new",
        "identifier_first": false,
        "webauthn_platform_first_factor": false
    })
}

fn empty() -> Value {
    json!({})
}

/// Screens whose partials are an empty object are not kept (recorded: TestAccPromptScreenPartial).
fn drop_empty_screens(doc: &mut Value) {
    if let Value::Object(o) = doc {
        o.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
    }
}
