//! Tag `client-grants`.
