//! `multipart/form-data` bodies (`POST /jobs/users-imports`) as the JSON object the schema
//! validates: each part by its name, as text; `true`/`false` as booleans (the form's only
//! typed fields are flags). A part with a file name is kept as text too (the import's JSON).

use axum::body::Bytes;
use serde_json::{Map, Value};

use gatehouse_core::Error;

fn bad(why: impl std::fmt::Display) -> Error {
    Error::bad_body(format!("Invalid multipart payload: {why}"))
}

/// The parts of a multipart body whose `Content-Type` header is `content_type`.
pub async fn to_json(content_type: &str, bytes: Bytes) -> Result<Value, Error> {
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut obj = Map::new();
    while let Some(field) = parts.next_field().await.map_err(bad)? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let is_file = field.file_name().is_some();
        let data = field.bytes().await.map_err(bad)?;
        let text = String::from_utf8(data.to_vec())
            .map_err(|_| bad(format!("the part {name} is not UTF-8")))?;
        let value = match text.as_str() {
            "true" if !is_file => Value::Bool(true),
            "false" if !is_file => Value::Bool(false),
            _ => Value::String(text),
        };
        obj.insert(name, value);
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_by_name() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"connection_id\"\r\n\r\ncon_1\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"upsert\"\r\n\r\ntrue\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"users\"; filename=\"u.json\"\r\nContent-Type: application/json\r\n\r\n[{\"email\":\"a@b.c\"}]\r\n\
                    --XX--\r\n";
        let v = to_json("multipart/form-data; boundary=XX", Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(v["connection_id"], "con_1");
        assert_eq!(v["upsert"], true);
        assert_eq!(v["users"], "[{\"email\":\"a@b.c\"}]");
        assert!(to_json("multipart/form-data", Bytes::new()).await.is_err());
    }
}
