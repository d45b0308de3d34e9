//! Tag `clients`.
