//! Checkpoint (`from`/`take`) cursors of the organization lists, in Auth0's form: base64 of
//! `<when the item was added>UTC,<its id>` (`2026-04-23 07:40:31.768000UTC,auth0|69e9…`), the
//! key of the last item of a page, so that the next page is one index range.

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD},
};
use serde_json::{Map, Value};
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::BorrowedFormatItem,
    macros::format_description,
};

use gatehouse_core::Error;

/// The time part of a cursor, to the microsecond (Auth0 prints milliseconds padded to six
/// digits; the keys here are microseconds).
const WHEN: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]UTC");

/// Decodes with or without padding, in the standard or the URL-safe alphabet.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn bad_cursor() -> Error {
    Error::InvalidQueryString(
        "Query validation error: 'Invalid value for from' on property from.".into(),
    )
}

/// The cursor after an item added at `seq` (microseconds since the epoch) with this id.
pub fn encode_seq(seq: i64, id: &str) -> String {
    let when = OffsetDateTime::from_unix_timestamp_nanos(i128::from(seq) * 1000)
        .ok()
        .and_then(|t| t.format(WHEN).ok())
        .unwrap_or_else(|| "1970-01-01 00:00:00.000000UTC".to_owned());
    STANDARD.encode(format!("{when},{id}"))
}

/// The key a cursor of [`encode_seq`] carries; `None` for the first page.
pub fn decode_seq(from: Option<&str>) -> Result<Option<(i64, String)>, Error> {
    let Some(from) = from.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let raw = LENIENT
        .decode(from)
        .or_else(|_| LENIENT_URL.decode(from))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad_cursor)?;
    let (when, id) = raw.split_once(',').ok_or_else(bad_cursor)?;
    let when = PrimitiveDateTime::parse(when, WHEN).map_err(|_| bad_cursor())?;
    let micros = when.assume_utc().unix_timestamp_nanos() / 1000;
    let seq = i64::try_from(micros).map_err(|_| bad_cursor())?;
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
    fn reads_auth0s_cursors() {
        // A cursor Auth0 gave (recorded: TestAccOrganizationMembers).
        let recorded =
            "MjAyNi0wNC0yMyAwNzo0MDozMS43NjgwMDBVVEMsYXV0aDB8NjllOWNjZWQ3Mjg4ZWVkOTVhN2U1ZjU4";
        let (seq, id) = decode_seq(Some(recorded)).unwrap().unwrap();
        assert_eq!(id, "auth0|69e9cced7288eed95a7e5f58");
        assert_eq!(encode_seq(seq, &id), recorded);
        // Without padding, or in the URL-safe alphabet, it is the same key.
        let padded = encode_seq(seq, "auth0|x");
        assert!(padded.ends_with('='));
        assert_eq!(
            decode_seq(Some(padded.trim_end_matches('='))).unwrap(),
            Some((seq, "auth0|x".to_owned()))
        );
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
