//! Tag `resource-servers`.
