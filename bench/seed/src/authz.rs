//! `gatehouse-seed authz`: the data of the authorization benchmark (`bench/authz.sh`).
//!
//! The organization, the roles and the API are created beforehand through the Management API
//! (a handful of calls, so their stored form is the handlers' own); this adds what is too
//! many for the API, in multi-row INSERTs (`store::bulk`), `--batch` rows per transaction,
//! straight into the tables of `0003_authorization.sql`:
//!
//! - users `0..max(members, role-users)` (the same deterministic users as the users benchmark;
//!   only the missing ones are added);
//! - `organization_members`: users `0..members` in the organization;
//! - `user_roles`: the first role given to users `0..role-users` (a tenant role:
//!   `organization_id` '');
//! - `role_permissions`: role `k` gets the API's scopes `k·per .. (k+1)·per`
//!   (`--permissions-per-role`), so that the roles' permissions are distinct;
//! - `user_roles`: every role given to the sample user (3 roles × 50 permissions by default).
//!
//! Prints `SEED key=value` lines: the sample user's id, the counts, the seconds taken.

use std::time::Instant;

use anyhow::{Context, bail, ensure};

use gatehouse_store::{Db, P, bulk, params, resource_servers, seq_now};

use crate::{analyze, count_users, seed_users, user};

#[derive(clap::Args)]
pub struct Args {
    /// Users `0..members` become members of the organization.
    #[arg(long, default_value_t = 100_000)]
    members: u64,
    /// Users `0..role-users` get the first role (default: as many as `--members`).
    #[arg(long)]
    role_users: Option<u64>,
    /// The organization's id (it must exist); without it, no members are added.
    #[arg(long)]
    organization: Option<String>,
    /// The roles' ids (they must exist), comma-separated: each gets its share of the API's
    /// scopes as permissions and is given to the sample user; the first is also given to
    /// `--role-users` users.
    #[arg(long, value_delimiter = ',', required = true)]
    roles: Vec<String>,
    /// The identifier of the API (resource server) whose scopes become the roles' permissions.
    #[arg(long)]
    api: String,
    /// Permissions per role (the API needs roles × this many scopes).
    #[arg(long, default_value_t = 50)]
    permissions_per_role: usize,
    /// The user given every role (`SEED sample_user_id`): one of the members.
    #[arg(long, default_value_t = 77_777)]
    sample: u64,
}

async fn exists(db: &Db, table: &str, tenant: &str, id: &str) -> anyhow::Result<bool> {
    Ok(db
        .query_opt(
            &format!("SELECT id FROM {table} WHERE tenant_id = $1 AND id = $2"),
            params![tenant, id],
        )
        .await?
        .is_some())
}

/// Inserts `rows` into `table`, `batch` rows per transaction.
async fn insert_batched(
    db: &Db,
    table: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<P>>,
    batch: u64,
) -> anyhow::Result<u64> {
    let batch = usize::try_from(batch.max(1)).unwrap_or(10_000);
    let mut rows = rows.peekable();
    let mut inserted = 0;
    while rows.peek().is_some() {
        let chunk: Vec<Vec<P>> = rows.by_ref().take(batch).collect();
        let tx = db.begin().await?;
        inserted += bulk::insert_rows(&tx, table, columns, chunk).await?;
        tx.commit().await?;
    }
    Ok(inserted)
}

pub async fn run(
    db: &Db,
    tenant: &str,
    conn: (&str, &str),
    batch: u64,
    a: &Args,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let role_users = a.role_users.unwrap_or(a.members);
    let needed = a.members.max(role_users);
    ensure!(
        a.sample < a.members,
        "--sample {} is not one of the {} members",
        a.sample,
        a.members
    );
    if let Some(org) = &a.organization {
        ensure!(
            exists(db, "organizations", tenant, org).await?,
            "no organization {org} in tenant {tenant}"
        );
    }
    for role in &a.roles {
        ensure!(
            exists(db, "roles", tenant, role).await?,
            "no role {role} in tenant {tenant}"
        );
    }
    let api = resource_servers::find_by_identifier(db, tenant, &a.api)
        .await?
        .with_context(|| format!("no API with identifier {}", a.api))?;
    let scopes: Vec<String> = api
        .body
        .get("scopes")
        .and_then(serde_json::Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.get("value").and_then(serde_json::Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let wanted = a.roles.len() * a.permissions_per_role;
    if scopes.len() < wanted {
        bail!(
            "the API {} has {} scopes; {} roles × {} permissions need {wanted}",
            a.api,
            scopes.len(),
            a.roles.len(),
            a.permissions_per_role
        );
    }

    // The users.
    let existing = count_users(db, tenant).await?;
    if existing < needed {
        seed_users(db, tenant, conn, existing, needed, batch).await?;
    }
    let sample = user(a.sample).user_id;
    ensure!(
        db.query_opt(
            "SELECT user_id FROM users WHERE tenant_id = $1 AND user_id = $2",
            params![tenant, &sample],
        )
        .await?
        .is_some(),
        "the sample user {sample} is not in the database (users not seeded by gatehouse-seed?)"
    );

    let now = gatehouse_core::time::now();
    let base = seq_now();
    let seq = |i: u64| base.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));

    // Members of the organization.
    let t = Instant::now();
    let members = match &a.organization {
        Some(org) => {
            insert_batched(
                db,
                "organization_members",
                &[
                    "tenant_id",
                    "organization_id",
                    "user_id",
                    "seq",
                    "created_at",
                ],
                (0..a.members).map(|i| params![tenant, org, user(i).user_id, seq(i), now.as_str()]),
                batch,
            )
            .await?
        }
        None => 0,
    };
    eprintln!(
        "{members} organization members in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The first role's users, then the sample user's other roles.
    let t = Instant::now();
    let first = a.roles.first().context("no role given")?;
    let mut role_rows = insert_batched(
        db,
        "user_roles",
        &["tenant_id", "user_id", "organization_id", "role_id", "seq"],
        (0..role_users).map(|i| params![tenant, user(i).user_id, "", first.as_str(), seq(i)]),
        batch,
    )
    .await?;
    let sample_extra: Vec<Vec<P>> = a
        .roles
        .iter()
        .enumerate()
        .filter(|&(k, _)| k > 0 || a.sample >= role_users)
        .map(|(k, role)| {
            let k = u64::try_from(k).unwrap_or(0);
            params![tenant, &sample, "", role.as_str(), seq(role_users + k)]
        })
        .collect();
    role_rows += insert_batched(
        db,
        "user_roles",
        &["tenant_id", "user_id", "organization_id", "role_id", "seq"],
        sample_extra.into_iter(),
        batch,
    )
    .await?;
    eprintln!(
        "{role_rows} user roles in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The roles' permissions.
    let per = a.permissions_per_role;
    let perms = insert_batched(
        db,
        "role_permissions",
        &[
            "tenant_id",
            "role_id",
            "resource_server_identifier",
            "permission_name",
            "seq",
        ],
        a.roles.iter().enumerate().flat_map(|(k, role)| {
            scopes
                .iter()
                .skip(k * per)
                .take(per)
                .enumerate()
                .map(move |(j, scope)| {
                    let n = u64::try_from(k * per + j).unwrap_or(0);
                    params![
                        tenant,
                        role.as_str(),
                        a.api.as_str(),
                        scope.as_str(),
                        seq(n)
                    ]
                })
        }),
        batch,
    )
    .await?;

    analyze(
        db,
        &[
            "users",
            "user_identities",
            "user_keys",
            "user_attrs",
            "organization_members",
            "user_roles",
            "role_permissions",
        ],
    )
    .await?;
    println!("SEED users={}", existing.max(needed));
    println!("SEED members={members}");
    println!("SEED role_users={role_users}");
    println!("SEED user_roles={role_rows}");
    println!("SEED role_permissions={perms}");
    println!("SEED sample_user_id={sample}");
    println!("SEED sample_roles={}", a.roles.len());
    println!("SEED sample_permissions={wanted}");
    println!("SEED seconds={:.1}", started.elapsed().as_secs_f64());
    Ok(())
}
