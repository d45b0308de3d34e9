//! The embedded Auth0 Management API v2 OpenAPI document: the operation table generated from it
//! at build time, and JSON-schema validators compiled from it on first use.

mod validate;

pub use validate::{ValidationError, Validators};

/// The OpenAPI document, as copied from Auth0's published spec.
pub const SPEC_JSON: &str = include_str!("../management-api.openapi.json");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    GET,
    POST,
    PUT,
    PATCH,
    DELETE,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamIn {
    Path,
    Query,
    Header,
}

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub location: ParamIn,
    pub required: bool,
    /// The schema's `type` (`string`, `integer`, `boolean`, `array`, …).
    pub ty: Option<&'static str>,
    /// The parameter's JSON schema, as JSON text.
    pub schema: &'static str,
}

#[derive(Debug)]
pub struct OpInfo {
    pub op: Op,
    /// The spec's operationId.
    pub id: &'static str,
    /// The spec's one-line summary ("Create a client"): the description of its log entries.
    pub summary: &'static str,
    pub tag: &'static str,
    pub method: Method,
    /// The path below `/api/v2`, with `{param}` placeholders.
    pub path: &'static str,
    /// Any one of these scopes allows the call.
    pub scopes: &'static [&'static str],
    /// The lowest 2xx status the spec lists.
    pub success: u16,
    /// The request body's schema as JSON text (usually a `$ref`).
    pub body_schema: Option<&'static str>,
    pub body_required: bool,
    pub content_types: &'static [&'static str],
    pub params: &'static [Param],
}

include!(concat!(env!("OUT_DIR"), "/ops.rs"));

impl Op {
    pub fn info(self) -> &'static OpInfo {
        // The table is generated in the enum's declaration order.
        &OPERATIONS[self as usize]
    }

    /// The status of a successful reply: the spec's, except where recorded Auth0 traffic shows
    /// another (the recordings win).
    pub fn success_status(self) -> u16 {
        match self {
            // PATCH of a client credential: the spec says 201; go-auth0's recordings of the
            // live API answer 200.
            Op::PatchResourceServersById
            | Op::PatchCredentialsByCredentialId
            | Op::PatchHooksById
            | Op::PostDeployAction
            | Op::DeleteNetworkAclsById => 200,
            Op::DeleteRolePermissionAssignment => 204,
            Op::PostVerify => 201,
            _ => self.info().success,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_enum_order_and_counts_406() {
        assert_eq!(OPERATIONS.len(), 406);
        for (i, info) in OPERATIONS.iter().enumerate() {
            assert_eq!(info.op as usize, i, "{}", info.id);
        }
        assert_eq!(Op::GetClientsById.info().path, "/clients/{id}");
        assert_eq!(Op::PostClients.info().scopes, &["create:clients"]);
        assert_eq!(Op::PostClients.info().success, 201);
    }

    #[test]
    fn scopes_listed() {
        assert!(SCOPES.iter().any(|(s, _)| *s == "read:clients"));
        assert!(SCOPES.len() > 100);
    }
}
