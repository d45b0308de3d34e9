//! Shared building blocks: the Auth0 error type, ids, time, JWT signing and verification,
//! password hashing.

pub mod error;
pub mod ids;
pub mod json;
pub mod jwt;
pub mod legacy_hash;
pub mod net;
pub mod password;
pub mod secret;
pub mod time;

pub use error::{Error, Result};
