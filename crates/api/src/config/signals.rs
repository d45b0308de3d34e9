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
//! - Stats: counted from the users table. Gatehouse has no login flow that records logins yet,
//!   so daily `logins` (and `leaked_passwords`) are 0; `signups` are the users created that day.

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
    let days = users::created_by_day(ctx.db(), ctx.tenant_id(), &from, &until).await?;
    let items: Vec<Value> = days
        .into_iter()
        .map(|(d, n, first, last)| {
            json!({
                "date": format!("{d}T00:00:00.000Z"),
                "logins": 0,
                "signups": n,
                "leaked_passwords": 0,
                "updated_at": last,
                "created_at": first,
            })
        })
        .collect();
    Ok(Reply::json(Value::Array(items)))
}
