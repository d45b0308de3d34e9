//! A small SMTP server for tests: it speaks enough of RFC 5321 for a real client (EHLO, AUTH
//! PLAIN/LOGIN accepted whatever the credentials, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on a
//! loopback port and keeps every message it accepts. The server under test delivers to it
//! exactly as it would to a provider: nothing in the mailer is mocked.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use base64::Engine as _;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::{Mutex, Notify},
};

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub data: String,
    /// The `AUTH` user name the client logged in with, if it did.
    pub auth_user: Option<String>,
}

impl Mail {
    /// A header's value (the first one, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut out: Option<String> = None;
        let mut found = false;
        for line in head.split("\r\n") {
            if found && (line.starts_with(' ') || line.starts_with('\t')) {
                if let Some(o) = out.as_mut() {
                    o.push(' ');
                    o.push_str(line.trim());
                }
                continue;
            }
            if found {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_owned());
                found = true;
            }
        }
        out
    }

    /// The subject, decoded when it is an RFC 2047 UTF-8 word.
    pub fn subject(&self) -> String {
        let s = self.header("Subject").unwrap_or_default();
        s.split(' ')
            .map(|w| {
                w.strip_prefix("=?utf-8?b?")
                    .or_else(|| w.strip_prefix("=?UTF-8?B?"))
                    .and_then(|r| r.strip_suffix("?="))
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_else(|| w.to_owned())
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The body, decoded from its transfer encoding (7bit, quoted-printable or base64).
    pub fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let enc = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match enc.as_str() {
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(body.replace(['\r', '\n'], ""))
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default(),
            "quoted-printable" => quoted_printable(body),
            _ => body.to_owned(),
        }
    }

    /// The first `http(s)://` link in the body that contains `needle`.
    pub fn link(&self, needle: &str) -> Option<String> {
        let body = self.body();
        body.match_indices("http")
            .map(|(i, _)| {
                body[i..]
                    .split(['"', '\'', '<', ' ', '\r', '\n'])
                    .next()
                    .unwrap_or("")
                    .replace("&amp;", "&")
            })
            .find(|l| l.contains(needle))
    }
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < b.len() => {
                match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(v) => out.push(v),
                    Err(_) => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running sink; it stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = match TcpListener::bind(("127.0.0.1", 0)).await {
            Ok(l) => l,
            Err(e) => panic!("SMTP sink: cannot bind: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("SMTP sink: {e}"),
        };
        let mails = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (m, n) = (mails.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (m, n) = (m.clone(), n.clone());
                tokio::spawn(async move {
                    let _ = session(sock, m, n).await;
                });
            }
        });
        Self {
            addr,
            mails,
            arrived,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub async fn mails(&self) -> Vec<Mail> {
        self.mails.lock().await.clone()
    }

    /// Waits until at least `n` messages arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            {
                let mails = self.mails.lock().await;
                if mails.len() >= n {
                    return mails.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let got = self.mails.lock().await.len();
                panic!("SMTP sink: {got} message(s) arrived, expected {n}");
            }
        }
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 gatehouse-testkit ESMTP sink\r\n").await?;
    let (mut from, mut to, mut user) = (String::new(), Vec::new(), None::<String>);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-gatehouse-testkit\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n"
        } else if upper.starts_with("HELO") {
            b"250 gatehouse-testkit\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            let b64 = cmd.split(' ').nth(2).unwrap_or("").to_owned();
            let b64 = if b64.is_empty() {
                w.write_all(b"334 \r\n").await?;
                let mut l = String::new();
                r.read_line(&mut l).await?;
                l.trim().to_owned()
            } else {
                b64
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            user = raw
                .split(|b| *b == 0)
                .nth(1)
                .map(|u| String::from_utf8_lossy(u).into_owned());
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("AUTH LOGIN") {
            w.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            let mut l = String::new();
            r.read_line(&mut l).await?;
            user = base64::engine::general_purpose::STANDARD
                .decode(l.trim())
                .ok()
                .map(|u| String::from_utf8_lossy(&u).into_owned());
            w.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            r.read_line(&mut l).await?;
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = addr_of(&cmd[10..]);
            to.clear();
            b"250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(addr_of(&cmd[8..]));
            b"250 2.1.5 ok\r\n"
        } else if upper == "DATA" {
            w.write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            let mut l = String::new();
            loop {
                l.clear();
                if r.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').unwrap_or(&l);
                data.push_str(l);
            }
            mails.lock().await.push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
                auth_user: user.clone(),
            });
            arrived.notify_waiters();
            b"250 2.0.0 queued\r\n"
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 2.0.0 ok\r\n"
        } else {
            b"502 5.5.2 not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
}

fn addr_of(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quoted_printable() {
        assert_eq!(quoted_printable("a=3Db=\r\nc"), "a=bc");
    }
}
