//! The Management API's resource families, one room per spec tag.

pub mod client_grants;
pub mod clients;
pub mod common;
pub mod connections;
pub mod device_credentials;
pub mod grants;
pub mod groups;
pub mod guardian;
pub mod jobs;
pub mod keys;
pub mod organizations;
pub mod pem;
pub mod refresh_tokens;
pub mod resource_servers;
pub mod roles;
pub mod sessions;
pub mod tickets;
pub mod users;

use crate::spine::Registry;

/// Registers every family's handlers.
pub fn register(reg: &mut Registry) {
    clients::register(reg);
    resource_servers::register(reg);
    client_grants::register(reg);
    connections::register(reg);
    groups::register(reg);
    users::register(reg);
    jobs::register(reg);
    tickets::register(reg);
    roles::register(reg);
    keys::register(reg);
    organizations::register(reg);
    sessions::register(reg);
    refresh_tokens::register(reg);
    grants::register(reg);
    device_credentials::register(reg);
    guardian::register(reg);
    crate::config::register(reg);
    crate::actions::register(reg);
    crate::logs::register(reg);
    crate::events::register(reg);
}
