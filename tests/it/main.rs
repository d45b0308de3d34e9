//! One integration binary: each module boots real servers over real HTTP, on SQLite and (when
//! `GATEHOUSE_TEST_DATABASE_URL` is set) on PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

mod actions;
mod auth_matrix;
mod authn_conformance;
mod cimd;
mod client_grants;
mod clients;
mod concurrency;
mod conformance;
mod connections;
mod custom_domains;
mod event_streams;
mod groups;
mod guardian;
mod hostile;
mod jobs;
mod keys;
mod login;
mod login_admin;
mod login_pages;
mod logs;
mod mfa_api;
mod mfa_pages;
mod network_acls;
mod organizations;
mod resource_servers;
mod roles;
mod scenarios;
mod self_service_tickets;
mod spine;
mod store;
mod tickets;
mod tokens_authz;
mod user_search;
mod users;
