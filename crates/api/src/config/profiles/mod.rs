//! The profile families: self-service SSO profiles (with their custom text and SSO tickets),
//! user-attribute profiles, connection profiles, token-exchange profiles, and the verifiable
//! credentials' verification templates. Each is a [`Collection`](super::collection::Collection);
//! what Auth0 does beyond storing the objects is in the family's file.

pub mod connection_profiles;
pub mod self_service_profiles;
pub mod token_exchange_profiles;
pub mod user_attribute_profiles;
pub mod verifiable_credentials;

use serde_json::{Map, Value};

use crate::spine::Registry;

pub fn register(reg: &mut Registry) {
    user_attribute_profiles::register(reg);
    self_service_profiles::register(reg);
    connection_profiles::register(reg);
    token_exchange_profiles::register(reg);
    verifiable_credentials::register(reg);
}

/// The base58 alphabet of Auth0's newer ids (digits, then lower case, then upper case; no `0`,
/// `O`, `I`, `l`).
const BASE58: &[u8] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// `prefix_` and 22 base58 characters of a 128-bit value: 48 bits of milliseconds since the
/// epoch, then 80 random bits. Auth0's user-attribute and connection profile ids are of this
/// form (all recorded ones of 2025-2026 start `1c…`, and later ones are greater).
pub fn time_ordered_id(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // 80 random bits (from the OS's CSPRNG).
    let random = u128::from_str_radix(&gatehouse_core::ids::hex_key(10), 16).unwrap_or(0);
    let mut value = ((millis & ((1u128 << 48) - 1)) << 80) | random;
    // 58^22 > 2^128: 22 digits hold any value.
    let mut digits = [b'1'; 22];
    for d in digits.iter_mut().rev() {
        *d = BASE58[(value % 58) as usize];
        value /= 58;
    }
    format!("{prefix}_{}", String::from_utf8_lossy(&digits))
}

/// `obj`'s keys in `order` first, the others after in their order.
pub(crate) fn ordered(obj: &mut Map<String, Value>, order: &[&str]) {
    let mut out = Map::new();
    for k in order {
        if let Some(v) = obj.shift_remove(*k) {
            out.insert((*k).to_owned(), v);
        }
    }
    out.extend(std::mem::take(obj));
    *obj = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_time() {
        let value = |id: &str| {
            id[4..].bytes().fold(0u128, |n, c| {
                n * 58 + BASE58.iter().position(|&x| x == c).unwrap_or(99) as u128
            })
        };
        let a = time_ordered_id("uap");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = time_ordered_id("uap");
        assert_eq!(a.len(), 26);
        assert!(a[4..].bytes().all(|c| BASE58.contains(&c)));
        assert!(value(&a) < value(&b), "{a} < {b}");
        // As Auth0's of these years: `1c…`.
        assert!(a.starts_with("uap_1c"), "{a}");
    }

    #[test]
    fn ordered_puts_named_keys_first() {
        let mut o = serde_json::json!({"b": 1, "x": 2, "a": 3});
        if let Value::Object(m) = &mut o {
            ordered(m, &["a", "b"]);
        }
        assert_eq!(o.to_string(), r#"{"a":3,"b":1,"x":2}"#);
    }
}
