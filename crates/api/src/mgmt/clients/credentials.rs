//! `/clients/{client_id}/credentials`: public keys and certificates a client authenticates with.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use x509_parser::{prelude::FromDer, x509::SubjectPublicKeyInfo, x509::X509Name};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Exec, atomically, clients, clients::ClientRow, clients::CredentialRow};

use super::super::{
    common::order_keys,
    pem::{Pem, jwk_thumbprint, parse_cert, parse_pem},
};
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetCredentials, get_credentials);
    reg.add(Op::PostCredentials, post_credentials);
    reg.add(
        Op::GetCredentialsByCredentialId,
        get_credentials_by_credential_id,
    );
    reg.add(
        Op::PatchCredentialsByCredentialId,
        patch_credentials_by_credential_id,
    );
    reg.add(
        Op::DeleteCredentialsByCredentialId,
        delete_credentials_by_credential_id,
    );
}

const ORDER: &[&str] = &[
    "id",
    "credential_type",
    "kid",
    "alg",
    "name",
    "subject_dn",
    "thumbprint_sha256",
    "created_at",
    "updated_at",
    "expires_at",
];

fn inexistent_client() -> Error {
    Error::not_found("inexistent_client", "The client does not exist")
}

fn inexistent_credential() -> Error {
    Error::not_found("inexistent_credential", "Credential does not exist")
}

/// The subject of a certificate as Auth0 writes it: one `TYPE=value` per line.
fn subject_dn(name: &X509Name<'_>) -> String {
    name.iter_attributes()
        .map(|a| {
            let oid = a.attr_type().to_id_string();
            let short = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.9" => "STREET",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "2.5.4.5" => "serialNumber",
                "0.9.2342.19200300.100.1.25" => "DC",
                "0.9.2342.19200300.100.1.1" => "UID",
                "1.2.840.113549.1.9.1" => "emailAddress",
                _ => oid.as_str(),
            }
            .to_owned();
            let value = a
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|_| hex::encode(a.attr_value().data));
            format!("{short}={value}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn format_unix(secs: i64) -> Result<String, Error> {
    let t = ::time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| Error::bad_body("The certificate's expiry date is out of range"))?;
    Ok(time::format(t))
}

/// `expires_at` as sent, normalised to Auth0's millisecond format.
fn normalise_time(s: &str) -> Result<String, Error> {
    let t = ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            Error::bad_body(format!(
                "Payload validation error: 'Invalid date-time: {s}' on property expires_at."
            ))
        })?;
    Ok(time::format(t))
}

fn str_field<'a>(req: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    req.get(key).and_then(Value::as_str)
}

/// A credential from a create request; the PEM itself is never kept.
pub fn build(req: &Map<String, Value>, now: &str) -> Result<CredentialRow, Error> {
    let id = ids::prefixed("cred", 22);
    let kind = str_field(req, "credential_type").unwrap_or_default();
    let pem = str_field(req, "pem");
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("credential_type".into(), json!(kind));
    if let Some(name) = str_field(req, "name") {
        body.insert("name".into(), json!(name));
    }
    let mut expires_at = str_field(req, "expires_at")
        .map(normalise_time)
        .transpose()?;
    match kind {
        "public_key" => {
            let pem = pem
                .ok_or_else(|| Error::bad_body("pem is required for credential_type public_key"))?;
            let (thumb, cert_expiry) = match parse_pem(pem)? {
                Pem::Certificate(der) => {
                    let cert = parse_cert(&der)?;
                    (
                        jwk_thumbprint(cert.public_key())?,
                        Some(cert.validity().not_after.timestamp()),
                    )
                }
                Pem::PublicKey(der) => {
                    let (_, spki) = SubjectPublicKeyInfo::from_der(&der).map_err(|_| {
                        Error::bad_body("Invalid PEM: the public key could not be parsed")
                    })?;
                    (jwk_thumbprint(&spki)?, None)
                }
            };
            let kid = str_field(req, "kid").map_or(thumb, str::to_owned);
            body.insert("kid".into(), json!(kid));
            body.insert(
                "alg".into(),
                json!(str_field(req, "alg").unwrap_or("RS256")),
            );
            if req.get("parse_expiry_from_cert").and_then(Value::as_bool) == Some(true) {
                let secs = cert_expiry.ok_or_else(|| {
                    Error::bad_body("parse_expiry_from_cert requires a certificate PEM")
                })?;
                expires_at = Some(format_unix(secs)?);
            }
        }
        "x509_cert" => {
            let pem = pem
                .ok_or_else(|| Error::bad_body("pem is required for credential_type x509_cert"))?;
            let Pem::Certificate(der) = parse_pem(pem)? else {
                return Err(Error::bad_body(
                    "Invalid PEM: credential_type x509_cert needs a CERTIFICATE",
                ));
            };
            let cert = parse_cert(&der)?;
            body.insert(
                "thumbprint_sha256".into(),
                json!(URL_SAFE_NO_PAD.encode(Sha256::digest(&der))),
            );
            expires_at = Some(format_unix(cert.validity().not_after.timestamp())?);
        }
        "cert_subject_dn" => {
            let dn = match (str_field(req, "subject_dn"), pem) {
                (Some(dn), None) => dn.to_owned(),
                (None, Some(pem)) => {
                    let Pem::Certificate(der) = parse_pem(pem)? else {
                        return Err(Error::bad_body(
                            "Invalid PEM: credential_type cert_subject_dn needs a CERTIFICATE",
                        ));
                    };
                    subject_dn(parse_cert(&der)?.subject())
                }
                _ => {
                    return Err(Error::bad_body(
                        "Exactly one of subject_dn or pem is required for credential_type cert_subject_dn",
                    ));
                }
            };
            body.insert("subject_dn".into(), json!(dn));
        }
        other => {
            return Err(Error::bad_body(format!(
                "Unsupported credential_type: {other}"
            )));
        }
    }
    body.insert("created_at".into(), json!(now));
    body.insert("updated_at".into(), json!(now));
    if let Some(e) = expires_at {
        body.insert("expires_at".into(), json!(e));
    }
    Ok(CredentialRow {
        id,
        body: Value::Object(order_keys(body, ORDER)),
    })
}

/// The credential lists a client's settings refer to: each method of
/// `client_authentication_methods`, and `signed_request_object`.
fn credential_lists(body: &mut Value) -> Vec<&mut Vec<Value>> {
    let mut out = Vec::new();
    let Some(obj) = body.as_object_mut() else {
        return out;
    };
    for (key, v) in obj.iter_mut() {
        match key.as_str() {
            "client_authentication_methods" => {
                if let Some(methods) = v.as_object_mut() {
                    for m in methods.values_mut() {
                        if let Some(Value::Array(list)) = m.get_mut("credentials") {
                            out.push(list);
                        }
                    }
                }
            }
            "signed_request_object" | "token_vault_privileged_access" => {
                if let Some(Value::Array(list)) = v.get_mut("credentials") {
                    out.push(list);
                }
            }
            _ => {}
        }
    }
    out
}

/// On create, fully defined credentials inside the client's settings become stored credentials,
/// referred to by id.
pub fn materialize(row: &mut ClientRow, now: &str) -> Result<Vec<CredentialRow>, Error> {
    let mut created = Vec::new();
    for list in credential_lists(&mut row.body) {
        for item in list.iter_mut() {
            if let Some(req) = item
                .as_object()
                .filter(|o| o.contains_key("credential_type"))
            {
                let c = build(req, now)?;
                *item = json!({"id": c.id});
                created.push(c);
            }
        }
    }
    Ok(created)
}

/// Every credential a client's settings refer to must be one of its own.
pub async fn check_references(x: &impl Exec, tenant: &str, row: &ClientRow) -> Result<(), Error> {
    let mut body = row.body.clone();
    for list in credential_lists(&mut body) {
        for item in list.iter() {
            let Some(id) = item.get("id").and_then(Value::as_str) else {
                return Err(Error::bad_body(
                    "Credentials must be referred to by their id",
                ));
            };
            if clients::find_credential(x, tenant, &row.client_id, id)
                .await
                .context("finding a credential")?
                .is_none()
            {
                return Err(Error::bad_body(format!(
                    "Credential {id} does not exist for this client"
                )));
            }
        }
    }
    Ok(())
}

async fn client_exists(x: &impl Exec, tenant: &str, id: &str) -> Result<(), Error> {
    clients::find(x, tenant, id)
        .await
        .context("finding a client")?
        .map(|_| ())
        .ok_or_else(inexistent_client)
}

async fn get_credentials(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let client_id = input.path("client_id");
    client_exists(ctx.db(), ctx.tenant_id(), client_id).await?;
    let list = clients::list_credentials(ctx.db(), ctx.tenant_id(), client_id)
        .await
        .context("listing credentials")?;
    Ok(Reply::json(Value::Array(
        list.into_iter().map(|c| c.body).collect(),
    )))
}

async fn post_credentials(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let client_id = input.path("client_id");
    client_exists(ctx.db(), ctx.tenant_id(), client_id).await?;
    let now = time::now();
    let c = build(&input.body_object(), &now)?;
    clients::insert_credential(ctx.db(), ctx.tenant_id(), client_id, &c, &now)
        .await
        .context("inserting a credential")?;
    Ok(Reply::json(c.body))
}

async fn find(ctx: &Ctx, input: &Input) -> Result<CredentialRow, Error> {
    let client_id = input.path("client_id");
    client_exists(ctx.db(), ctx.tenant_id(), client_id).await?;
    clients::find_credential(
        ctx.db(),
        ctx.tenant_id(),
        client_id,
        input.path("credential_id"),
    )
    .await
    .context("finding a credential")?
    .ok_or_else(inexistent_credential)
}

async fn get_credentials_by_credential_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    Ok(Reply::json(find(&ctx, &input).await?.body))
}

async fn patch_credentials_by_credential_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (client_id, id, req) = (
        input.path("client_id"),
        input.path("credential_id"),
        &input.body,
    );
    client_exists(db, tenant, client_id).await?;
    let c = atomically(|| async move {
        let tx = db.begin().await.context("starting a transaction")?;
        let mut c = clients::find_credential_for_update(&tx, tenant, client_id, id)
            .await
            .context("finding a credential")?
            .ok_or_else(inexistent_credential)?;
        let now = time::now();
        let Some(body) = c.body.as_object_mut() else {
            return Err(Error::Internal(anyhow::anyhow!(
                "stored credential {id} is not an object"
            )));
        };
        match req.get("expires_at") {
            Some(Value::String(s)) => {
                body.insert("expires_at".into(), json!(normalise_time(s)?));
            }
            Some(Value::Null) => {
                body.shift_remove("expires_at");
            }
            _ => {}
        }
        body.insert("updated_at".into(), json!(now));
        let ordered = order_keys(std::mem::take(body), ORDER);
        c.body = Value::Object(ordered);
        clients::update_credential(&tx, tenant, client_id, &c, &now)
            .await
            .context("updating a credential")?;
        tx.commit().await.context("committing a credential")?;
        Ok(c.into_inner())
    })
    .await?;
    Ok(Reply::json(c.body))
}

async fn delete_credentials_by_credential_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let client_id = input.path("client_id");
    client_exists(ctx.db(), ctx.tenant_id(), client_id).await?;
    clients::delete_credential(
        ctx.db(),
        ctx.tenant_id(),
        client_id,
        input.path("credential_id"),
    )
    .await
    .context("deleting a credential")?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The certificate the Terraform provider's tests use (from the recordings).
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIFWDCCA0ACCQDXqpBo3RUhkzANBgkqhkiG9w0BAQsFADBuMQswCQYDVQQGEwJl\nczEPMA0GA1UECAwGTWFkcmlkMQ8wDQYDVQQHDAZNYWRyaWQxDTALBgNVBAoMBE9r\ndGExDzANBgNVBAsMBkRYLUNEVDEdMBsGA1UEAwwURGV2ZWxvcGVyIEV4cGVyaWVu\nY2UwHhcNMjMwNTE2MDkzMzEzWhcNMzMwNTEzMDkzMzEzWjBuMQswCQYDVQQGEwJl\nczEPMA0GA1UECAwGTWFkcmlkMQ8wDQYDVQQHDAZNYWRyaWQxDTALBgNVBAoMBE9r\ndGExDzANBgNVBAsMBkRYLUNEVDEdMBsGA1UEAwwURGV2ZWxvcGVyIEV4cGVyaWVu\nY2UwggIiMA0GCSqGSIb3DQEBAQUAA4ICDwAwggIKAoICAQCupwRtoZtRk9qRaXD+\nYdtpM9dWo2vaprvNo+7J2YPlOtZB0zx7xykTEI5UMsESRwEATzVvepQzvswYBlca\n9k1nOcMBSmhkJPol9fbntWAbw4jvs/xXCtKCVOuiP2hffaeq1+6Kei8gXJKpytzN\nLPhbqpoNfqb87U4SM4pKFWSkbJSL0inUilrlc4sR9IGWs9jjCK21TpsUcb7GMZem\nv7MlZQfKQSFuTJgTs3aLJAiyF0yfYhCMbE/bFefRsTcZYnAEYfI3pLDAuZm4GjWD\nW0DCm43pO+jSRvEnbikVvFo6GAoTyUStifK44KVwhp4iPRkIrUCEMxK0mCMVJ9KF\ntaKWsFcJ5nQGJxBz6fj766Hl7SwuHvmSezzADF7/5kOAb8TnMfYsRFxak/iE/5s+\nOldEONHWuyVWuNIqEeI1DglscX02uK7jnuhUAyrCR0ayI3Ket+OvbviZIjiNyqfR\nchPuL7QyQl3CrWcTgZCqwjMzW2G9Y63k838mqL0gVhNPrH6QedOdSsnXbsjP+hS5\nPx2PRWqT+Z8otzZpfnD/pmtjoA3D93c1KJ+hFNlyIvD+R7go045l7OR5MKkgkOSO\nCXTqCSiq09XpZUQvwMtW516K5K/zOveai7V5DTmTHhCL5kthRYhA5WDfLWicG0ZP\nzl4p7gmxfmseQH/bHBSU2f+a+QIDAQABMA0GCSqGSIb3DQEBCwUAA4ICAQA7EOsl\nD5WQ+G6T0GhbyTmlC497aULzCdFfkMjlPN2MiVhje0G4u8C5zK6zEkmyWfRkqCIh\n54YLbaZu55MbvwbD64tTWqDMBmmna8HpulFcpi4RM9jGFMqx5/NSHBLqv/BC3UNt\n7c4y4YuLJkB07RljPv07k5sgf9/twF+v7UYVURfutoj0sjOImJMN66YVOTlNoGTS\nTOrDWByqc6eDHSFVU+0urrgos4iF5UN7ovfA8dLBiR7I4S5kVKSKO18UUB4qPIj0\nyMvTImrQXMepVtzaGae1V5BCyx37J12/STcUdE5urtSBjZyaugrTw+C+WHTcS829\nq5jOjmBJgFTIICz8IDTxPZIM+keVyodFOJKRtteT6vWnk8wq9k4U5HRxtdRKc52u\nd3RCO/B+RxbBLzFuKrM402LNe6j6+gek4boPkzfMbEIohJm1ukM4bATfP5gltsGe\n6UvXg7yaM+oW8jBPHK9w5azsqj+SuxqvARchHWRIrYAli5SePbUtmFKC/Lt+pKCK\nqxdawpr8EUrJXvHL3XoNHuGNbVuSm/ep+ge89UAbUEQ90A4w7fuSX5S+pr4nMOTi\nlNZtdWtIC9qcJ2Xmy5gZ+mAh3Wv+96IwQ9MWvtFEXquNNbvJdXVluUPVarNv3T1B\n8GMCiNZ0r6tknDJcnkjmRqiB8o/ExYXRnjHhGQ==\n-----END CERTIFICATE-----\n\n";

    fn req(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn public_key_kid_is_the_jwk_thumbprint() {
        let c = build(
            &req(json!({"credential_type": "public_key", "pem": CERT, "alg": "RS256"})),
            "2025-01-01T00:00:00.000Z",
        )
        .unwrap();
        assert_eq!(c.body["kid"], "w0kIFOc-q7KKK-pa2Uj5b_Cl3f0hAgFeseLg8iEmWu0");
        assert!(c.body.get("expires_at").is_none());
        assert!(c.body.get("name").is_none());
        assert!(c.id.starts_with("cred_") && c.id.len() == 27);
        let keys: Vec<&String> = c.body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "credential_type",
                "kid",
                "alg",
                "created_at",
                "updated_at"
            ]
        );
        let c = build(
            &req(json!({"credential_type": "public_key", "pem": CERT, "name": "A", "expires_at": "2096-05-13T09:33:13Z"})),
            "now",
        )
        .unwrap();
        assert_eq!(c.body["expires_at"], "2096-05-13T09:33:13.000Z");
        let c = build(&req(json!({"credential_type": "public_key", "pem": CERT, "parse_expiry_from_cert": true})), "now")
            .unwrap();
        assert_eq!(c.body["expires_at"], "2033-05-13T09:33:13.000Z");
    }

    #[test]
    fn x509_and_subject_dn() {
        let c = build(
            &req(json!({"credential_type": "x509_cert", "pem": CERT, "name": "T"})),
            "now",
        )
        .unwrap();
        assert_eq!(
            c.body["thumbprint_sha256"],
            "irPW_52cQKIRPeblpAs2LjaUELUxnh5Vi7_1idgHX7w"
        );
        assert_eq!(c.body["expires_at"], "2033-05-13T09:33:13.000Z");
        let c = build(
            &req(json!({"credential_type": "cert_subject_dn", "pem": CERT})),
            "now",
        )
        .unwrap();
        assert_eq!(
            c.body["subject_dn"],
            "C=es\nST=Madrid\nL=Madrid\nO=Okta\nOU=DX-CDT\nCN=Developer Experience"
        );
        assert!(
            build(
                &req(json!({"credential_type": "x509_cert", "pem": "garbage"})),
                "now"
            )
            .is_err()
        );
        assert!(build(&req(json!({"credential_type": "cert_subject_dn"})), "now").is_err());
    }
}
