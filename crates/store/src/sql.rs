//! A small builder for WHERE clauses with numbered placeholders, shared by the families.

use crate::db::P;

#[derive(Debug, Default)]
pub struct Filter {
    clauses: Vec<String>,
    pub params: Vec<P>,
}

impl Filter {
    /// Starts with `tenant_id = $1`.
    pub fn tenant(tenant: &str) -> Self {
        let mut f = Self::default();
        f.eq("tenant_id", tenant);
        f
    }

    /// The next placeholder, bound to `value`.
    pub fn bind(&mut self, value: impl Into<P>) -> String {
        self.params.push(value.into());
        format!("${}", self.params.len())
    }

    pub fn eq(&mut self, column: &str, value: impl Into<P>) -> &mut Self {
        let p = self.bind(value);
        self.clauses.push(format!("{column} = {p}"));
        self
    }

    /// `column IN (…)`; an empty list matches nothing.
    pub fn any_of(&mut self, column: &str, values: Vec<P>) -> &mut Self {
        if values.is_empty() {
            self.clauses.push("1 = 0".into());
            return self;
        }
        let ps: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        self.clauses
            .push(format!("{column} IN ({})", ps.join(", ")));
        self
    }

    /// A raw clause whose placeholders the caller took from [`Filter::bind`].
    pub fn clause(&mut self, clause: String) -> &mut Self {
        self.clauses.push(clause);
        self
    }

    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders() {
        let mut f = Filter::tenant("t");
        f.eq("a", 1i64)
            .any_of("b", vec![P::from("x"), P::from("y")]);
        assert_eq!(
            f.where_sql(),
            "WHERE tenant_id = $1 AND a = $2 AND b IN ($3, $4)"
        );
        assert_eq!(f.params.len(), 4);
    }
}
