//! Tags `risk-assessments`, `supplemental-signals`, `anomaly` and `stats`, and
//! `POST /users/{id}/risk-assessments/clear`.
//!
//! - Risk assessments: two tenant-wide settings (recorded: TestAccRiskAssessment; defaults are
//!   what go-auth0's development tenant showed before any change).
//! - Supplemental signals: whether Akamai's headers are read (recorded:
//!   TestAccSupplementalSignals); Gatehouse stores the setting, no Akamai proxy feeds it.
//! - Anomaly blocks: IPs that suspicious IP throttling refuses now ([`crate::authn::throttle`]);
//!   a read answers 200 (no body) for a blocked IP, 404 otherwise (recorded: go-auth0
//!   TestAnomaly_CheckIP), a delete forgets the address's attempts and always answers 204.
//! - Stats: `signups` are the users created that day, `logins` the successful logins the tenant's
//!   log holds for it (hosted pages and password grants; as far back as logs are kept);
//!   `leaked_passwords` stay 0 (breached-password detection has no feed here).

use std::net::IpAddr;

use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime, macros::format_description};

use gatehouse_core::{Error, time as gtime};
use gatehouse_spec::Op;
use gatehouse_store::users;

use super::{DOC, Doc, Merge};
use crate::authn::throttle;
use crate::spine::{Ctx, Input, Registry, Reply};

pub static DOCS: &[Doc] = &[
    Doc {
        kind: "risk_assessments_settings",
        get: Some(Op::GetRiskAssessmentsSettings),
        patch: Some(Op::PatchRiskAssessmentsSettings),
        defaults: Some(|| json!({"enabled": false})),
        merge: Merge::Shallow,
        ..DOC
    },
    Doc {
        kind: "risk_assessments_new_device",
        get: Some(Op::GetNewDevice),
        patch: Some(Op::PatchNewDevice),
        defaults: Some(|| json!({"remember_for": 30})),
        merge: Merge::Shallow,
        ..DOC
    },
    Doc {
        kind: "supplemental_signals",
        get: Some(Op::GetSupplementalSignals),
        patch: Some(Op::PatchSupplementalSignals),
        defaults: Some(|| json!({"akamai_enabled": false})),
        merge: Merge::Shallow,
        ..DOC
    },
];

pub fn register(reg: &mut Registry) {
    for d in DOCS {
        d.register(reg);
    }
    reg.add(Op::PostClearAssessors, clear_assessors);
    reg.add(Op::GetIpsById, get_block);
    reg.add(Op::DeleteIpsById, delete_block);
    reg.add(Op::GetActiveUsers, active_users);
    reg.add(Op::GetDaily, daily);
}

/// Forgets the user's remembered devices for the connection, so that the next login is a new
/// device again. Gatehouse remembers no devices yet (no login flow), so there is nothing to
/// forget; an unknown user is the users family's 404.
async fn clear_assessors(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    users::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(|| Error::not_found("inexistent_user", "The user does not exist."))?;
    Ok(Reply::empty())
}

fn ip_param(input: &Input) -> Result<String, Error> {
    input
        .path("id")
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical().to_string())
        .map_err(|_| {
            Error::InvalidUri(
                "Path validation error: 'Data does not match any schemas from 'oneOf'' on property id."
                    .into(),
            )
        })
}

async fn get_block(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ip = ip_param(&input)?;
    if throttle::ip_blocked(ctx.db(), ctx.tenant_id(), &ip).await? {
        Ok(Reply {
            status: Some(200),
            body: None,
            ..Reply::empty()
        })
    } else {
        Err(Error::NotFound("Not Found".into()))
    }
}

async fn delete_block(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ip = ip_param(&input)?;
    throttle::unblock_ip(ctx.db(), ctx.tenant_id(), &ip).await?;
    Ok(Reply::empty())
}

/// Users whose last login is within the last 30 days, as a bare number (recorded).
async fn active_users(ctx: Ctx, _: Input) -> Result<Reply, Error> {
    let since = gtime::format(OffsetDateTime::now_utc() - Duration::days(30));
    let n = users::count_logged_in_since(ctx.db(), ctx.tenant_id(), &since).await?;
    Ok(Reply::json(json!(n)))
}

/// A `YYYYMMDD` query value (the spec's pattern was checked before).
fn day(input: &Input, name: &str) -> Result<Option<Date>, Error> {
    let Some(v) = input.query.get(name) else {
        return Ok(None);
    };
    Date::parse(v, format_description!("[year][month][day]"))
        .map(Some)
        .map_err(|_| {
            Error::InvalidQueryString(
                format!("Query validation error: 'Invalid date: {v}' on property {name}.").into(),
            )
        })
}

fn midnight(d: Date) -> String {
    gtime::format(d.midnight().assume_utc())
}

/// Days with activity between `from` and `to` (inclusive), ascending; days without any are
/// left out.
async fn daily(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let from = day(&input, "from")?.map_or_else(|| "0000".to_owned(), midnight);
    let until = match day(&input, "to")? {
        Some(d) => d.next_day().map_or_else(|| "9999".to_owned(), midnight),
        None => "9999".to_owned(),
    };
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    // day -> (logins, signups, first activity, last activity)
    let mut days: std::collections::BTreeMap<String, (i64, i64, String, String)> =
        std::collections::BTreeMap::new();
    let mut add = |d: String, logins: i64, signups: i64, first: String, last: String| {
        let e = days
            .entry(d)
            .or_insert_with(|| (0, 0, first.clone(), last.clone()));
        e.0 += logins;
        e.1 += signups;
        if first < e.2 {
            e.2 = first;
        }
        if last > e.3 {
            e.3 = last;
        }
    };
    for (d, n, first, last) in users::created_by_day(db, tenant, &from, &until).await? {
        add(d, 0, n, first, last);
    }
    for (d, n, first, last) in
        gatehouse_store::logs::logins_by_day(db, tenant, &from, &until).await?
    {
        add(d, n, 0, first, last);
    }
    let items: Vec<Value> = days
        .into_iter()
        .map(|(d, (logins, signups, first, last))| {
            json!({
                "date": format!("{d}T00:00:00.000Z"),
                "logins": logins,
                "signups": signups,
                "leaked_passwords": 0,
                "updated_at": last,
                "created_at": first,
            })
        })
        .collect();
    Ok(Reply::json(Value::Array(items)))
}
