//! A table of JSON documents with a few typed, indexed columns beside them: what most families
//! store. Columns every such table has: `tenant_id`, the key column, `body`, `seq`,
//! `created_at`, `updated_at`.

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, sql::Filter};

pub struct Table {
    pub name: &'static str,
    pub key: &'static str,
    /// The typed columns, in the order their values are given.
    pub columns: &'static [&'static str],
}

impl Table {
    fn select(&self) -> String {
        let mut cols = vec![self.key, "body", "created_at", "updated_at"];
        cols.extend_from_slice(self.columns);
        format!("SELECT {} FROM {}", cols.join(", "), self.name)
    }

    pub async fn insert(
        &self,
        x: &impl Exec,
        tenant: &str,
        id: &str,
        cols: Vec<P>,
        body: &Value,
        now: &str,
    ) -> DbResult<()> {
        let names: Vec<&str> = self.columns.to_vec();
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 7)).collect();
        let sql = format!(
            "INSERT INTO {} (tenant_id, {}, body, seq, created_at, updated_at{}{}) VALUES ($1, $2, $3, $4, $5, $6{}{})",
            self.name,
            self.key,
            if names.is_empty() { "" } else { ", " },
            names.join(", "),
            if names.is_empty() { "" } else { ", " },
            placeholders.join(", "),
        );
        let mut ps = params![tenant, id, body, crate::seq_now(), now, now];
        ps.extend(cols);
        x.execute(&sql, ps).await?;
        Ok(())
    }

    pub async fn find(&self, x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<Row>> {
        let sql = format!(
            "{} WHERE tenant_id = $1 AND {} = $2",
            self.select(),
            self.key
        );
        x.query_opt(&sql, params![tenant, id]).await
    }

    /// The row, locked for the rest of the transaction (see [`Locked`]).
    pub async fn find_for_update(
        &self,
        tx: &Tx,
        tenant: &str,
        id: &str,
    ) -> DbResult<Option<Locked<Row>>> {
        let sql = format!(
            "{} WHERE tenant_id = $1 AND {} = $2{}",
            self.select(),
            self.key,
            tx.for_update()
        );
        Ok(tx
            .query_opt(&sql, params![tenant, id])
            .await?
            .map(Locked::new))
    }

    /// The first row matching `filter`, in insertion order, locked for the rest of the transaction.
    pub async fn first_for_update(
        &self,
        tx: &Tx,
        filter: &Filter,
    ) -> DbResult<Option<Locked<Row>>> {
        let sql = format!(
            "{} {} ORDER BY seq, {} LIMIT 1{}",
            self.select(),
            filter.where_sql(),
            self.key,
            tx.for_update()
        );
        Ok(tx
            .query_opt(&sql, filter.params.clone())
            .await?
            .map(Locked::new))
    }

    /// The first row matching `filter`, in insertion order: one query, no count.
    pub async fn first(&self, x: &impl Exec, filter: &Filter) -> DbResult<Option<Row>> {
        let sql = format!(
            "{} {} ORDER BY seq, {} LIMIT 1",
            self.select(),
            filter.where_sql(),
            self.key
        );
        x.query_opt(&sql, filter.params.clone()).await
    }

    /// Rows matching `filter`, in insertion order, and how many match in all.
    pub async fn list(
        &self,
        x: &impl Exec,
        filter: &Filter,
        page: Page,
    ) -> DbResult<(Vec<Row>, i64)> {
        let w = filter.where_sql();
        let total = x
            .query_opt(
                &format!("SELECT COUNT(*) AS n FROM {} {w}", self.name),
                filter.params.clone(),
            )
            .await?
            .map_or(Ok(0), |r| r.i64("n"))?;
        let mut ps = filter.params.clone();
        ps.push(P::I64(page.limit));
        ps.push(P::I64(page.offset));
        let n = ps.len();
        let sql = format!(
            "{} {w} ORDER BY seq, {} LIMIT ${} OFFSET ${}",
            self.select(),
            self.key,
            n - 1,
            n
        );
        Ok((x.query(&sql, ps).await?, total))
    }

    /// Replaces the body and typed columns of a row locked by `find_for_update`; false when
    /// there is no such row.
    pub async fn update(
        &self,
        x: &Tx,
        tenant: &str,
        id: &str,
        cols: Vec<P>,
        body: &Value,
        now: &str,
    ) -> DbResult<bool> {
        let sets: String = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", {c} = ${}", i + 5))
            .collect();
        let sql = format!(
            "UPDATE {} SET body = $3, updated_at = $4{sets} WHERE tenant_id = $1 AND {} = $2",
            self.name, self.key
        );
        let mut ps = params![tenant, id, body, now];
        ps.extend(cols);
        Ok(x.execute(&sql, ps).await? > 0)
    }

    pub async fn delete(&self, x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
        let sql = format!(
            "DELETE FROM {} WHERE tenant_id = $1 AND {} = $2",
            self.name, self.key
        );
        Ok(x.execute(&sql, params![tenant, id]).await? > 0)
    }
}
