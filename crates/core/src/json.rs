//! Small readers of JSON values shared by the crates.

use serde_json::Value;

/// The strings of a JSON array (other items and non-arrays give none).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_of_an_array() {
        assert_eq!(strings(&json!(["a", 1, "b"])), vec!["a", "b"]);
        assert!(strings(&json!({"a": 1})).is_empty());
    }
}
