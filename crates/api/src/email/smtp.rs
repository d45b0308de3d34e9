//! Delivers the outbox over SMTP (lettre). The settings come from the tenant's e-mail provider
//! (`/emails/provider`, name `smtp`: `credentials.smtp_host`, `smtp_port`, `smtp_user`,
//! `smtp_pass`; `default_from_address`) or, when the tenant has none, from the server's
//! `--smtp-url`. Port 465 speaks TLS from the start; other ports use STARTTLS when the server
//! offers it.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use gatehouse_store::{docs, tenants};

use super::Message;

/// The server's fallback SMTP settings (`--smtp-url`, `--smtp-from`).
#[derive(Debug, Clone, Default)]
pub struct SmtpConfig {
    /// `smtp://[user:pass@]host[:port]` (`smtps://` for TLS from the start).
    pub url: Option<SecretString>,
    /// The sender when neither the template nor the provider names one.
    pub from: Option<String>,
}

/// Where and how one message goes.
pub struct Settings {
    host: String,
    port: u16,
    user: Option<String>,
    pass: Option<SecretString>,
    implicit_tls: bool,
    from: Option<String>,
}

/// Why a message was not sent: `retry` when a later attempt may succeed.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub retry: bool,
}

fn permanent(message: impl Into<String>) -> SendError {
    SendError {
        message: message.into(),
        retry: false,
    }
}

/// The tenant's provider settings, else the server's; `None`: nowhere to send.
pub async fn settings(
    db: &gatehouse_store::Db,
    tenant: &str,
    cfg: &SmtpConfig,
) -> anyhow::Result<Option<Settings>> {
    let provider = docs::get(db, tenant, "email_provider", tenants::SETTINGS_ID).await?;
    if let Some(p) = provider.filter(|p| p.get("enabled").and_then(Value::as_bool) != Some(false)) {
        if p.get("name").and_then(Value::as_str) != Some("smtp") {
            // Only SMTP providers are delivered to; the API providers (SES, SendGrid, …) need
            // their HTTP APIs, which Gatehouse does not speak.
            return Ok(None);
        }
        let c = p.get("credentials").cloned().unwrap_or(Value::Null);
        let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(host) = s("smtp_host") else {
            return Ok(None);
        };
        let port = c
            .get("smtp_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(587);
        return Ok(Some(Settings {
            host,
            port,
            user: s("smtp_user").filter(|u| !u.is_empty()),
            pass: s("smtp_pass").map(SecretString::from),
            implicit_tls: port == 465,
            from: p
                .get("default_from_address")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| cfg.from.clone()),
        }));
    }
    let Some(url) = &cfg.url else {
        return Ok(None);
    };
    let u = url::Url::parse(url.expose_secret())
        .map_err(|_| anyhow::anyhow!("--smtp-url is not a URL"))?;
    let implicit_tls = u.scheme() == "smtps";
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(Some(Settings {
        host: u.host_str().unwrap_or("127.0.0.1").to_owned(),
        port: u.port().unwrap_or(if implicit_tls { 465 } else { 25 }),
        user: (!u.username().is_empty()).then(|| decode(u.username())),
        pass: u.password().map(|p| SecretString::from(decode(p))),
        implicit_tls,
        from: cfg.from.clone(),
    }))
}

/// Sends one message. Refusals by the server (5xx) and unusable addresses are permanent; the
/// rest (connection failures, 4xx) are worth a retry.
pub async fn send(s: &Settings, msg: &Message) -> Result<(), SendError> {
    let from = if msg.from.is_empty() {
        s.from
            .clone()
            .unwrap_or_else(|| format!("no-reply@{}", s.host))
    } else {
        msg.from.clone()
    };
    let from: Mailbox = from
        .parse()
        .map_err(|e| permanent(format!("the sender address is not valid: {e}")))?;
    let to: Mailbox = msg
        .to
        .parse()
        .map_err(|e| permanent(format!("the recipient address is not valid: {e}")))?;
    let email = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(&msg.subject)
        .header(ContentType::TEXT_HTML)
        .body(msg.html.clone())
        .map_err(|e| permanent(format!("the message could not be built: {e}")))?;
    let tls = TlsParameters::new(s.host.clone())
        .map_err(|e| permanent(format!("TLS parameters: {e}")))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .timeout(Some(Duration::from_secs(30)))
        .tls(if s.implicit_tls {
            Tls::Wrapper(tls)
        } else {
            Tls::Opportunistic(tls)
        });
    if let Some(user) = &s.user {
        let pass = s
            .pass
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), pass));
    }
    let transport = builder.build();
    match transport.send(email).await {
        Ok(_) => Ok(()),
        Err(e) => Err(SendError {
            retry: !e.is_permanent(),
            message: e.to_string(),
        }),
    }
}
