//! Test helpers: a real server per test ([`spawn`]), cassette replay ([`replay`]) and scenario
//! files ([`scenario`]).

pub mod receiver;
pub mod replay;
pub mod scenario;
pub mod smtp;
pub mod spawn;

pub use spawn::{Backend, TestServer, backends, spawn, spawn_on, spawn_with_dns};
