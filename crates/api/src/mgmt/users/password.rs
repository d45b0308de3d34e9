//! A database connection's password policy, as its options describe it: Auth0's legacy options
//! (`passwordPolicy`, `password_complexity_options`, `password_dictionary`,
//! `password_no_personal_info`, `password_history`) and the newer `password_options` object.
//!
//! Levels (Auth0's documented rules): `none` 1 character; `low` 6; `fair` 8 with lower case,
//! upper case and digits; `good` 8 with three of lower case, upper case, digits and special
//! characters; `excellent` 10 with three of the four and no more than two identical characters
//! in a row. The dictionary is the list of the most common passwords below plus the
//! connection's own words.

use std::{collections::HashSet, sync::LazyLock};

use serde_json::Value;

use gatehouse_core::Error;

/// Openwall's list of common passwords (public domain, 3,546 entries: John the Ripper's
/// `password.lst`, 2011), one per line; `#!comment:` lines are its header.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    COMMON_PASSWORDS
        .lines()
        .filter(|l| !l.starts_with("#!comment:") && !l.is_empty())
        .map(str::to_lowercase)
        .collect()
});

/// bcrypt reads 72 bytes; Auth0 refuses longer passwords.
pub const MAX_BYTES: usize = 72;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassRule {
    /// No requirement.
    None,
    /// Lower case, upper case and digits.
    LowerUpperDigit,
    /// Three of lower case, upper case, digits and special characters.
    ThreeOfFour,
    /// Every class listed.
    All(u8),
}

const LOWER: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 4;
const SPECIAL: u8 = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    min_length: usize,
    classes: ClassRule,
    no_triple_repeat: bool,
    dictionary: Option<Vec<String>>,
    no_personal_info: bool,
    /// How many earlier passwords may not be reused (0: no history).
    pub history_size: usize,
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn enabled(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool) == Some(true)
}

impl Policy {
    /// The policy of a connection from its `options` (`Null` when it has none).
    pub fn from_options(o: &Value) -> Self {
        let level = o
            .get("passwordPolicy")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let (mut min_length, mut classes, mut no_triple_repeat) = match level {
            "low" => (6, ClassRule::None, false),
            "fair" => (8, ClassRule::LowerUpperDigit, false),
            "good" => (8, ClassRule::ThreeOfFour, false),
            "excellent" => (10, ClassRule::ThreeOfFour, true),
            _ => (1, ClassRule::None, false),
        };
        if let Some(n) =
            get(o, &["password_complexity_options", "min_length"]).and_then(Value::as_u64)
        {
            min_length = n as usize;
        }
        // The newer shape: password_options.complexity.
        if let Some(c) = get(o, &["password_options", "complexity"]) {
            if let Some(n) = c.get("min_length").and_then(Value::as_u64) {
                min_length = n as usize;
            }
            let types = c
                .get("character_types")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter().filter_map(Value::as_str).fold(0u8, |m, t| {
                        m | match t {
                            "lowercase" => LOWER,
                            "uppercase" => UPPER,
                            "number" => DIGIT,
                            "special" => SPECIAL,
                            _ => 0,
                        }
                    })
                })
                .unwrap_or(0);
            if types != 0 {
                classes = match c.get("character_type_rule").and_then(Value::as_str) {
                    Some("three_of_four") => ClassRule::ThreeOfFour,
                    _ => ClassRule::All(types),
                };
            }
            if c.get("identical_characters").and_then(Value::as_str) == Some("block") {
                no_triple_repeat = true;
            }
        }
        let mut dictionary = None;
        if enabled(o, &["password_dictionary", "enable"]) {
            dictionary = Some(words(get(o, &["password_dictionary", "dictionary"])));
        }
        if enabled(o, &["password_options", "dictionary", "active"]) {
            dictionary = Some(words(get(o, &["password_options", "dictionary", "custom"])));
        }
        let no_personal_info = enabled(o, &["password_no_personal_info", "enable"])
            || enabled(o, &["password_options", "profile_data", "active"]);
        let mut history_size = 0;
        if enabled(o, &["password_history", "enable"]) {
            history_size = get(o, &["password_history", "size"])
                .and_then(Value::as_u64)
                .unwrap_or(5) as usize;
        }
        if enabled(o, &["password_options", "history", "active"]) {
            history_size = get(o, &["password_options", "history", "size"])
                .and_then(Value::as_u64)
                .unwrap_or(5) as usize;
        }
        Self {
            min_length: min_length.max(1),
            classes,
            no_triple_repeat,
            dictionary,
            no_personal_info,
            history_size: history_size.min(24),
        }
    }

    /// Checks a new password; `personal` are the user's name, nickname, username, e-mail local
    /// part and the like (used when the connection forbids personal data in passwords).
    pub fn check(&self, password: &str, personal: &[&str]) -> Result<(), Error> {
        if !self.strong_enough(password) {
            return Err(Error::bad_body(
                "PasswordStrengthError: Password is too weak",
            ));
        }
        if let Some(custom) = &self.dictionary {
            let lower = password.to_lowercase();
            if COMMON.contains(&lower) || custom.contains(&lower) {
                return Err(Error::bad_body(
                    "PasswordDictionaryError: Password is too common",
                ));
            }
        }
        if self.no_personal_info {
            let lower = password.to_lowercase();
            if personal
                .iter()
                .map(|p| p.trim().to_lowercase())
                .any(|p| p.chars().count() >= 3 && lower.contains(&p))
            {
                return Err(Error::bad_body(
                    "PasswordNoUserInfoError: Password contains user information",
                ));
            }
        }
        Ok(())
    }

    fn strong_enough(&self, password: &str) -> bool {
        if password.chars().count() < self.min_length || password.len() > MAX_BYTES {
            return false;
        }
        let mut seen = 0u8;
        for c in password.chars() {
            seen |= if c.is_ascii_lowercase() {
                LOWER
            } else if c.is_ascii_uppercase() {
                UPPER
            } else if c.is_ascii_digit() {
                DIGIT
            } else if c.is_ascii_punctuation() || c == ' ' {
                SPECIAL
            } else {
                0
            };
        }
        let classes_ok = match self.classes {
            ClassRule::None => true,
            ClassRule::LowerUpperDigit => seen & (LOWER | UPPER | DIGIT) == LOWER | UPPER | DIGIT,
            ClassRule::ThreeOfFour => seen.count_ones() >= 3,
            ClassRule::All(mask) => seen & mask == mask,
        };
        classes_ok && !(self.no_triple_repeat && has_triple(password))
    }
}

fn words(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

/// More than two identical characters in a row.
fn has_triple(s: &str) -> bool {
    let cs: Vec<char> = s.chars().collect();
    cs.windows(3).any(|w| w[0] == w[1] && w[1] == w[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn level(l: &str) -> Policy {
        Policy::from_options(&json!({ "passwordPolicy": l }))
    }

    fn ok(p: &Policy, pw: &str) -> bool {
        p.check(pw, &[]).is_ok()
    }

    #[test]
    fn levels_follow_auth0_rules() {
        let none = Policy::from_options(&Value::Null);
        assert!(ok(&none, "a"));
        assert!(!ok(&level("low"), "abcde") && ok(&level("low"), "abcdef"));
        let fair = level("fair");
        assert!(!ok(&fair, "abcdefg1") && !ok(&fair, "Abcdefg") && ok(&fair, "Abcdefg1"));
        let good = level("good");
        assert!(ok(&good, "passpass$12$12") && ok(&good, "MyPass123$"));
        assert!(!ok(&good, "password12") && !ok(&good, "Pa$1"));
        let ex = level("excellent");
        assert!(!ok(&ex, "Abcdefg1!") && ok(&ex, "Abcdefgh1!"));
        assert!(
            !ok(&ex, "Abcdefggg1!"),
            "three identical characters in a row"
        );
        assert!(ok(&ex, "Abcdefgg1!x"));
        assert_eq!(
            good.check("short", &[]).unwrap_err().body()["message"],
            "PasswordStrengthError: Password is too weak"
        );
        assert!(!ok(&none, &"x".repeat(73)));
    }

    #[test]
    fn min_length_dictionary_and_personal_info() {
        let p = Policy::from_options(&json!({
            "passwordPolicy": "low",
            "password_complexity_options": {"min_length": 12},
            "password_dictionary": {"enable": true, "dictionary": ["Gatehouse-Secret"]},
            "password_no_personal_info": {"enable": true},
            "password_history": {"enable": true, "size": 3}
        }));
        assert!(!ok(&p, "abcdefghijk") && ok(&p, "abcdefghijkl"));
        let e = p.check("qwertyuiopas", &[]);
        assert!(e.is_ok(), "not in the list");
        let e = p.check("1234567890ab", &[]).map_err(|e| e.body());
        assert!(e.is_ok());
        assert_eq!(
            p.check("gatehouse-secret", &[]).unwrap_err().body()["message"],
            "PasswordDictionaryError: Password is too common"
        );
        let common = Policy::from_options(&json!({"password_dictionary": {"enable": true}}));
        assert!(!ok(&common, "password1") && !ok(&common, "Password1"));
        assert!(ok(&common, "x9!fQ2#mw"));
        assert_eq!(
            p.check("my-alice-password", &["alice", "x"])
                .unwrap_err()
                .body()["message"],
            "PasswordNoUserInfoError: Password contains user information"
        );
        assert_eq!(p.history_size, 3);
    }

    #[test]
    fn newer_password_options_shape() {
        let p = Policy::from_options(&json!({"password_options": {"complexity": {
            "min_length": 15, "character_types": ["uppercase", "number"],
            "character_type_rule": "all", "identical_characters": "block"}}}));
        assert!(!ok(&p, "abcdefghijklmn1X"[..14].as_ref()));
        assert!(!ok(&p, "abcdefghijklmnop1"), "no upper case");
        assert!(ok(&p, "abcdefghijklmnoP1"));
        assert!(!ok(&p, "abcdefghijklmmmP1"));
    }
}
