//! The Gatehouse HTTP server: the spec-driven spine, the Management API families and the
//! Authentication API.

pub mod acl;
pub mod actions;
pub mod authn;
pub mod bootstrap;
pub mod config;
pub mod email;
pub mod events;
pub mod keyring;
pub mod logs;
pub mod mfa;
pub mod mgmt;
pub mod pages;
pub mod scim;
pub mod server;
pub mod spine;
pub mod state;
pub mod webhooks;
pub mod worker;

pub use actions::run::ActionsConfig;
pub use bootstrap::AdminCredentials;
pub use events::EventsConfig;
pub use logs::LogsConfig;
pub use server::{Config, LogFormat, Running, TlsMode, build, serve, start};
pub use webhooks::WebhooksConfig;

/// Which operations have a handler: the README's coverage figure.
pub struct Coverage {
    pub operations: Vec<(&'static gatehouse_spec::OpInfo, bool)>,
}

impl Coverage {
    pub fn implemented(&self) -> usize {
        self.operations.iter().filter(|(_, d)| *d).count()
    }
}

pub fn coverage() -> Coverage {
    let mut reg = spine::Registry::default();
    mgmt::register(&mut reg);
    Coverage {
        operations: gatehouse_spec::OPERATIONS
            .iter()
            .map(|info| (info, reg.get(info.op).is_some()))
            .collect(),
    }
}
