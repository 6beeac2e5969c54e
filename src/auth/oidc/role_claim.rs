//! A token's role, read from a claim ([`RoleClaim`]).
//!
//! The claim is found by name or by a dotted path into objects (`realm_access.roles`, as
//! Keycloak puts it); its value is a string or an array of strings (other elements are
//! ignored). Each value grants the role it names (`viewer`, `operator`, `admin`) or the one
//! `role_map` gives it; of several, the highest wins. No value that grants a role means the
//! default role, or none — and a token without a role is refused.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::auth::Role;

/// Where a token's role is, and how its values map to roles.
#[derive(Debug, Clone)]
pub struct RoleClaim {
    /// The claims tried in order (each a path); the first present one is read.
    paths: Vec<Vec<String>>,
    map: BTreeMap<String, Role>,
    default: Option<Role>,
}

/// The claims tried without a configured `role_claim`.
const DEFAULT_CLAIMS: [&str; 2] = ["att_role", "roles"];

impl RoleClaim {
    /// `claim` (default: `att_role`, then `roles`), mapped by `map`, else `default`.
    pub fn new(claim: Option<&str>, map: BTreeMap<String, Role>, default: Option<Role>) -> Self {
        let split = |c: &str| c.split('.').map(str::to_owned).collect();
        let paths = match claim {
            Some(c) => vec![split(c)],
            None => DEFAULT_CLAIMS.iter().map(|c| split(c)).collect(),
        };
        Self {
            paths,
            map,
            default,
        }
    }

    /// The role the claims grant.
    pub fn role(&self, claims: &Map<String, Value>) -> Option<Role> {
        let found = self.paths.iter().find_map(|path| lookup(claims, path));
        let granted = match found {
            Some(Value::String(s)) => self.grant(s),
            Some(Value::Array(all)) => all
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| self.grant(s))
                .max(),
            _ => None,
        };
        granted.or(self.default)
    }

    fn grant(&self, value: &str) -> Option<Role> {
        self.map.get(value).copied().or_else(|| Role::parse(value))
    }
}

fn lookup<'c>(claims: &'c Map<String, Value>, path: &[String]) -> Option<&'c Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(claims.get(first)?, |v, name| v.as_object()?.get(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_the_claim_by_the_table() {
        use Role::*;
        let map: BTreeMap<String, Role> = [
            ("mcp-admins".to_owned(), Admin),
            ("admin".to_owned(), Viewer),
        ]
        .into();
        let default = RoleClaim::new(None, BTreeMap::new(), None);
        let mapped = RoleClaim::new(None, map.clone(), None);
        let nested = RoleClaim::new(Some("realm_access.roles"), BTreeMap::new(), None);
        let fallback = RoleClaim::new(Some("groups"), map, Some(Viewer));
        let cases: Vec<(&str, &RoleClaim, Value, Option<Role>)> = vec![
            (
                "att_role string",
                &default,
                json!({"att_role": "operator"}),
                Some(Operator),
            ),
            (
                "roles array, highest wins",
                &default,
                json!({"roles": ["viewer", "admin", "x"]}),
                Some(Admin),
            ),
            (
                "att_role before roles",
                &default,
                json!({"att_role": "viewer", "roles": ["admin"]}),
                Some(Viewer),
            ),
            ("unknown value", &default, json!({"att_role": "root"}), None),
            ("case matters", &default, json!({"att_role": "Admin"}), None),
            ("no claim", &default, json!({"sub": "a"}), None),
            ("a number", &default, json!({"att_role": 3}), None),
            (
                "non-strings in the array are ignored",
                &default,
                json!({"roles": [1, null, "operator"]}),
                Some(Operator),
            ),
            (
                "mapped value",
                &mapped,
                json!({"roles": ["mcp-admins"]}),
                Some(Admin),
            ),
            (
                "the map overrides a role name",
                &mapped,
                json!({"roles": ["admin"]}),
                Some(Viewer),
            ),
            (
                "nested path",
                &nested,
                json!({"realm_access": {"roles": ["operator"]}}),
                Some(Operator),
            ),
            (
                "nested path missing",
                &nested,
                json!({"realm_access": "operator"}),
                None,
            ),
            (
                "the default when nothing grants",
                &fallback,
                json!({"groups": ["staff"]}),
                Some(Viewer),
            ),
            (
                "mapped beats the default",
                &fallback,
                json!({"groups": ["mcp-admins"]}),
                Some(Admin),
            ),
            (
                "the default without the claim",
                &fallback,
                json!({}),
                Some(Viewer),
            ),
        ];
        for (what, claim, claims, want) in cases {
            let claims = claims.as_object().expect("object").clone();
            assert_eq!(claim.role(&claims), want, "{what}");
        }
    }
}
