//! Tag `resource-servers`: APIs.

use crate::spine::Registry;

pub fn register(_reg: &mut Registry) {}
