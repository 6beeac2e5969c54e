//! Matching a URI against an MCP resource template (RFC 6570 shapes such as
//! `file:///{path}` or `db://{table}/rows/{id}`).
//!
//! Routing only needs "could this server serve this URI", so every expression `{…}` matches
//! one or more characters; `{name}` and `{?query}`-style expressions are not distinguished
//! beyond that. A template without expressions matches only itself.

/// A parsed template: literal pieces around expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    raw: String,
    /// Literals in order; an expression sits between each pair.
    literals: Vec<String>,
}

impl UriTemplate {
    /// Parses `template`; an unbalanced brace makes the whole text one literal.
    pub fn parse(template: &str) -> Self {
        let mut literals = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            literals.push(rest[..open].to_owned());
            rest = &rest[open + close + 1..];
        }
        literals.push(rest.to_owned());
        Self {
            raw: template.to_owned(),
            literals,
        }
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether `uri` is an expansion of this template.
    pub fn matches(&self, uri: &str) -> bool {
        let (first, rest) = self.literals.split_first().expect("at least one literal");
        match uri.strip_prefix(first.as_str()) {
            Some(tail) if rest.is_empty() => tail.is_empty(),
            Some(tail) => match_from(tail, rest),
            None => false,
        }
    }
}

/// `uri` must be: expression (≥ 1 char), literals[0], expression, literals[1], … ; the last
/// literal must end the URI (an empty last literal lets the final expression take the rest).
fn match_from(uri: &str, literals: &[String]) -> bool {
    let (lit, rest) = literals
        .split_first()
        .expect("called with at least one literal");
    if rest.is_empty() {
        return uri.len() > lit.len()
            && uri.ends_with(lit.as_str())
            && !uri[..uri.len() - lit.len()].is_empty();
    }
    if lit.is_empty() {
        // Two adjacent expressions: each takes at least one character.
        return (1..uri.len()).any(|i| uri.is_char_boundary(i) && match_from(&uri[i..], rest));
    }
    let mut from = 1;
    while let Some(pos) = uri.get(from..).and_then(|s| s.find(lit.as_str())) {
        let at = from + pos;
        if match_from(&uri[at + lit.len()..], rest) {
            return true;
        }
        from = at + 1;
        while from < uri.len() && !uri.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_expansions_only() {
        let table = [
            ("file:///{path}", "file:///etc/hosts", true),
            ("file:///{path}", "file:///", false),
            ("file:///{path}", "http://x", false),
            ("db://{table}/rows/{id}", "db://users/rows/7", true),
            ("db://{table}/rows/{id}", "db://users/rows/", false),
            ("db://{table}/rows/{id}", "db://a/rows/b/rows/c", true),
            ("db://{table}/rows/{id}", "db:///rows/1", false),
            ("mem://fixed", "mem://fixed", true),
            ("mem://fixed", "mem://fixed2", false),
            ("x://{a}{b}", "x://ab", true),
            ("x://{a}{b}", "x://a", false),
            ("weird{", "weird{", true),
            ("ü://{x}/é", "ü://ñ/é", true),
        ];
        for (t, uri, want) in table {
            assert_eq!(UriTemplate::parse(t).matches(uri), want, "{t} vs {uri}");
        }
    }
}
