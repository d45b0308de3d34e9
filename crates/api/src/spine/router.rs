//! The operation router, built from the spec's `OPERATIONS`: every one of the 406 operations is
//! routed, whether or not a handler exists for it.

use gatehouse_spec::{Method, OPERATIONS, Op};

/// One spec path, with its operations by method. Parameter names are kept per operation, since
/// the spec names the same segment differently in different operations (`{id}`, `{client_id}`).
struct Route {
    ops: Vec<(Method, Op, Vec<&'static str>)>,
}

pub struct Routes {
    router: matchit::Router<usize>,
    routes: Vec<Route>,
}

/// A matched operation with its raw (still percent-encoded) path parameters.
pub struct Matched {
    pub op: Op,
    pub params: Vec<(&'static str, String)>,
}

pub enum Match {
    Found(Matched),
    NoRoute,
    NoMethod,
}

fn param_names(path: &'static str) -> Vec<&'static str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// `/clients/{id}/credentials/{credential_id}` → `/clients/{p0}/credentials/{p1}`.
fn normalized(path: &str) -> String {
    let mut i = 0;
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                let s = format!("{{p{i}}}");
                i += 1;
                s
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Routes {
    pub fn build() -> anyhow::Result<Self> {
        let mut router = matchit::Router::new();
        let mut routes: Vec<Route> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for info in &OPERATIONS {
            let key = normalized(info.path);
            let idx = match index.get(&key) {
                Some(i) => *i,
                None => {
                    routes.push(Route { ops: Vec::new() });
                    let i = routes.len() - 1;
                    router.insert(key.clone(), i)?;
                    index.insert(key, i);
                    i
                }
            };
            if let Some(r) = routes.get_mut(idx) {
                r.ops.push((info.method, info.op, param_names(info.path)));
            }
        }
        Ok(Self { router, routes })
    }

    /// `path` is below `/api/v2`, raw.
    pub fn find(&self, method: &http::Method, path: &str) -> Match {
        let Ok(m) = self.router.at(path) else {
            return Match::NoRoute;
        };
        let Some(route) = self.routes.get(*m.value) else {
            return Match::NoRoute;
        };
        let Some((_, op, names)) = route
            .ops
            .iter()
            .find(|(meth, _, _)| meth.as_str() == method.as_str())
        else {
            return Match::NoMethod;
        };
        let params = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    *name,
                    m.params.get(format!("p{i}")).unwrap_or_default().to_owned(),
                )
            })
            .collect();
        Match::Found(Matched { op: *op, params })
    }

    pub fn operation_count(&self) -> usize {
        self.routes.iter().map(|r| r.ops.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_operations_routed() {
        let r = Routes::build().unwrap();
        assert_eq!(r.operation_count(), 406);
        for info in &OPERATIONS {
            let concrete = info.path.replace('{', "x").replace('}', "");
            let m = http::Method::from_bytes(info.method.as_str().as_bytes()).unwrap();
            match r.find(&m, &concrete) {
                Match::Found(f) => {
                    assert_eq!(f.op.info().path, info.path, "{} {}", info.id, concrete)
                }
                _ => panic!("{} not routed", info.id),
            }
        }
    }

    #[test]
    fn static_segments_win_and_params_are_named() {
        let r = Routes::build().unwrap();
        let Match::Found(m) = r.find(&http::Method::GET, "/clients/abc/credentials/cred_1") else {
            panic!()
        };
        assert_eq!(m.op, Op::GetCredentialsByCredentialId);
        assert_eq!(
            m.params,
            vec![
                ("client_id", "abc".to_owned()),
                ("credential_id", "cred_1".to_owned())
            ]
        );
        assert!(matches!(
            r.find(&http::Method::GET, "/nope"),
            Match::NoRoute
        ));
        assert!(matches!(
            r.find(&http::Method::PUT, "/clients"),
            Match::NoMethod
        ));
    }
}
