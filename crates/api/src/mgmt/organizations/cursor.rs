//! Checkpoint (`from`/`take`) cursors of the organization lists: opaque base64url strings that
//! carry the key of the last item of a page, so that the next page is one index range.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use gatehouse_core::Error;

fn bad_cursor() -> Error {
    Error::InvalidQueryString(
        "Query validation error: 'Invalid value for from' on property from.".into(),
    )
}

fn decode(from: &str) -> Result<String, Error> {
    URL_SAFE_NO_PAD
        .decode(from.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad_cursor)
}

/// The cursor after a row keyed by insertion order (`seq`) and id.
pub fn encode_seq(seq: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{seq},{id}"))
}

/// The key a cursor of [`encode_seq`] carries; `None` for the first page.
pub fn decode_seq(from: Option<&str>) -> Result<Option<(i64, String)>, Error> {
    let Some(from) = from.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let raw = decode(from)?;
    let (seq, id) = raw.split_once(',').ok_or_else(bad_cursor)?;
    let seq = seq.parse().map_err(|_| bad_cursor())?;
    Ok(Some((seq, id.to_owned())))
}

/// `{<key>: [...], next?}`. As Auth0 does, a page that has items carries `next` (the page after
/// the last one is empty and has none).
pub fn reply(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut env = Map::new();
    let has_items = !items.is_empty();
    env.insert(key.into(), Value::Array(items));
    if let (true, Some(n)) = (has_items, next) {
        env.insert("next".into(), Value::String(n));
    }
    Value::Object(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips() {
        let c = encode_seq(1_700_000_000_123_456, "org_abc");
        assert_eq!(
            decode_seq(Some(&c)).unwrap(),
            Some((1_700_000_000_123_456, "org_abc".to_owned()))
        );
        assert_eq!(decode_seq(None).unwrap(), None);
        let k = encode_seq(7, "auth0|a,b");
        assert_eq!(
            decode_seq(Some(&k)).unwrap(),
            Some((7, "auth0|a,b".to_owned()))
        );
        for bad in ["!!", "bm8tY29tbWE", "YSxi"] {
            assert_eq!(
                decode_seq(Some(bad)).unwrap_err().status().as_u16(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn next_only_with_items() {
        assert_eq!(
            reply("x", vec![json!(1)], Some("n".into())),
            json!({"x": [1], "next": "n"})
        );
        assert_eq!(reply("x", vec![], Some("n".into())), json!({"x": []}));
    }
}
