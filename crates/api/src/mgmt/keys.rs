//! Tag `keys`: the tenant's application signing keys (list, read, rotate, revoke), its
//! encryption-key hierarchy (list, read, rekey, bring your own root or tenant key through a
//! public wrapping key) and its custom signing keys (a JWKS of public keys).
//!
//! Signing keys: a tenant always has a current key and a next key, both in the JWKS; rotating
//! makes the next key current (it signs from then on), the current one previous, and publishes a
//! new next key; only a previous key can be revoked, and its tokens stop verifying at once here
//! and within [`crate::keyring::REFRESH_EVERY`] on the other instances. Private keys and key
//! material never appear in a reply.
//!
//! Encryption keys are bookkeeping of the hierarchy Auth0 shows: Gatehouse encrypts nothing with
//! them, so an imported key's material is checked (unwrapped) and then dropped, never stored.

use aws_lc_rs::{
    encoding::AsDer,
    key_wrap::{AES_128, AES_256, AesKek, KeyWrapPadded},
    rsa::{KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{atomically, docs, keys, keys::EncryptionKeyRow};

use crate::{
    keyring,
    spine::{Ctx, Input, Registry, Reply, page::Paging},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetSigningKeys, get_signing_keys);
    reg.add(Op::GetSigningKey, get_signing_key);
    reg.add(Op::PostSigningKeys, post_signing_keys);
    reg.add(Op::PutSigningKeys, put_signing_keys);
    reg.add(Op::GetEncryptionKeys, get_encryption_keys);
    reg.add(Op::PostEncryption, post_encryption);
    reg.add(Op::PostEncryptionRekey, post_encryption_rekey);
    reg.add(Op::GetEncryptionKey, get_encryption_key);
    reg.add(Op::DeleteEncryptionKey, delete_encryption_key);
    reg.add(Op::PostEncryptionKey, post_encryption_key);
    reg.add(Op::PostEncryptionWrappingKey, post_encryption_wrapping_key);
    reg.add(Op::GetCustomSigningKeys, get_custom_signing_keys);
    reg.add(Op::PutCustomSigningKeys, put_custom_signing_keys);
    reg.add(Op::DeleteCustomSigningKeys, delete_custom_signing_keys);
}

// ---- signing keys -------------------------------------------------------------------------------

/// The revoke operation's 404 (the spec's wording); also a read of an unknown key.
fn signing_key_not_found() -> Error {
    Error::NotFound("Signing key not found".into())
}

async fn get_signing_keys(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let stored = keys::list_signing_keys(ctx.db(), ctx.tenant_id()).await?;
    Ok(Reply::json(Value::Array(
        stored.keys.iter().map(keyring::render).collect(),
    )))
}

async fn get_signing_key(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kid = input.path("kid");
    let stored = keys::list_signing_keys(ctx.db(), ctx.tenant_id()).await?;
    let key = stored
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(signing_key_not_found)?;
    Ok(Reply::json(keyring::render(key)))
}

/// The next key becomes current, the current one previous, and a new next key is published.
/// Answers the key that is current now.
async fn post_signing_keys(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let issuer = ctx.tenant.issuer.clone();
    let created = time::now();
    // RSA key generation takes a while: off the async workers, before any lock is taken.
    let fresh = tokio::task::spawn_blocking(move || keyring::new_signing_key(&issuer, &created))
        .await
        .map_err(|e| Error::Internal(e.into()))??;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let fresh = &fresh;
    let (stored, promoted) = atomically(|| async move {
        let tx = db.begin().await?;
        let mut stored = keys::find_signing_keys_for_update(&tx, tenant).await?;
        let now = time::now();
        let next_at = stored
            .keys
            .iter()
            .position(|k| k.next && !k.revoked)
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("the tenant has no next signing key"))
            })?;
        for k in stored.keys.iter_mut().filter(|k| k.current) {
            k.current = false;
            k.current_until = Some(now.clone());
        }
        let promoted = {
            let k = &mut stored.keys[next_at];
            k.next = false;
            k.current = true;
            k.current_since = Some(now.clone());
            k.clone()
        };
        let mut next = fresh.clone();
        next.next = true;
        stored.keys.push(next);
        stored.generation = keys::save_signing_keys(&tx, tenant, &stored).await?;
        tx.commit().await?;
        Ok::<_, Error>((stored.into_inner(), promoted))
    })
    .await?;
    keyring::apply(&ctx.tenant, &ctx.state.token_cache, &stored)?;
    Ok(Reply::json(keyring::render(&promoted)))
}

/// Revokes a previous key: it leaves the JWKS and the verifier, and tokens it signed are refused
/// from now on (the verified-token cache included). The current and the next key cannot be
/// revoked (Auth0's documentation: "You can only revoke the previously used signing key";
/// the wording of its refusal is not recorded).
async fn put_signing_keys(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kid = input.path("kid");
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (stored, revoked, changed) = atomically(|| async move {
        let tx = db.begin().await?;
        let mut stored = keys::find_signing_keys_for_update(&tx, tenant).await?;
        let key = stored
            .keys
            .iter_mut()
            .find(|k| k.kid == kid)
            .ok_or_else(signing_key_not_found)?;
        if key.current || key.next {
            return Err(Error::BadRequestPlain(
                "Only a previously used signing key can be revoked: rotate the signing keys first"
                    .into(),
            ));
        }
        if key.revoked {
            let key = key.clone();
            return Ok((stored.into_inner(), key, false));
        }
        key.revoked = true;
        key.revoked_at = Some(time::now());
        let revoked = key.clone();
        stored.generation = keys::save_signing_keys(&tx, tenant, &stored).await?;
        tx.commit().await?;
        Ok::<_, Error>((stored.into_inner(), revoked, true))
    })
    .await?;
    if changed {
        keyring::apply(&ctx.tenant, &ctx.state.token_cache, &stored)?;
    }
    Ok(Reply::json(keyring::render(&revoked)))
}

// ---- encryption keys ----------------------------------------------------------------------------

pub const ENVIRONMENT_ROOT: &str = "environment-root-key";
pub const CUSTOMER_ROOT: &str = "customer-provided-root-key";
pub const TENANT_MASTER: &str = "tenant-master-key";
pub const TENANT_ENCRYPTION: &str = "tenant-encryption-key";

const ACTIVE: &str = "active";
const PENDING: &str = "pre-activation";
const DESTROYED: &str = "destroyed";

/// A new key of the hierarchy (a UUID `kid`, as Auth0's).
pub fn encryption_key(
    kind: &str,
    state: &str,
    parent: Option<String>,
    now: &str,
) -> EncryptionKeyRow {
    EncryptionKeyRow {
        kid: ids::uuid_v4(),
        kind: kind.to_owned(),
        state: state.to_owned(),
        parent_kid: parent,
        public_key: None,
        wrapping_der: None,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        seq: gatehouse_store::seq_now(),
    }
}

/// As Auth0 shows a key; never the wrapping key's private half.
fn render_encryption(k: &EncryptionKeyRow) -> Value {
    json!({
        "kid": k.kid,
        "type": k.kind,
        "state": k.state,
        "created_at": k.created_at,
        "updated_at": k.updated_at,
        "parent_kid": k.parent_kid,
        "public_key": k.public_key,
    })
}

/// The spec's 400 for a path `kid` that is not a UUID.
fn check_uuid(kid: &str) -> Result<(), Error> {
    let ok = kid.len() == 36
        && kid.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidUri("Invalid UUID format in uri.".into()))
    }
}

fn unsupported_key() -> Error {
    Error::BadRequestPlain("Invalid key id or unsupported key type.".into())
}

fn destroy(k: &mut EncryptionKeyRow, now: &str) {
    k.state = DESTROYED.to_owned();
    k.public_key = None;
    k.wrapping_der = None;
    k.updated_at = now.to_owned();
}

/// The tenant-level key in use (a tenant master key, or an imported tenant encryption key).
fn is_active_tenant_key(k: &EncryptionKeyRow) -> bool {
    k.state == ACTIVE && (k.kind == TENANT_MASTER || k.kind == TENANT_ENCRYPTION)
}

fn is_active_root(k: &EncryptionKeyRow) -> bool {
    k.state == ACTIVE && (k.kind == ENVIRONMENT_ROOT || k.kind == CUSTOMER_ROOT)
}

/// Destroys the tenant-level key in use and puts a new tenant master key under `root`.
fn new_master_key(all: &mut Vec<EncryptionKeyRow>, root: Option<String>, now: &str) {
    for k in all.iter_mut().filter(|k| is_active_tenant_key(k)) {
        destroy(k, now);
    }
    all.push(encryption_key(TENANT_MASTER, ACTIVE, root, now));
}

/// Runs `change` over the tenant's locked encryption keys and writes what it changed.
async fn change_encryption_keys<T>(
    ctx: &Ctx,
    change: impl Fn(&mut Vec<EncryptionKeyRow>, &str) -> Result<T, Error>,
) -> Result<T, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let change = &change;
    atomically(|| async move {
        let tx = db.begin().await?;
        let mut all = keys::find_encryption_keys_for_update(&tx, tenant).await?;
        let before = all.clone().into_inner();
        let out = change(&mut all, &time::now())?;
        keys::save_encryption_keys(&tx, tenant, &all, &before).await?;
        tx.commit().await?;
        Ok::<_, Error>(out)
    })
    .await
}

async fn get_encryption_keys(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let paging = Paging::from_query(&input.query);
    let (rows, total) =
        keys::list_encryption_keys(ctx.db(), ctx.tenant_id(), paging.store_page()).await?;
    Ok(Reply::json(paging.reply(
        "keys",
        rows.iter().map(render_encryption).collect(),
        total,
    )))
}

async fn get_encryption_key(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kid = input.path("kid");
    check_uuid(kid)?;
    let key = keys::find_encryption_key(ctx.db(), ctx.tenant_id(), kid)
        .await?
        .ok_or_else(|| Error::NotFound("The key does not exist.".into()))?;
    Ok(Reply::json(render_encryption(&key)))
}

/// A customer root key or tenant encryption key, pending until its material is imported.
async fn post_encryption(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kind = input
        .body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind != CUSTOMER_ROOT && kind != TENANT_ENCRYPTION {
        return Err(Error::bad_body(
            "Request body is invalid. Unsupported key \"type\" provided.",
        ));
    }
    let key = change_encryption_keys(&ctx, |all, now| {
        if all.iter().any(|k| k.kind == kind && k.state == PENDING) {
            return Err(Error::ConflictPlain(
                "Encryption key has already been created.".into(),
            ));
        }
        let key = encryption_key(&kind, PENDING, None, now);
        all.push(key.clone());
        Ok(key)
    })
    .await?;
    Ok(Reply::json(render_encryption(&key)))
}

/// A new tenant master key replaces the one in use, under the same root.
async fn post_encryption_rekey(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    change_encryption_keys(&ctx, |all, now| {
        let root = all
            .iter()
            .find(|k| is_active_root(k))
            .map(|k| k.kid.clone());
        new_master_key(all, root, now);
        Ok(())
    })
    .await?;
    Ok(Reply::empty())
}

/// Deletes a customer-provided key: the tenant goes back to a native root key (a new
/// environment root key with a new master key under it); a tenant encryption key gives way to a
/// new master key under the root in use.
async fn delete_encryption_key(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kid = input.path("kid").to_owned();
    check_uuid(&kid)?;
    change_encryption_keys(&ctx, |all, now| {
        let at = all
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(unsupported_key)?;
        let key = &all[at];
        if key.kind != CUSTOMER_ROOT && key.kind != TENANT_ENCRYPTION {
            return Err(unsupported_key());
        }
        let (was_active, kind) = (key.state == ACTIVE, key.kind.clone());
        if key.state == DESTROYED {
            return Ok(());
        }
        destroy(&mut all[at], now);
        if !was_active {
            return Ok(());
        }
        if kind == CUSTOMER_ROOT {
            let root = encryption_key(ENVIRONMENT_ROOT, ACTIVE, None, now);
            let root_kid = root.kid.clone();
            all.push(root);
            new_master_key(all, Some(root_kid), now);
        } else {
            let root = all
                .iter()
                .find(|k| is_active_root(k))
                .map(|k| k.kid.clone());
            new_master_key(all, root, now);
        }
        Ok(())
    })
    .await?;
    Ok(Reply::empty())
}

/// An RSA public wrapping key (PEM) for a pending key's material, to wrap with
/// `CKM_RSA_AES_KEY_WRAP` (RSA-OAEP SHA-256 of an ephemeral AES key, then AES key wrap with
/// padding of the material).
async fn post_encryption_wrapping_key(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kid = input.path("kid").to_owned();
    check_uuid(&kid)?;
    let (private_der, public_pem) = tokio::task::spawn_blocking(new_wrapping_key)
        .await
        .map_err(|e| Error::Internal(e.into()))??;
    let public_key = change_encryption_keys(&ctx, |all, now| {
        let key = all
            .iter_mut()
            .find(|k| k.kid == kid && (k.kind == CUSTOMER_ROOT || k.kind == TENANT_ENCRYPTION))
            .ok_or_else(unsupported_key)?;
        if key.state != PENDING {
            return Err(Error::ConflictPlain(
                "Failed precondition. Create new encryption key without the key material first."
                    .into(),
            ));
        }
        key.wrapping_der = Some(private_der.clone());
        key.public_key = Some(public_pem.clone());
        key.updated_at = now.to_owned();
        Ok(public_pem.clone())
    })
    .await?;
    Ok(Reply::json(
        json!({"public_key": public_key, "algorithm": "CKM_RSA_AES_KEY_WRAP"}),
    ))
}

/// Imports the wrapped material of a pending key, which becomes active: a customer root key
/// replaces the root in use (and a new master key goes under it); a tenant encryption key
/// replaces the master key in use.
async fn post_encryption_key(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let kid = input.path("kid").to_owned();
    check_uuid(&kid)?;
    let wrapped = input
        .body
        .get("wrapped_key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let key = keys::find_encryption_key(ctx.db(), ctx.tenant_id(), &kid)
        .await?
        .ok_or_else(|| Error::BadRequestPlain("The key ID was not found.".into()))?;
    let precondition = || {
        Error::ConflictPlain(
            "Failed precondition. Key import not in progress or unable to find the wrapping key. Make sure you have followed all the steps to import a key."
                .into(),
        )
    };
    let Some(wrapping) = key.wrapping_der.clone().filter(|_| key.state == PENDING) else {
        return Err(precondition());
    };
    // Checked, then dropped: nothing here encrypts with it.
    tokio::task::spawn_blocking(move || unwrap_material(&wrapping, &wrapped))
        .await
        .map_err(|e| Error::Internal(e.into()))??;
    let wrapping_used = key.wrapping_der.clone();
    let imported = change_encryption_keys(&ctx, |all, now| {
        let at = all
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| Error::BadRequestPlain("The key ID was not found.".into()))?;
        // Another import or a new wrapping key got there first.
        if all[at].state != PENDING || all[at].wrapping_der != wrapping_used {
            return Err(precondition());
        }
        let kind = all[at].kind.clone();
        if kind == CUSTOMER_ROOT {
            for k in all.iter_mut().filter(|k| is_active_root(k)) {
                destroy(k, now);
            }
        }
        let root = all
            .iter()
            .find(|k| is_active_root(k))
            .map(|k| k.kid.clone());
        {
            let k = &mut all[at];
            k.state = ACTIVE.to_owned();
            k.public_key = None;
            k.wrapping_der = None;
            k.updated_at = now.to_owned();
            if kind == TENANT_ENCRYPTION {
                k.parent_kid = root.clone();
            }
        }
        if kind == CUSTOMER_ROOT {
            new_master_key(all, Some(kid.clone()), now);
        } else {
            for k in all
                .iter_mut()
                .filter(|k| is_active_tenant_key(k) && k.kid != kid)
            {
                destroy(k, now);
            }
        }
        Ok(all[at].clone())
    })
    .await?;
    Ok(Reply::json(render_encryption(&imported)))
}

/// An RSA-4096 wrapping key: its private half (PKCS#8 DER, base64) and its public half (PEM).
fn new_wrapping_key() -> Result<(String, String), Error> {
    let private = PrivateDecryptingKey::generate(KeySize::Rsa4096)
        .map_err(|_| Error::Internal(anyhow::anyhow!("RSA key generation failed")))?;
    let der = private
        .as_der()
        .map_err(|_| Error::Internal(anyhow::anyhow!("RSA key encoding failed")))?;
    let public = private
        .public_key()
        .as_der()
        .map_err(|_| Error::Internal(anyhow::anyhow!("RSA key encoding failed")))?;
    let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", public.as_ref().to_vec()));
    Ok((STANDARD.encode(der.as_ref()), pem))
}

/// Unwraps `CKM_RSA_AES_KEY_WRAP` ciphertext (base64) with the stored wrapping key: the first
/// modulus-length bytes are the RSA-OAEP (SHA-256) encrypted AES key, the rest the material
/// under AES key wrap with padding (RFC 5649). The material must be a 256-bit key.
fn unwrap_material(wrapping_der: &str, wrapped_b64: &str) -> Result<Vec<u8>, Error> {
    let invalid = || {
        Error::BadRequestPlain(
            "Invalid input. Wrapped key material is invalid or unsupported key type.".into(),
        )
    };
    let der = STANDARD
        .decode(wrapping_der)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored wrapping key: {e}")))?;
    let private = PrivateDecryptingKey::from_pkcs8(&der)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored wrapping key: {e}")))?;
    let modulus = private.key_size_bytes();
    let wrapped = STANDARD.decode(wrapped_b64.trim()).map_err(|_| invalid())?;
    if wrapped.len() <= modulus {
        return Err(invalid());
    }
    let (rsa_part, aes_part) = wrapped.split_at(modulus);
    let oaep = OaepPrivateDecryptingKey::new(private)
        .map_err(|_| Error::Internal(anyhow::anyhow!("OAEP key")))?;
    let mut buf = vec![0u8; oaep.min_output_size()];
    let ephemeral = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa_part, &mut buf, None)
        .map_err(|_| invalid())?;
    let kek = match ephemeral.len() {
        16 => AesKek::new(&AES_128, ephemeral),
        32 => AesKek::new(&AES_256, ephemeral),
        _ => return Err(invalid()),
    }
    .map_err(|_| invalid())?;
    let mut out = vec![0u8; aes_part.len()];
    let material = kek
        .unwrap_with_padding(aes_part, &mut out)
        .map_err(|_| invalid())?;
    if material.len() != 32 {
        return Err(invalid());
    }
    Ok(material.to_vec())
}

// ---- custom signing keys ------------------------------------------------------------------------

const CUSTOM_KIND: &str = "custom_signing_keys";
const CUSTOM_ID: &str = "jwks";

async fn get_custom_signing_keys(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let keys = docs::get(ctx.db(), ctx.tenant_id(), CUSTOM_KIND, CUSTOM_ID)
        .await?
        .ok_or_else(|| {
            Error::NotFound(
                "No custom signing keys found for this tenant. Upload custom signing keys first."
                    .into(),
            )
        })?;
    Ok(Reply::json(keys))
}

/// Replaces the whole set. The schema admits public members only; each key must carry what its
/// type needs to verify a signature.
async fn put_custom_signing_keys(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let list = input
        .body
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, k) in list.iter().enumerate() {
        let needs: &[&str] = match k.get("kty").and_then(Value::as_str) {
            Some("RSA") => &["n", "e"],
            Some("EC") => &["crv", "x", "y"],
            _ => &[],
        };
        if let Some(missing) = needs.iter().find(|m| k.get(**m).is_none()) {
            return Err(Error::bad_body(format!(
                "Payload validation error: 'Missing required property: {missing}' on property keys[{i}]."
            )));
        }
    }
    let body = json!({ "keys": list });
    docs::put(
        ctx.db(),
        ctx.tenant_id(),
        CUSTOM_KIND,
        CUSTOM_ID,
        &body,
        &time::now(),
    )
    .await?;
    Ok(Reply::json(body))
}

async fn delete_custom_signing_keys(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    docs::delete(ctx.db(), ctx.tenant_id(), CUSTOM_KIND, CUSTOM_ID).await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    use super::*;

    /// What a customer does with the public wrapping key (`CKM_RSA_AES_KEY_WRAP`).
    fn wrap(public_pem: &str, ephemeral: &[u8], material: &[u8]) -> String {
        let spki = pem::parse(public_pem).unwrap();
        let public = PublicEncryptingKey::from_der(spki.contents()).unwrap();
        let oaep = OaepPublicEncryptingKey::new(public).unwrap();
        let mut rsa = vec![0u8; oaep.ciphertext_size()];
        let rsa = oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, ephemeral, &mut rsa, None)
            .unwrap()
            .to_vec();
        let kek = AesKek::new(&AES_256, ephemeral).unwrap();
        let mut aes = vec![0u8; material.len() + 16];
        let aes = kek.wrap_with_padding(material, &mut aes).unwrap().to_vec();
        STANDARD.encode([rsa, aes].concat())
    }

    #[test]
    fn unwraps_rsa_aes_key_wrap_and_refuses_the_rest() {
        let (private, public) = new_wrapping_key().unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let material = [7u8; 32];
        let wrapped = wrap(&public, &[9u8; 32], &material);
        assert_eq!(unwrap_material(&private, &wrapped).unwrap(), material);

        let short = wrap(&public, &[9u8; 32], &[7u8; 16]);
        assert!(matches!(
            unwrap_material(&private, &short),
            Err(Error::BadRequestPlain(_))
        ));
        let (other, _) = new_wrapping_key().unwrap();
        assert!(matches!(
            unwrap_material(&other, &wrapped),
            Err(Error::BadRequestPlain(_))
        ));
        assert!(matches!(
            unwrap_material(&private, "not base64!"),
            Err(Error::BadRequestPlain(_))
        ));
        assert!(matches!(
            unwrap_material(&private, "AAAA"),
            Err(Error::BadRequestPlain(_))
        ));
    }

    #[test]
    fn uuid_check() {
        assert!(check_uuid("c178a38a-8111-480b-a54f-a3dfea118773").is_ok());
        assert!(check_uuid("c178a38a-8111-480b-a54f-a3dfea11877").is_err());
        assert!(check_uuid("c178a38a08111-480b-a54f-a3dfea118773").is_err());
    }
}
