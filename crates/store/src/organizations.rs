//! Organizations and what hangs off them: members (and the roles a member has in the
//! organization, rows of `user_roles` with its `organization_id`), enabled connections, client
//! grants associated with it, invitations and discovery domains.

use serde_json::Value;

use crate::{
    DbResult, Exec, Locked, P, Page, Row, Tx, client_grants::ClientGrantRow, params, sql::Filter,
    table::Table,
};

pub const TABLE: Table = Table {
    name: "organizations",
    key: "id",
    columns: &["name", "display_name"],
};

const COLS: &str = "id, name, body, seq, created_at, updated_at";

/// A stored organization: `body` is the organization as the API shows it.
#[derive(Debug, Clone)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub body: Value,
    /// Insertion order: the key of checkpoint pages.
    pub seq: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl OrganizationRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            body: r.json("body")?,
            seq: r.i64("seq")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    fn columns(&self) -> Vec<P> {
        params![
            &self.name,
            self.body.get("display_name").and_then(Value::as_str)
        ]
    }
}

fn rows<T>(rs: &[Row], f: impl Fn(&Row) -> DbResult<T>) -> DbResult<Vec<T>> {
    rs.iter().map(f).collect()
}

pub async fn insert(x: &impl Exec, tenant: &str, o: &OrganizationRow) -> DbResult<()> {
    TABLE
        .insert(x, tenant, &o.id, o.columns(), &o.body, &o.created_at)
        .await
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<OrganizationRow>> {
    x.query_opt(
        &format!("SELECT {COLS} FROM organizations WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(OrganizationRow::from_row)
    .transpose()
}

pub async fn find_by_name(
    x: &impl Exec,
    tenant: &str,
    name: &str,
) -> DbResult<Option<OrganizationRow>> {
    x.query_opt(
        &format!("SELECT {COLS} FROM organizations WHERE tenant_id = $1 AND name = $2"),
        params![tenant, name],
    )
    .await?
    .as_ref()
    .map(OrganizationRow::from_row)
    .transpose()
}

/// The organization, locked until the transaction ends (see [`Locked`]): every write of an
/// organization or of what hangs off it starts here.
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<Locked<OrganizationRow>>> {
    tx.query_opt(
        &format!(
            "SELECT {COLS} FROM organizations WHERE tenant_id = $1 AND id = $2{}",
            tx.for_update()
        ),
        params![tenant, id],
    )
    .await?
    .map(|r| Locked::new(r).try_map(OrganizationRow::from_row))
    .transpose()
}

/// Writes back a row read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, o: &Locked<OrganizationRow>) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &o.id, o.columns(), &o.body, &o.updated_at)
        .await
}

/// The order of an offset list: a column (`seq`, `name`, `display_name`, `created_at`) and
/// whether it ascends.
#[derive(Debug, Clone, Copy)]
pub struct Sort {
    pub column: &'static str,
    pub ascending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            column: "seq",
            ascending: true,
        }
    }
}

impl Sort {
    fn sql(&self) -> String {
        let dir = if self.ascending { "ASC" } else { "DESC" };
        format!("{} {dir}, id {dir}", self.column)
    }
}

/// Organizations in `sort` order, and how many there are.
pub async fn list(
    x: &impl Exec,
    tenant: &str,
    sort: Sort,
    page: Page,
) -> DbResult<(Vec<OrganizationRow>, i64)> {
    let total = count(
        x,
        "SELECT COUNT(*) AS n FROM organizations WHERE tenant_id = $1",
        params![tenant],
    )
    .await?;
    let rs = x
        .query(
            &format!(
                "SELECT {COLS} FROM organizations WHERE tenant_id = $1 ORDER BY {} LIMIT $2 OFFSET $3",
                sort.sql()
            ),
            params![tenant, page.limit, page.offset],
        )
        .await?;
    Ok((rows(&rs, OrganizationRow::from_row)?, total))
}

/// Up to `take` organizations after the key `after` (`seq`, `id`) in insertion order.
pub async fn list_after(
    x: &impl Exec,
    tenant: &str,
    after: Option<(i64, &str)>,
    take: i64,
) -> DbResult<Vec<OrganizationRow>> {
    page_after(
        x,
        &format!("SELECT {COLS} FROM organizations WHERE tenant_id = $1"),
        ("seq", "id"),
        params![tenant],
        after,
        take,
        OrganizationRow::from_row,
    )
    .await
}

/// A keyset page: `select` (a `SELECT … WHERE …` whose placeholders `ps` binds) continued after
/// the key `after` in the order (`seq`, `id`), `take` rows, each made by `f`. The key test is
/// `seq >= $n AND (seq > $n OR id > $n+1)`: its `seq >=` bound makes it one index range on both
/// backends (an `OR` alone would make PostgreSQL read the list from its start).
async fn page_after<T>(
    x: &impl Exec,
    select: &str,
    (seq, id): (&str, &str),
    mut ps: Vec<P>,
    after: Option<(i64, &str)>,
    take: i64,
    f: impl Fn(&Row) -> DbResult<T>,
) -> DbResult<Vec<T>> {
    let (after_seq, after_id) = after.unwrap_or((i64::MIN, ""));
    let n = ps.len() + 1;
    ps.extend([P::I64(after_seq), P::from(after_id), P::I64(take)]);
    let sql = format!(
        "{select} AND {seq} >= ${n} AND ({seq} > ${n} OR {id} > ${}) ORDER BY {seq}, {id} LIMIT ${}",
        n + 1,
        n + 2
    );
    rows(&x.query(&sql, ps).await?, f)
}

async fn count(x: &impl Exec, sql: &str, ps: Vec<P>) -> DbResult<i64> {
    x.query_opt(sql, ps).await?.map_or(Ok(0), |r| r.i64("n"))
}

const ORG_COLS: &str = "o.id, o.name, o.body, o.seq, o.created_at, o.updated_at";

/// A table that links organizations to something else (`column` = the other side's id).
#[derive(Debug, Clone, Copy)]
struct Link {
    table: &'static str,
    column: &'static str,
}

const MEMBERSHIP: Link = Link {
    table: "organization_members",
    column: "user_id",
};
const GRANT_ASSOCIATION: Link = Link {
    table: "organization_client_grants",
    column: "grant_id",
};

impl Link {
    fn from(self) -> String {
        format!(
            "FROM {} l JOIN organizations o ON o.tenant_id = l.tenant_id AND o.id = l.organization_id \
             WHERE l.tenant_id = $1 AND l.{} = $2",
            self.table, self.column
        )
    }

    /// The organizations linked to `other`, in the order they were created (offset page),
    /// and how many.
    async fn page(
        self,
        x: &impl Exec,
        tenant: &str,
        other: &str,
        page: Page,
    ) -> DbResult<(Vec<OrganizationRow>, i64)> {
        let from = self.from();
        let total = count(
            x,
            &format!("SELECT COUNT(*) AS n {from}"),
            params![tenant, other],
        )
        .await?;
        let rs = x
            .query(
                &format!("SELECT {ORG_COLS} {from} ORDER BY o.seq, o.id LIMIT $3 OFFSET $4"),
                params![tenant, other, page.limit, page.offset],
            )
            .await?;
        Ok((rows(&rs, OrganizationRow::from_row)?, total))
    }

    /// Up to `take` organizations linked to `other`, after the key `after` (`seq`, `id`).
    async fn after(
        self,
        x: &impl Exec,
        tenant: &str,
        other: &str,
        after: Option<(i64, &str)>,
        take: i64,
    ) -> DbResult<Vec<OrganizationRow>> {
        page_after(
            x,
            &format!("SELECT {ORG_COLS} {}", self.from()),
            ("o.seq", "o.id"),
            params![tenant, other],
            after,
            take,
            OrganizationRow::from_row,
        )
        .await
    }
}

/// The organizations `user_id` is a member of, in the order they were created, and how many.
pub async fn of_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    page: Page,
) -> DbResult<(Vec<OrganizationRow>, i64)> {
    MEMBERSHIP.page(x, tenant, user_id, page).await
}

/// The organizations client grant `grant_id` is associated with (offset page), and how many.
pub async fn of_grant(
    x: &impl Exec,
    tenant: &str,
    grant_id: &str,
    page: Page,
) -> DbResult<(Vec<OrganizationRow>, i64)> {
    GRANT_ASSOCIATION.page(x, tenant, grant_id, page).await
}

/// Up to `take` organizations client grant `grant_id` is associated with, after the key `after`.
pub async fn of_grant_after(
    x: &impl Exec,
    tenant: &str,
    grant_id: &str,
    after: Option<(i64, &str)>,
    take: i64,
) -> DbResult<Vec<OrganizationRow>> {
    GRANT_ASSOCIATION
        .after(x, tenant, grant_id, after, take)
        .await
}

/// Deletes the row of `table` (a child of the organization, keyed by `column`); whether there
/// was one.
async fn delete_child(
    x: &impl Exec,
    table: &str,
    column: &str,
    tenant: &str,
    org: &str,
    key: &str,
) -> DbResult<bool> {
    Ok(x.execute(
        &format!(
            "DELETE FROM {table} WHERE tenant_id = $1 AND organization_id = $2 AND {column} = $3"
        ),
        params![tenant, org, key],
    )
    .await?
        > 0)
}

/// What hangs off an organization, each keyed by `organization_id`: deleted with it.
const CHILDREN: &[&str] = &[
    "organization_members",
    "user_roles",
    "organization_connections",
    "organization_client_grants",
    "organization_invitations",
    "organization_discovery_domains",
];

/// Deletes the organization and everything that hangs off it; run it in one transaction so
/// that it all goes or nothing does. False when there was no such organization.
pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    for table in CHILDREN {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND organization_id = $2"),
            params![tenant, id],
        )
        .await?;
    }
    crate::roles::delete_owned_by(x, tenant, id).await?;
    TABLE.delete(x, tenant, id).await
}

// ---- members ----

/// A member as the API shows it: from the user's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub user_id: String,
    /// When the membership was made (insertion order).
    pub seq: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

impl MemberRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        let body = r.json("body")?;
        Ok(Self {
            user_id: r.text("user_id")?,
            seq: r.i64("seq")?,
            email: r.opt_text("email")?,
            name: r.opt_text("name")?,
            picture: body
                .get("picture")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// How many ids go into one `IN (…)` or multi-row `VALUES` statement.
const CHUNK: usize = 500;

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which of `user_ids` are users of the tenant.
pub async fn existing_users(
    x: &impl Exec,
    tenant: &str,
    user_ids: &[String],
) -> DbResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in user_ids.chunks(CHUNK) {
        let mut ps = params![tenant];
        ps.extend(chunk.iter().map(P::from));
        let rs = x
            .query(
                &format!(
                    "SELECT user_id FROM users WHERE tenant_id = $1 AND user_id IN ({})",
                    placeholders(2, chunk.len())
                ),
                ps,
            )
            .await?;
        for r in &rs {
            out.push(r.text("user_id")?);
        }
    }
    Ok(out)
}

/// Adds members; those who already are stay as they are.
pub async fn add_members(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    user_ids: &[String],
    now: &str,
) -> DbResult<()> {
    let seq = crate::seq_now();
    for chunk in user_ids.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, $2, ${}, $3, $4)", i + 5))
            .collect();
        let mut ps = params![tenant, org, seq, now];
        ps.extend(chunk.iter().map(P::from));
        x.execute(
            &format!(
                "INSERT INTO organization_members (tenant_id, organization_id, user_id, seq, created_at) VALUES {} \
                 ON CONFLICT (tenant_id, organization_id, user_id) DO NOTHING",
                values.join(", ")
            ),
            ps,
        )
        .await?;
    }
    Ok(())
}

/// Removes memberships (the roles the members had in the organization are the caller's to
/// take, in the same transaction: `roles::unassign_all`).
pub async fn remove_members(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    user_ids: &[String],
) -> DbResult<()> {
    for chunk in user_ids.chunks(CHUNK) {
        let mut ps = params![tenant, org];
        ps.extend(chunk.iter().map(P::from));
        x.execute(
            &format!(
                "DELETE FROM organization_members WHERE tenant_id = $1 AND organization_id = $2 AND user_id IN ({})",
                placeholders(3, chunk.len())
            ),
            ps,
        )
        .await?;
    }
    Ok(())
}

pub async fn is_member(x: &impl Exec, tenant: &str, org: &str, user_id: &str) -> DbResult<bool> {
    Ok(x
        .query_opt(
            "SELECT 1 AS one FROM organization_members WHERE tenant_id = $1 AND organization_id = $2 AND user_id = $3",
            params![tenant, org, user_id],
        )
        .await?
        .is_some())
}

const MEMBER_FROM: &str = "FROM organization_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.user_id = m.user_id \
                           WHERE m.tenant_id = $1 AND m.organization_id = $2";

/// Up to `take` members after the key `after` (when they joined, user id), in that order (Auth0's
/// order): a keyset page, one index range however deep in the list.
pub async fn members_after(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    after: Option<(i64, &str)>,
    take: i64,
) -> DbResult<Vec<MemberRow>> {
    page_after(
        x,
        &format!("SELECT m.user_id, m.seq, u.email, u.name, u.body {MEMBER_FROM}"),
        ("m.seq", "m.user_id"),
        params![tenant, org],
        after,
        take,
        MemberRow::from_row,
    )
    .await
}

/// An offset page of members in the order they joined, and how many there are.
pub async fn members_page(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    page: Page,
) -> DbResult<(Vec<MemberRow>, i64)> {
    let total = count(
        x,
        "SELECT COUNT(*) AS n FROM organization_members WHERE tenant_id = $1 AND organization_id = $2",
        params![tenant, org],
    )
    .await?;
    let rs = x
        .query(
            &format!(
                "SELECT m.user_id, m.seq, u.email, u.name, u.body {MEMBER_FROM} ORDER BY m.seq, m.user_id LIMIT $3 OFFSET $4"
            ),
            params![tenant, org, page.limit, page.offset],
        )
        .await?;
    Ok((rows(&rs, MemberRow::from_row)?, total))
}

/// The roles members have in the organization, as (user id, role id, role name), for the
/// members `user_ids` (one query per few hundred members).
pub async fn member_role_names(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    user_ids: &[String],
) -> DbResult<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for chunk in user_ids.chunks(CHUNK) {
        let mut ps = params![tenant, org];
        ps.extend(chunk.iter().map(P::from));
        let rs = x
            .query(
                &format!(
                    "SELECT ur.user_id, r.id, r.name FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
                     WHERE ur.tenant_id = $1 AND ur.organization_id = $2 AND ur.user_id IN ({}) ORDER BY ur.user_id, ur.seq, r.id",
                    placeholders(3, chunk.len())
                ),
                ps,
            )
            .await?;
        for r in &rs {
            out.push((r.text("user_id")?, r.text("id")?, r.text("name")?));
        }
    }
    Ok(out)
}

// ---- enabled connections ----

/// A connection of an organization, with the connection's name and strategy.
#[derive(Debug, Clone)]
pub struct OrgConnectionRow {
    pub connection_id: String,
    /// The settings (`assign_membership_on_login`, `show_as_button`, …).
    pub body: Value,
    pub is_enabled: bool,
    pub name: String,
    pub strategy: String,
}

impl OrgConnectionRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            connection_id: r.text("connection_id")?,
            body: r.json("body")?,
            is_enabled: r.bool("is_enabled")?,
            name: r.text("name")?,
            strategy: r.text("strategy")?,
        })
    }
}

const CONN_SELECT: &str = "SELECT oc.connection_id, oc.body, oc.is_enabled, c.name, c.strategy \
     FROM organization_connections oc JOIN connections c ON c.tenant_id = oc.tenant_id AND c.id = oc.connection_id \
     WHERE oc.tenant_id = $1 AND oc.organization_id = $2";

pub async fn find_connection(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    connection_id: &str,
) -> DbResult<Option<OrgConnectionRow>> {
    x.query_opt(
        &format!("{CONN_SELECT} AND oc.connection_id = $3"),
        params![tenant, org, connection_id],
    )
    .await?
    .as_ref()
    .map(OrgConnectionRow::from_row)
    .transpose()
}

/// Adds a connection to an organization; false (and nothing written) when it is there already.
pub async fn insert_connection(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    c: &OrgConnectionRow,
) -> DbResult<bool> {
    Ok(x
        .execute(
            "INSERT INTO organization_connections (tenant_id, organization_id, connection_id, body, is_enabled, seq) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, organization_id, connection_id) DO NOTHING",
            params![tenant, org, &c.connection_id, &c.body, c.is_enabled, crate::seq_now()],
        )
        .await?
        > 0)
}

/// Writes a connection's settings; run it in the transaction that locked the organization.
pub async fn update_connection(
    x: &Tx,
    tenant: &str,
    org: &Locked<OrganizationRow>,
    c: &OrgConnectionRow,
) -> DbResult<bool> {
    Ok(x.execute(
        "UPDATE organization_connections SET body = $4, is_enabled = $5 \
             WHERE tenant_id = $1 AND organization_id = $2 AND connection_id = $3",
        params![tenant, &org.id, &c.connection_id, &c.body, c.is_enabled],
    )
    .await?
        > 0)
}

pub async fn delete_connection(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    connection_id: &str,
) -> DbResult<bool> {
    delete_child(
        x,
        "organization_connections",
        "connection_id",
        tenant,
        org,
        connection_id,
    )
    .await
}

/// An offset page of an organization's connections (only the enabled ones when `is_enabled`
/// says so), in the order they were added, and how many there are.
pub async fn connections(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    is_enabled: Option<bool>,
    page: Page,
) -> DbResult<(Vec<OrgConnectionRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    w.eq("organization_id", org);
    if let Some(e) = is_enabled {
        w.eq("is_enabled", e);
    }
    let total = count(
        x,
        &format!(
            "SELECT COUNT(*) AS n FROM organization_connections {}",
            w.where_sql()
        ),
        w.params.clone(),
    )
    .await?;
    let mut ps = params![tenant, org];
    let enabled = match is_enabled {
        Some(e) => {
            ps.push(P::Bool(e));
            " AND oc.is_enabled = $3"
        }
        None => "",
    };
    let n = ps.len();
    ps.push(P::I64(page.limit));
    ps.push(P::I64(page.offset));
    let rs = x
        .query(
            &format!(
                "{CONN_SELECT}{enabled} ORDER BY oc.seq, oc.connection_id LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            ps,
        )
        .await?;
    Ok((rows(&rs, OrgConnectionRow::from_row)?, total))
}

// ---- client grants ----

/// Associates a grant; false when it was already.
pub async fn associate_grant(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    grant_id: &str,
) -> DbResult<bool> {
    Ok(x
        .execute(
            "INSERT INTO organization_client_grants (tenant_id, organization_id, grant_id, seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, organization_id, grant_id) DO NOTHING",
            params![tenant, org, grant_id, crate::seq_now()],
        )
        .await?
        > 0)
}

pub async fn dissociate_grant(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    grant_id: &str,
) -> DbResult<bool> {
    delete_child(
        x,
        "organization_client_grants",
        "grant_id",
        tenant,
        org,
        grant_id,
    )
    .await
}

/// What a list of an organization's client grants may filter on.
#[derive(Debug, Default)]
pub struct OrgGrantFilter {
    pub audience: Option<String>,
    pub client_id: Option<String>,
    pub grant_ids: Option<Vec<String>>,
}

/// An offset page of the client grants associated with an organization, and how many.
pub async fn grants(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    f: &OrgGrantFilter,
    page: Page,
) -> DbResult<(Vec<ClientGrantRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    let o = w.bind(org);
    w.clause(format!(
        "id IN (SELECT grant_id FROM organization_client_grants WHERE tenant_id = $1 AND organization_id = {o})"
    ));
    if let Some(a) = &f.audience {
        w.eq("audience", a);
    }
    if let Some(c) = &f.client_id {
        w.eq("client_id", c);
    }
    if let Some(ids) = &f.grant_ids {
        w.any_of("id", ids.iter().map(P::from).collect());
    }
    let (rs, total) = crate::client_grants::TABLE.list(x, &w, page).await?;
    Ok((rows(&rs, ClientGrantRow::from_row)?, total))
}

// ---- invitations ----

/// A stored invitation: `body` is the invitation as the API shows it, without its ticket URL
/// (whose token only the creation's reply carries; its SHA-256 is kept in `ticket_hash`).
#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub ticket_hash: String,
    pub body: Value,
    pub expires_at: String,
    pub created_at: String,
}

impl InvitationRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            organization_id: r.text("organization_id")?,
            ticket_hash: r.text("ticket_hash")?,
            body: r.json("body")?,
            expires_at: r.text("expires_at")?,
            created_at: r.text("created_at")?,
        })
    }
}

const INV_COLS: &str = "id, organization_id, ticket_hash, body, expires_at, created_at";

pub async fn insert_invitation(x: &impl Exec, tenant: &str, i: &InvitationRow) -> DbResult<()> {
    x.execute(
        "INSERT INTO organization_invitations (tenant_id, organization_id, id, ticket_hash, body, expires_at, seq, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            tenant,
            &i.organization_id,
            &i.id,
            &i.ticket_hash,
            &i.body,
            &i.expires_at,
            crate::seq_now(),
            &i.created_at
        ],
    )
    .await?;
    Ok(())
}

pub async fn find_invitation(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    id: &str,
) -> DbResult<Option<InvitationRow>> {
    x.query_opt(
        &format!(
            "SELECT {INV_COLS} FROM organization_invitations WHERE tenant_id = $1 AND organization_id = $2 AND id = $3"
        ),
        params![tenant, org, id],
    )
    .await?
    .as_ref()
    .map(InvitationRow::from_row)
    .transpose()
}

/// An offset page of an organization's invitations, oldest first unless `newest_first`.
pub async fn invitations(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    newest_first: bool,
    page: Page,
) -> DbResult<(Vec<InvitationRow>, i64)> {
    let total = count(
        x,
        "SELECT COUNT(*) AS n FROM organization_invitations WHERE tenant_id = $1 AND organization_id = $2",
        params![tenant, org],
    )
    .await?;
    let dir = if newest_first { "DESC" } else { "ASC" };
    let rs = x
        .query(
            &format!(
                "SELECT {INV_COLS} FROM organization_invitations WHERE tenant_id = $1 AND organization_id = $2 \
                 ORDER BY seq {dir}, id {dir} LIMIT $3 OFFSET $4"
            ),
            params![tenant, org, page.limit, page.offset],
        )
        .await?;
    Ok((rows(&rs, InvitationRow::from_row)?, total))
}

pub async fn delete_invitation(x: &impl Exec, tenant: &str, org: &str, id: &str) -> DbResult<bool> {
    delete_child(x, "organization_invitations", "id", tenant, org, id).await
}

// ---- discovery domains ----

/// A discovery domain: `body` is the domain as the API shows it.
#[derive(Debug, Clone)]
pub struct DomainRow {
    pub id: String,
    pub domain: String,
    pub body: Value,
    pub seq: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl DomainRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            domain: r.text("domain")?,
            body: r.json("body")?,
            seq: r.opt_i64("seq")?.unwrap_or(0),
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }
}

const DOMAIN_COLS: &str = "id, domain, body, seq, created_at, updated_at";

/// Inserts a domain; a domain the organization has already is a unique violation.
pub async fn insert_domain(x: &impl Exec, tenant: &str, org: &str, d: &DomainRow) -> DbResult<()> {
    x.execute(
        "INSERT INTO organization_discovery_domains (tenant_id, organization_id, id, domain, body, seq, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        params![tenant, org, &d.id, &d.domain, &d.body, crate::seq_now(), &d.created_at],
    )
    .await?;
    Ok(())
}

async fn domain_where(x: &impl Exec, clause: &str, ps: Vec<P>) -> DbResult<Option<DomainRow>> {
    x.query_opt(
        &format!(
            "SELECT {DOMAIN_COLS} FROM organization_discovery_domains WHERE tenant_id = $1 AND organization_id = $2 AND {clause}"
        ),
        ps,
    )
    .await?
    .as_ref()
    .map(DomainRow::from_row)
    .transpose()
}

pub async fn find_domain(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    id: &str,
) -> DbResult<Option<DomainRow>> {
    domain_where(x, "id = $3", params![tenant, org, id]).await
}

pub async fn find_domain_by_name(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    domain: &str,
) -> DbResult<Option<DomainRow>> {
    domain_where(x, "domain = $3", params![tenant, org, domain]).await
}

/// Writes a domain back; run it in the transaction that locked the organization.
pub async fn update_domain(
    x: &Tx,
    tenant: &str,
    org: &Locked<OrganizationRow>,
    d: &DomainRow,
) -> DbResult<bool> {
    Ok(x.execute(
        "UPDATE organization_discovery_domains SET body = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND organization_id = $2 AND id = $3",
        params![tenant, &org.id, &d.id, &d.body, &d.updated_at],
    )
    .await?
        > 0)
}

pub async fn delete_domain(x: &impl Exec, tenant: &str, org: &str, id: &str) -> DbResult<bool> {
    delete_child(x, "organization_discovery_domains", "id", tenant, org, id).await
}

/// Up to `take` domains after the key `after` (`seq`, `id`), in the order they were added.
pub async fn domains_after(
    x: &impl Exec,
    tenant: &str,
    org: &str,
    after: Option<(i64, &str)>,
    take: i64,
) -> DbResult<Vec<DomainRow>> {
    page_after(
        x,
        &format!(
            "SELECT {DOMAIN_COLS} FROM organization_discovery_domains WHERE tenant_id = $1 AND organization_id = $2"
        ),
        ("seq", "id"),
        params![tenant, org],
        after,
        take,
        DomainRow::from_row,
    )
    .await
}
