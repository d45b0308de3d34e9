//! `options.configuration` of a connection holds secrets (for custom database scripts). They are
//! stored as given, but, as Auth0 does, the API only ever shows them encrypted: AES-256-GCM under
//! a per-tenant key, bound to the connection and the setting's name. A value sent back exactly as
//! shown (a read-modify-write client) is recognised and keeps the stored secret.

use anyhow::Context;
use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_store::{Exec, docs};

const KIND: &str = "gatehouse";
const ID: &str = "connection_configuration_key";

pub struct Secrets {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Secrets {
    fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow::anyhow!("bad connection configuration key"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[1u8; 32]).unwrap()),
            rng: SystemRandom::new(),
        }
    }

    /// The tenant's key, made on first use (by whichever request comes first: the others read it).
    pub async fn load(x: &impl Exec, tenant: &str) -> Result<Self, Error> {
        let doc = match docs::get(x, tenant, KIND, ID)
            .await
            .context("reading the configuration key")?
        {
            Some(doc) => doc,
            None => {
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| anyhow::anyhow!("no randomness for the configuration key"))?;
                docs::insert_or_get(
                    x,
                    tenant,
                    KIND,
                    ID,
                    &json!({"key": STANDARD.encode(bytes)}),
                    &time::now(),
                )
                .await
                .context("storing the configuration key")?
            }
        };
        let key = doc
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("the configuration key document has no key"))?;
        let bytes = STANDARD
            .decode(key)
            .context("decoding the configuration key")?;
        Self::from_bytes(&bytes)
    }

    fn aad(connection_id: &str, name: &str) -> Vec<u8> {
        format!("{connection_id}\u{0}{name}").into_bytes()
    }

    fn seal(&self, connection_id: &str, name: &str, value: &str) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut data = value.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(connection_id, name)),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend(data);
        Some(STANDARD.encode(out))
    }

    fn open(&self, connection_id: &str, name: &str, shown: &str) -> Option<String> {
        let raw = STANDARD.decode(shown).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(
                nonce,
                Aad::from(Self::aad(connection_id, name)),
                &mut sealed,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    /// `options` as shown: every configuration string encrypted.
    pub fn hide(&self, connection_id: &str, options: &mut Value) {
        let Some(cfg) = options
            .get_mut("configuration")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        for (name, v) in cfg.iter_mut() {
            if let Some(s) = v.as_str()
                && let Some(sealed) = self.seal(connection_id, name, s)
            {
                *v = json!(sealed);
            }
        }
    }

    /// A configuration as sent: values that are what this server showed become the secrets again.
    pub fn reveal(&self, connection_id: &str, options: &mut Map<String, Value>) {
        let Some(cfg) = options
            .get_mut("configuration")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        for (name, v) in cfg.iter_mut() {
            if let Some(s) = v.as_str()
                && let Some(plain) = self.open(connection_id, name, s)
            {
                *v = json!(plain);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bound_to_connection_and_name() {
        let s = Secrets::from_bytes(&[7u8; 32]).unwrap();
        let mut o = json!({"configuration": {"foo": "bar", "n": 1}});
        s.hide("con_1", &mut o);
        let shown = o["configuration"]["foo"].as_str().unwrap().to_owned();
        assert_ne!(shown, "bar");
        assert!(!shown.contains("bar"));
        assert_eq!(o["configuration"]["n"], 1);
        let mut again = json!({"configuration": {"foo": "bar"}});
        s.hide("con_1", &mut again);
        assert_ne!(again["configuration"]["foo"], json!(shown));

        let mut back = Map::new();
        back.insert(
            "configuration".into(),
            json!({"foo": shown, "new": "plain"}),
        );
        s.reveal("con_1", &mut back);
        assert_eq!(back["configuration"], json!({"foo": "bar", "new": "plain"}));
        let mut elsewhere = Map::new();
        elsewhere.insert("configuration".into(), json!({"foo": shown}));
        s.reveal("con_2", &mut elsewhere);
        assert_eq!(elsewhere["configuration"]["foo"], json!(shown));
    }
}
