//! The one error type of the Management API. It renders Auth0's error JSON:
//! `{"statusCode":…,"error":…,"message":…,"errorCode":…}`.

use std::borrow::Cow;

use http::StatusCode;
use serde_json::{Value, json};

pub type Result<T, E = Error> = std::result::Result<T, E>;

type Msg = Cow<'static, str>;

/// Variants are named after Auth0's errorCodes. `status()` and `error_code()` have no catch-all arm,
/// so a new variant forces a decision.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidBody(Msg),
    #[error("{0}")]
    InvalidQueryString(Msg),
    #[error("{0}")]
    InvalidUri(Msg),
    /// A request Auth0 refuses for what it asks, not for its shape (e.g. deleting a system API).
    #[error("{0}")]
    OperationNotSupported(Msg),
    /// 401 without an errorCode, as Auth0 answers a missing or bad bearer token.
    #[error("{0}")]
    InvalidToken(Msg),
    #[error("{0}")]
    InsufficientScope(Msg),
    /// 403 without an errorCode (e.g. a request a network ACL blocks).
    #[error("{0}")]
    Forbidden(Msg),
    /// 400 with an errorCode of its own (e.g. `inexistent_connection` for a body that names a
    /// connection that does not exist).
    #[error("{message}")]
    BadRequest { code: &'static str, message: Msg },
    /// 400 that Auth0 answers without an errorCode (e.g. a phone provider it cannot use:
    /// "Bad Operation on Notification Resource").
    #[error("{0}")]
    BadRequestPlain(Msg),
    /// 404 of an object that does not exist; `code` is Auth0's `inexistent_*` errorCode.
    #[error("{message}")]
    Inexistent { code: &'static str, message: Msg },
    /// 404 of a route that does not exist.
    #[error("Not Found")]
    RouteNotFound,
    /// 404 that Auth0 answers without an errorCode (e.g. a connection without a SCIM configuration).
    #[error("{0}")]
    NotFound(Msg),
    /// 409; `code` is Auth0's conflict errorCode for the family.
    #[error("{message}")]
    Conflict { code: &'static str, message: Msg },
    /// 409 that Auth0 answers without an errorCode (e.g. deleting an action bound to a trigger).
    #[error("{0}")]
    ConflictPlain(Msg),
    /// 412 without an errorCode (e.g. deleting an action module that actions still use).
    #[error("{0}")]
    PreconditionFailed(Msg),
    #[error("{0}")]
    PayloadTooLarge(Msg),
    #[error("{0}")]
    UnsupportedMediaType(Msg),
    #[error("{0}")]
    TooManyRequests(Msg),
    #[error("The operation {0} is not implemented by this server yet")]
    NotImplemented(&'static str),
    /// Anything unexpected: logged with its context, rendered as a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidBody(_)
            | Error::InvalidQueryString(_)
            | Error::InvalidUri(_)
            | Error::OperationNotSupported(_)
            | Error::BadRequest { .. }
            | Error::BadRequestPlain(_) => StatusCode::BAD_REQUEST,
            Error::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Error::InsufficientScope(_) | Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Inexistent { .. } | Error::RouteNotFound | Error::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Error::Conflict { .. } | Error::ConflictPlain(_) => StatusCode::CONFLICT,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Error::InvalidBody(_) => Some("invalid_body"),
            Error::InvalidQueryString(_) => Some("invalid_query_string"),
            Error::InvalidUri(_) => Some("invalid_uri"),
            Error::OperationNotSupported(_) => Some("operation_not_supported"),
            Error::InvalidToken(_) | Error::Forbidden(_) => None,
            Error::InsufficientScope(_) => Some("insufficient_scope"),
            Error::Inexistent { code, .. }
            | Error::Conflict { code, .. }
            | Error::BadRequest { code, .. } => Some(code),
            Error::RouteNotFound
            | Error::NotFound(_)
            | Error::BadRequestPlain(_)
            | Error::ConflictPlain(_)
            | Error::PreconditionFailed(_) => None,
            Error::PayloadTooLarge(_) => Some("payload_too_large"),
            Error::UnsupportedMediaType(_) => Some("unsupported_media_type"),
            Error::TooManyRequests(_) => Some("too_many_requests"),
            Error::NotImplemented(_) => Some("not_implemented"),
            Error::Internal(_) => None,
        }
    }

    /// The message a client sees; an internal error's detail is never shown.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "Internal Server Error".to_owned(),
            other => other.to_string(),
        }
    }

    /// Auth0's error body.
    pub fn body(&self) -> Value {
        let status = self.status();
        let mut body = json!({
            "statusCode": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": self.public_message(),
        });
        if let (Some(code), Some(obj)) = (self.error_code(), body.as_object_mut()) {
            obj.insert("errorCode".into(), Value::from(code));
        }
        body
    }

    pub fn not_found(code: &'static str, message: impl Into<Msg>) -> Self {
        Error::Inexistent {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<Msg>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// 400 with Auth0's errorCode `code`.
    pub fn bad_request(code: &'static str, message: impl Into<Msg>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn bad_body(message: impl Into<Msg>) -> Self {
        Error::InvalidBody(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_auth0_shape() {
        let e = Error::not_found("inexistent_client", "The client does not exist");
        assert_eq!(
            e.body(),
            json!({"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"})
        );
        let e =
            Error::InsufficientScope("Insufficient scope, expected any of: read:clients".into());
        assert_eq!(e.body()["statusCode"], 403);
        assert_eq!(e.body()["errorCode"], "insufficient_scope");
    }

    #[test]
    fn internal_detail_is_hidden() {
        let e = Error::Internal(anyhow::anyhow!("database password is hunter2"));
        let body = e.body().to_string();
        assert!(!body.contains("hunter2"));
        assert_eq!(e.body()["statusCode"], 500);
        assert!(e.body().get("errorCode").is_none());
    }
}
