//! What a handler receives and returns.

use serde::de::DeserializeOwned;
use serde_json::Value;

use gatehouse_core::Error;

/// The query string as name/value pairs, in order. Values were validated against the
/// operation's parameter schemas before the handler runs.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| v == "true")
    }

    pub fn i64(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// A comma-separated list (`fields=a,b`), or the values of a repeated parameter.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let vals: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        (!vals.is_empty()).then_some(vals)
    }
}

/// A decoded, validated request.
#[derive(Debug, Default)]
pub struct Input {
    /// Path parameters by their spec names, percent-decoded.
    pub path: Vec<(&'static str, String)>,
    pub query: Query,
    /// The JSON body (`Null` when the operation takes none).
    pub body: Value,
}

impl Input {
    pub fn path(&self, name: &str) -> &str {
        self.path
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The body as a typed request; it was validated against the spec already, so a failure
    /// here is still answered as Auth0 does.
    pub fn body_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.body.clone())
            .map_err(|e| Error::bad_body(format!("Payload validation error: '{e}'.")))
    }

    /// The strings of the body's array `key` (`{"roles": ["rol_1", …]}`), each once, sorted
    /// (empty when there is no such array).
    pub fn body_strings(&self, key: &str) -> Vec<String> {
        let set: std::collections::BTreeSet<String> = self
            .body
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        set.into_iter().collect()
    }

    /// The body's top-level object (empty when there is none).
    pub fn body_object(&self) -> serde_json::Map<String, Value> {
        self.body.as_object().cloned().unwrap_or_default()
    }
}

/// A handler's answer: JSON with the operation's success status unless told otherwise.
#[derive(Debug)]
pub struct Reply {
    pub status: Option<u16>,
    pub body: Option<Value>,
    /// A body that is not JSON, sent as it comes (a stream of Server-Sent Events).
    pub stream: Option<Streamed>,
}

/// A streamed body and its content type.
pub struct Streamed {
    pub content_type: &'static str,
    pub body: axum::body::Body,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Streamed({})", self.content_type)
    }
}

impl Reply {
    pub fn json(body: Value) -> Self {
        Self {
            status: None,
            body: Some(body),
            stream: None,
        }
    }

    pub fn with_status(status: u16, body: Value) -> Self {
        Self {
            status: Some(status),
            body: Some(body),
            stream: None,
        }
    }

    /// A streamed body with the operation's success status.
    pub fn streamed(content_type: &'static str, body: axum::body::Body) -> Self {
        Self {
            status: None,
            body: None,
            stream: Some(Streamed { content_type, body }),
        }
    }

    /// No body: 204 unless the operation's success status says otherwise.
    pub fn empty() -> Self {
        Self {
            status: None,
            body: None,
            stream: None,
        }
    }
}
