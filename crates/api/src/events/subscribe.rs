//! Tag `events`: `GET /events`, the subscription to the tenant's events over Server-Sent Events.

use crate::spine::Registry;

pub fn register(_reg: &mut Registry) {}
