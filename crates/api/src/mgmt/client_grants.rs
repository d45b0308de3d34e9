//! Tag `client-grants`.

use crate::spine::Registry;

pub fn register(_reg: &mut Registry) {}
