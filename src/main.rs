//! `gatehouse`: a self-hosted identity server speaking Auth0's Management and Authentication APIs.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use gatehouse_api::{AdminCredentials, Config, LogFormat, TlsMode};

/// mimalloc: the request path allocates a lot of small, short-lived objects (measured in bench/).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options that bound what the server keeps (bench/memory.sh): no eager commit of
/// a whole arena (idle RSS 43 -> 30 MB) and freed memory handed back to the OS at once instead
/// of only when the same thread allocates again 10 ms later (after a hostile load: ~115 -> ~60 MB).
const ALLOCATOR_OPTIONS: &[(&str, &str)] = &[
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "0"),
];

/// mimalloc reads its options from the environment when the process starts, before `main`;
/// setting them from Rust would take `unsafe` code (forbidden here). So the binary re-executes
/// itself once with them set. A variable already in the environment is left as it is (the
/// operator's choice wins); when exec fails the process simply goes on with the defaults.
#[cfg(unix)]
fn apply_allocator_options() {
    use std::os::unix::process::CommandExt;
    const MARK: &str = "GATEHOUSE_ALLOCATOR_OPTIONS_SET";
    let missing: Vec<_> = ALLOCATOR_OPTIONS
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() || std::env::var_os(MARK).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env(MARK, "1");
    for (k, v) in missing {
        cmd.env(k, v);
    }
    // Only returns on failure.
    let _ = cmd.exec();
}

#[cfg(not(unix))]
fn apply_allocator_options() {}

#[derive(Parser)]
#[command(name = "gatehouse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

/// SQLite's `synchronous` mode for `serve`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum SqliteSynchronous {
    /// Every commit is synced before the answer: an acknowledged write survives a power loss.
    Full,
    /// Synced at WAL checkpoints only: faster writes; a power loss (not a crash of the
    /// process) may lose the last acknowledged writes. The file is never corrupted.
    Normal,
}

/// The database URL handed to the store: SQLite's opt-out travels as `?synchronous=normal`.
/// PostgreSQL URLs, and URLs that already say `synchronous=`, are left as they are.
fn with_sqlite_synchronous(url: String, mode: SqliteSynchronous) -> String {
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if postgres || mode == SqliteSynchronous::Full || url.contains("?synchronous=") {
        return url;
    }
    format!("{url}?synchronous=normal")
}

#[derive(Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at start; boxing the options would only obscure them"
)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// `postgres://…` for PostgreSQL; otherwise a SQLite file.
        #[arg(long, env = "GATEHOUSE_DATABASE_URL", default_value = "gatehouse.db")]
        database_url: String,
        /// SQLite only: `full` (default) syncs every commit; `normal` trades durability on
        /// power loss for faster writes.
        #[arg(
            long,
            env = "GATEHOUSE_SQLITE_SYNCHRONOUS",
            value_enum,
            default_value = "full"
        )]
        sqlite_synchronous: SqliteSynchronous,
        /// Public issuer URL (default: derived from the listen address).
        #[arg(long, env = "GATEHOUSE_ISSUER")]
        issuer: Option<String>,
        #[arg(long, env = "GATEHOUSE_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormatArg,
        /// Admin client id (generated and printed once when unset).
        #[arg(long, env = "GATEHOUSE_ADMIN_CLIENT_ID")]
        admin_client_id: Option<String>,
        /// Admin client secret (generated and printed once when unset).
        #[arg(long, env = "GATEHOUSE_ADMIN_CLIENT_SECRET", hide_env_values = true)]
        admin_client_secret: Option<String>,
        /// PEM certificate chain for HTTPS.
        #[arg(long, env = "GATEHOUSE_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for HTTPS.
        #[arg(long, env = "GATEHOUSE_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve HTTPS with a self-signed certificate kept in --tls-dir.
        #[arg(long, env = "GATEHOUSE_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
        tls_self_signed: bool,
        #[arg(long, env = "GATEHOUSE_TLS_DIR", default_value = "gatehouse-tls")]
        tls_dir: PathBuf,
        /// DNS server (`ip:port`) that checks custom domains' verification records (default:
        /// the system's resolver configuration).
        #[arg(long, env = "GATEHOUSE_DNS_RESOLVER")]
        dns_resolver: Option<SocketAddr>,
        /// Wall time of one action's execution, in milliseconds (Auth0's limit: 20 s).
        #[arg(long, env = "GATEHOUSE_ACTIONS_TIMEOUT_MS", default_value_t = 20_000)]
        actions_timeout_ms: u64,
        /// Let actions' `fetch` reach loopback and private addresses (refused by default).
        #[arg(long, env = "GATEHOUSE_ACTIONS_ALLOW_PRIVATE_FETCH")]
        actions_allow_private_fetch: bool,
        /// Largest users file `POST /jobs/users-imports` takes, in bytes (Auth0's limit: 500 KB).
        #[arg(long, env = "GATEHOUSE_IMPORT_MAX_BYTES", default_value_t = 512_000)]
        import_max_bytes: usize,
        /// How long a users export's download location works, in seconds.
        #[arg(long, env = "GATEHOUSE_EXPORT_TTL_SECS", default_value_t = 3600)]
        export_ttl_secs: u64,
        /// SMTP server for e-mail when the tenant has no SMTP e-mail provider
        /// (`smtp://user:pass@host:port`, `smtps://` for TLS from the start).
        #[arg(long, env = "GATEHOUSE_SMTP_URL")]
        smtp_url: Option<String>,
        /// Sender address when neither the template nor the provider names one.
        #[arg(long, env = "GATEHOUSE_SMTP_FROM")]
        smtp_from: Option<String>,
        /// Let log-stream and event-stream deliveries reach loopback and private addresses
        /// (refused by default).
        #[arg(long, env = "GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE")]
        webhooks_allow_private: bool,
        /// A PEM file of CA certificates that deliveries trust besides the public roots.
        #[arg(long, env = "GATEHOUSE_WEBHOOKS_CA_FILE")]
        webhooks_ca_file: Option<PathBuf>,
        /// Do not keep a tenant log (nothing logged, nothing streamed).
        #[arg(long, env = "GATEHOUSE_NO_TENANT_LOGS")]
        no_tenant_logs: bool,
        /// How many days tenant log entries are kept.
        #[arg(
            long,
            env = "GATEHOUSE_TENANT_LOGS_RETENTION_DAYS",
            default_value_t = 30
        )]
        tenant_logs_retention_days: u64,
    },
    /// Apply database migrations and bootstrap the tenant, then exit.
    Migrate {
        #[arg(long, env = "GATEHOUSE_DATABASE_URL", default_value = "gatehouse.db")]
        database_url: String,
    },
    /// Print how many of the Management API's operations are implemented.
    Ops {
        /// List every operation with its state.
        #[arg(long)]
        list: bool,
    },
}

/// Logs go through a background writer, so a request never waits on stdout. Keep the guard
/// alive until exit: it flushes what is buffered.
fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    // Colours only for a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

fn main() -> anyhow::Result<()> {
    apply_allocator_options();
    run()
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            listen,
            database_url,
            sqlite_synchronous,
            issuer,
            log_format,
            admin_client_id,
            admin_client_secret,
            tls_cert,
            tls_key,
            tls_self_signed,
            tls_dir,
            dns_resolver,
            actions_timeout_ms,
            actions_allow_private_fetch,
            import_max_bytes,
            export_ttl_secs,
            smtp_url,
            smtp_from,
            webhooks_allow_private,
            webhooks_ca_file,
            no_tenant_logs,
            tenant_logs_retention_days,
        } => {
            let log_format = match log_format {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            };
            let _logs = init_logs(log_format);
            let tls = match (tls_cert, tls_key, tls_self_signed) {
                (Some(cert), Some(key), _) => TlsMode::Files { cert, key },
                (_, _, true) => TlsMode::SelfSigned { dir: tls_dir },
                _ => TlsMode::None,
            };
            let cfg = Config {
                listen,
                database_url: with_sqlite_synchronous(database_url, sqlite_synchronous),
                issuer,
                admin: AdminCredentials {
                    client_id: admin_client_id,
                    client_secret: admin_client_secret.map(Into::into),
                },
                tls,
                dns_resolver,
                actions: gatehouse_api::ActionsConfig {
                    timeout: std::time::Duration::from_millis(actions_timeout_ms),
                    allow_private_fetch: actions_allow_private_fetch,
                },
                jobs: gatehouse_api::mgmt::jobs::JobsConfig {
                    import_max_bytes,
                    export_ttl: std::time::Duration::from_secs(export_ttl_secs),
                },
                smtp: gatehouse_api::email::smtp::SmtpConfig {
                    url: smtp_url.map(Into::into),
                    from: smtp_from,
                },
                webhooks: gatehouse_api::WebhooksConfig {
                    allow_private: webhooks_allow_private,
                    ca_file: webhooks_ca_file,
                    ..Default::default()
                },
                events: Default::default(),
                logs: gatehouse_api::LogsConfig {
                    enabled: !no_tenant_logs,
                    retention: std::time::Duration::from_secs(
                        tenant_logs_retention_days.saturating_mul(86_400),
                    ),
                },
            };
            gatehouse_api::serve(cfg).await
        }
        Command::Migrate { database_url } => {
            let _logs = init_logs(LogFormat::Text);
            let db = gatehouse_store::Db::connect(&database_url).await?;
            gatehouse_store::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Ops { list } => match print_ops(list) {
            // `gatehouse ops --list | head`: a reader that stops early is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(Into::into),
        },
    }
}

/// The coverage: one line per operation with `--list`, then the total.
fn print_ops(list: bool) -> std::io::Result<()> {
    use std::io::Write;
    let coverage = gatehouse_api::coverage();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if list {
        for (info, done) in &coverage.operations {
            writeln!(
                out,
                "{}\t{}\t{}\t{}",
                if *done { "done" } else { "501" },
                info.method.as_str(),
                info.path,
                info.id
            )?;
        }
    }
    writeln!(
        out,
        "{} of {} operations implemented",
        coverage.implemented(),
        coverage.operations.len()
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn sqlite_synchronous_reaches_the_database_url() {
        let url = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Serve {
                database_url,
                sqlite_synchronous,
                ..
            } => with_sqlite_synchronous(database_url, sqlite_synchronous),
            _ => unreachable!(),
        };
        assert_eq!(
            url(&["gatehouse", "serve", "--database-url", "a.db"]),
            "a.db"
        );
        assert_eq!(
            url(&[
                "gatehouse",
                "serve",
                "--database-url",
                "a.db",
                "--sqlite-synchronous",
                "normal"
            ]),
            "a.db?synchronous=normal"
        );
        assert_eq!(
            url(&[
                "gatehouse",
                "serve",
                "--database-url",
                "postgres://h/db",
                "--sqlite-synchronous",
                "normal"
            ]),
            "postgres://h/db"
        );
        assert!(
            Cli::try_parse_from(["gatehouse", "serve", "--sqlite-synchronous", "off"]).is_err()
        );
    }
}
