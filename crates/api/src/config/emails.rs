//! Tags `emails` (the tenant's e-mail provider) and `email-templates`.
//!
//! The provider is one document made with POST (201), changed with PATCH, deleted with DELETE
//! (also when there is none, as Auth0 answers); its credentials are write-only (only the
//! provider's non-secret settings — SES `region`, SMTP host/port/user, Mailgun domain/region —
//! come back), and changing the provider's `name` drops the previous provider's credentials and
//! settings. A template exists once customised (POST, 200); PATCH merges, PUT replaces, and the
//! body's `template` must name the template of the path.

use serde_json::Value;

use gatehouse_core::Error;
use gatehouse_spec::Op;

use super::{DOC, Doc, Merge};

pub static DOCS: &[Doc] = &[
    Doc {
        kind: "email_provider",
        get: Some(Op::GetProvider),
        create: Some(Op::PostProvider),
        patch: Some(Op::PatchProvider),
        delete: Some(Op::DeleteProvider),
        merge: Merge::Shallow,
        hidden: &[
            "credentials.accessKeyId",
            "credentials.secretAccessKey",
            "credentials.api_key",
            "credentials.smtp_pass",
            "credentials.connectionString",
            "credentials.tenantId",
            "credentials.clientId",
            "credentials.clientSecret",
        ],
        missing: no_provider,
        conflict: provider_exists,
        before_patch: Some(provider_switch),
        normalize: Some(provider_enabled),
        ..DOC
    },
    Doc {
        kind: "email_template",
        key: &["templateName"],
        get: Some(Op::GetEmailTemplatesByTemplateName),
        create: Some(Op::PostEmailTemplates),
        body_key: Some("template"),
        patch: Some(Op::PatchEmailTemplatesByTemplateName),
        put: Some(Op::PutEmailTemplatesByTemplateName),
        merge: Merge::Shallow,
        missing: no_template,
        conflict: template_exists,
        ..DOC
    },
];

/// Recorded (TestAccEmail).
fn no_provider() -> Error {
    Error::not_found(
        "inexistent_email_provider",
        "There is not a configured email provider",
    )
}

fn provider_exists() -> Error {
    Error::conflict(
        "email_provider_conflict",
        "An email provider is already configured",
    )
}

fn no_template() -> Error {
    Error::not_found(
        "inexistent_email_template",
        "The email template does not exist",
    )
}

fn template_exists() -> Error {
    Error::conflict(
        "email_template_conflict",
        "The email template already exists",
    )
}

/// A PATCH naming another provider starts from that provider's credentials and settings alone
/// (recorded: TestAccEmail, ses → mandrill drops `settings`).
fn provider_switch(stored: &mut Value, body: &Value) {
    let switching = body
        .get("name")
        .is_some_and(|n| stored.get("name") != Some(n));
    if let (true, Value::Object(o)) = (switching, stored) {
        o.remove("credentials");
        o.remove("settings");
    }
}

/// `enabled` defaults to true (the spec's default for a new provider).
fn provider_enabled(doc: &mut Value) {
    if let Value::Object(o) = doc {
        o.entry("enabled").or_insert(Value::Bool(true));
    }
}
