//! `gatehouse-seed`: fills a Gatehouse database (SQLite file or PostgreSQL URL, already
//! migrated and bootstrapped by one start of the server) with N deterministic users in the
//! tenant's `Username-Password-Authentication` connection, through the users family's own
//! `store::users::insert_users` (row, primary identity, unique keys, searchable metadata, one
//! multi-row INSERT per table), one transaction per batch. Every user has the same
//! pre-computed bcrypt hash.
//!
//! User `i` (0-based) is, deterministically:
//! - `user_id` `auth0|<8 hex of i><16 hex of a hash of i>`;
//! - `email` `<first>.<last>.<i>@<domain>`; `name` `<First> <Last>`; `nickname` the local part;
//! - `logins_count` in 0..2000, `created_at` spread over 2020–2025;
//! - `app_metadata` `{"plan": free|silver|gold|platinum, "tier": 0..9}` (gold: 5 %),
//!   `user_metadata` `{"lang": en|fr|de|es|pt, "newsletter": bool}`.
//!
//! It prints the facts the benchmark needs as `SEED key=value` lines (a sample user's id and
//! e-mail, how many users match each benchmark query).
//!
//! `gatehouse-seed --database-url … authz …` seeds the authorization benchmark
//! (`bench/authz.sh`) instead: see [`authz`].

mod authz;

use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

use gatehouse_store::{
    Db, connections, params,
    users::{self, IdentityRow, NewUser, UserRow},
};

#[derive(Parser)]
struct Args {
    /// SQLite file or postgres:// URL of a database the server has started on once.
    #[arg(long)]
    database_url: String,
    /// How many users to add (without a subcommand).
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Users per transaction.
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
    /// The user to print as the sample (`SEED sample_*`; without a subcommand).
    #[arg(long, default_value_t = 123_457)]
    sample: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The authorization benchmark's data: members, role users, role permissions.
    Authz(authz::Args),
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Dorothy",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Edward",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Shirley",
    "Eric",
    "Angela",
    "Jonathan",
    "Helen",
    "Stephen",
    "Anna",
    "Larry",
    "Brenda",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Emma",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Frank",
    "Debra",
    "Alexander",
    "Rachel",
    "Raymond",
    "Catherine",
    "Patrick",
    "Carolyn",
    "Jack",
    "Janet",
    "Dennis",
    "Ruth",
    "Jerry",
    "Maria",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.test",
    "corp.test",
    "acme.test",
];
const LANGS: &[&str] = &["en", "fr", "de", "es", "pt"];

/// splitmix64: a well-mixed 64-bit hash of `i`.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    let n = u64::try_from(list.len()).unwrap_or(1);
    let i = usize::try_from(h % n).unwrap_or(0);
    list.get(i).copied().unwrap_or_default()
}

fn plan(h: u64) -> &'static str {
    match h % 100 {
        0..=4 => "gold",
        5..=6 => "platinum",
        7..=29 => "silver",
        _ => "free",
    }
}

/// A user as the seeder writes it.
struct Seeded {
    user_id: String,
    identity: String,
    email: String,
    name: String,
    given: &'static str,
    family: &'static str,
    nickname: String,
    logins_count: i64,
    created_at: String,
    last_login: String,
    email_verified: bool,
    app_metadata: Value,
    user_metadata: Value,
}

fn timestamp(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    gatehouse_core::time::format(t)
}

fn user(i: u64) -> Seeded {
    let h = mix(i);
    let given = pick(FIRST, h);
    let family = pick(LAST, h >> 16);
    let domain = pick(DOMAINS, h >> 32);
    let local = format!("{}.{}.{i}", given.to_lowercase(), family.to_lowercase());
    let identity = format!("{:08x}{:016x}", i & 0xffff_ffff, h);
    // 2020-01-01 plus up to ~6 years, spread by i.
    let created = 1_577_836_800 + i64::try_from((i * 181) % 189_216_000).unwrap_or(0);
    let logins = i64::try_from((h >> 40) % 2000).unwrap_or(0);
    Seeded {
        user_id: format!("auth0|{identity}"),
        email: format!("{local}@{domain}"),
        name: format!("{given} {family}"),
        nickname: local,
        identity,
        given,
        family,
        logins_count: logins,
        created_at: timestamp(created),
        last_login: timestamp(created + 86_400 + i64::try_from(h % 10_000_000).unwrap_or(0)),
        email_verified: i.is_multiple_of(3),
        app_metadata: json!({ "plan": plan(h >> 8), "tier": (h >> 24) % 10 }),
        user_metadata: json!({ "lang": pick(LANGS, h >> 48), "newsletter": (h >> 56).is_multiple_of(2) }),
    }
}

/// The tenant (the first one) and its `Username-Password-Authentication` connection's id and
/// name, where the users go.
async fn tenant_and_connection(db: &Db) -> anyhow::Result<(String, String, String)> {
    let tenant = db
        .query_opt("SELECT id FROM tenants ORDER BY created_at LIMIT 1", vec![])
        .await?
        .context("no tenant: start the server once on this database first")?
        .text("id")?;
    let Some(conn) =
        connections::find_by_name(db, &tenant, "Username-Password-Authentication").await?
    else {
        bail!("the tenant has no Username-Password-Authentication connection");
    };
    Ok((tenant, conn.id, conn.name))
}

/// How many users the tenant has.
async fn count_users(db: &Db, tenant: &str) -> anyhow::Result<u64> {
    let n = db
        .query_scan(
            "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1",
            params![tenant],
        )
        .await?
        .first()
        .map(|r| r.i64("n"))
        .transpose()?
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Adds users `start..end` (see [`user`]), `batch` per transaction, and refreshes the
/// planner's statistics of the users' tables.
async fn seed_users(
    db: &Db,
    tenant: &str,
    (conn_id, conn_name): (&str, &str),
    start: u64,
    end: u64,
    batch: u64,
) -> anyhow::Result<()> {
    let password_hash = gatehouse_core::password::hash(&"Bench-Password-1".to_owned().into())?;
    let started = Instant::now();
    let mut i = start;
    while i < end {
        let upto = (i + batch.max(1)).min(end);
        let mut rows = Vec::new();
        for n in i..upto {
            let u = user(n);
            let picture = format!(
                "https://s.gravatar.com/avatar/{:016x}{:016x}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{}.png",
                mix(n ^ 1),
                mix(n ^ 2),
                u.nickname.chars().take(2).collect::<String>()
            );
            let mut body = Map::new();
            body.insert("picture".into(), json!(picture));
            let row = UserRow {
                user_id: u.user_id.clone(),
                connection_id: conn_id.to_owned(),
                connection: conn_name.to_owned(),
                provider: "auth0".into(),
                email: Some(u.email.clone()),
                email_verified: u.email_verified,
                name: Some(u.name),
                nickname: Some(u.nickname),
                given_name: Some(u.given.into()),
                family_name: Some(u.family.into()),
                logins_count: u.logins_count,
                last_login: Some(u.last_login),
                app_metadata: Some(u.app_metadata),
                user_metadata: Some(u.user_metadata),
                body,
                created_at: u.created_at.clone(),
                updated_at: u.created_at,
                ..UserRow::default()
            };
            let identity = IdentityRow {
                connection_id: conn_id.to_owned(),
                identity_user_id: u.identity,
                user_id: u.user_id,
                connection: conn_name.to_owned(),
                provider: "auth0".into(),
                is_primary: true,
                password_hash: Some(password_hash.clone()),
                ..IdentityRow::default()
            };
            rows.push((row, identity, vec![("email", u.email)]));
        }
        let batch: Vec<NewUser<'_>> = rows.iter().map(|(u, i, k)| (u, i, k.as_slice())).collect();
        let tx = db.begin().await?;
        users::insert_users(&tx, tenant, &batch).await?;
        tx.commit().await?;
        i = upto;
        let done = i - start;
        if done.is_multiple_of(100_000) || i == end {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "seeded {done} users in {secs:.0} s ({:.0}/s)",
                f64::from(u32::try_from(done).unwrap_or(u32::MAX)) / secs.max(0.001)
            );
        }
    }
    // Fresh statistics for the planner.
    analyze(db, &["users", "user_identities", "user_keys", "user_attrs"]).await
}

/// Refreshes the planner's statistics: the whole database on SQLite, `tables` on PostgreSQL.
async fn analyze(db: &Db, tables: &[&str]) -> anyhow::Result<()> {
    let sql = match db.dialect() {
        gatehouse_store::Dialect::Sqlite => "ANALYZE".to_owned(),
        gatehouse_store::Dialect::Postgres => format!("ANALYZE {}", tables.join(", ")),
    };
    let tx = db.begin().await?;
    tx.batch(&sql).await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = Db::connect(&args.database_url).await?;
    let (tenant, conn_id, conn_name) = tenant_and_connection(&db).await?;
    if let Some(Command::Authz(a)) = &args.command {
        return authz::run(&db, &tenant, (&conn_id, &conn_name), args.batch, a).await;
    }
    let start = count_users(&db, &tenant).await?;
    let end = start + args.count;
    let started = Instant::now();
    seed_users(&db, &tenant, (&conn_id, &conn_name), start, end, args.batch).await?;
    let sample = user(args.sample.min(end.saturating_sub(1)));
    println!("SEED users={end}");
    println!("SEED seconds={:.1}", started.elapsed().as_secs_f64());
    println!("SEED sample_user_id={}", sample.user_id);
    println!("SEED sample_email={}", sample.email);
    Ok(())
}
