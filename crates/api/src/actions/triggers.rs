//! The triggers Actions can bind to, as `GET /actions/triggers` lists them, and which of them
//! Gatehouse runs.

use serde_json::{Value, json};

/// One trigger at its current version.
pub struct TriggerInfo {
    pub id: &'static str,
    pub version: &'static str,
    /// `trigger-bound`: actions are bound through `/actions/triggers/{id}/bindings`;
    /// `entity-bound`: an action is attached to one object (an event stream, a phone or e-mail
    /// provider) and the trigger has no bindings list.
    pub entity_bound: bool,
}

/// The runtimes Auth0 offers for the current trigger versions; `node22` is the default Auth0
/// applies when an action names none (recorded: TestAccAction, TestTokenExchangeProfile).
pub const RUNTIMES: &[&str] = &["node18-actions", "node22"];
pub const DEFAULT_RUNTIME: &str = "node22";

/// The spec's triggers (`ActionTriggerTypeEnum`) at the versions the recordings and Auth0's
/// documentation use.
pub const TRIGGERS: &[TriggerInfo] = &[
    t("post-login", "v3", false),
    t("credentials-exchange", "v2", false),
    t("pre-user-registration", "v2", false),
    t("post-user-registration", "v2", false),
    t("post-change-password", "v2", false),
    t("send-phone-message", "v2", false),
    t("custom-phone-provider", "v1", true),
    t("custom-email-provider", "v1", true),
    t("password-reset-post-challenge", "v1", false),
    t("custom-token-exchange", "v1", false),
    t("event-stream", "v1", true),
    t("password-hash-migration", "v1", false),
    t("login-post-identifier", "v1", false),
    t("signup-post-identifier", "v1", false),
];

const fn t(id: &'static str, version: &'static str, entity_bound: bool) -> TriggerInfo {
    TriggerInfo {
        id,
        version,
        entity_bound,
    }
}

pub fn find(id: &str) -> Option<&'static TriggerInfo> {
    TRIGGERS.iter().find(|t| t.id == id)
}

/// `GET /actions/triggers`.
pub fn list() -> Value {
    let triggers: Vec<Value> = TRIGGERS
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "version": t.version,
                "status": "CURRENT",
                "runtimes": RUNTIMES,
                "default_runtime": DEFAULT_RUNTIME,
                "compatible_triggers": [],
                "binding_policy": if t.entity_bound { "entity-bound" } else { "trigger-bound" },
            })
        })
        .collect();
    json!({ "triggers": triggers })
}
