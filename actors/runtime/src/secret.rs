//! What att shows of a secret: the values of environment variables and headers a caller
//! gave (tokens, passwords) are kept as given where they are used and stored, and replaced
//! by [`REDACTED`] in every API answer, event and log line; their names stay visible.

use std::collections::BTreeMap;

/// What att shows in place of a secret value.
pub const REDACTED: &str = "•••";

/// `values` with every value replaced by [`REDACTED`] (the names stay).
pub fn hide_values(values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .keys()
        .map(|k| (k.clone(), REDACTED.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_and_values_go() {
        let given = BTreeMap::from([
            ("TOKEN".to_owned(), "ghp_secret".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]);
        let shown = hide_values(&given);
        assert_eq!(shown.keys().collect::<Vec<_>>(), ["EMPTY", "TOKEN"]);
        assert!(shown.values().all(|v| v == REDACTED));
        assert!(hide_values(&BTreeMap::new()).is_empty());
    }
}
