//! Shared state, handed to every request through axum's `State`.

use std::sync::Arc;

use gatehouse_spec::Validators;
use gatehouse_store::Db;

use crate::{
    keyring::{KeyRing, SharedRing},
    spine::{Registry, auth::TokenCache, router::Routes},
};

/// A tenant as the server holds it in memory: its issuer and its signing keys.
pub struct Tenant {
    pub id: String,
    /// `https://host/`, with the trailing slash, as Auth0 writes `iss`.
    pub issuer: String,
    /// The signing keys: swapped whole by a rotation or revocation ([`crate::keyring`]).
    pub keys: SharedRing,
}

impl Tenant {
    /// The signing keys as they are now (hold it briefly, never across an `.await`).
    pub fn keys(&self) -> arc_swap::Guard<std::sync::Arc<KeyRing>> {
        self.keys.load()
    }

    /// The Management API's audience, `{issuer}api/v2/`.
    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }
}

pub struct Inner {
    pub db: Db,
    pub default_tenant: Arc<Tenant>,
    pub validators: Validators,
    pub registry: Registry,
    pub routes: Routes,
    pub token_cache: TokenCache,
    /// Where custom domains' verification records are looked up (`None`: the system resolver).
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Each tenant's network ACLs, parsed (enforced on every request).
    pub network_acls: crate::acl::Cache,
    /// The Actions engine, what is bound to each trigger, and the executions' writer.
    pub actions: crate::actions::Runtime,
    /// Jobs' limits (import file size, export lifetime).
    pub jobs: crate::mgmt::jobs::JobsConfig,
    /// The fallback SMTP settings of the e-mail outbox.
    pub smtp: crate::email::smtp::SmtpConfig,
    /// The durable queue's loops' wake-up bells.
    pub worker: crate::worker::Worker,
    /// The client that delivers to the tenant's endpoints.
    pub webhooks: crate::webhooks::Client,
    /// The tenant log's writer.
    pub logs: crate::logs::Logs,
    /// Event streams' settings and which streams want which events.
    pub events: crate::events::Events,
    /// The root key and the tenants' data keys that seal MFA secrets ([`crate::mfa::keys`]).
    pub mfa_keys: crate::mfa::keys::Keys,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The tenant a request addresses. One tenant per server for now; the Host header will
    /// choose among several.
    pub fn tenant_for_host(&self, _host: Option<&str>) -> Arc<Tenant> {
        self.default_tenant.clone()
    }
}
