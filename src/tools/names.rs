//! How `/mcp` spells att's own tool names ([`ToolNames`]).
//!
//! A tool is defined as `att.<area>.<verb>` (its canonical name: events, docs and the HTTP
//! routes use it). Several model APIs that MCP clients hand tool lists to accept only
//! `^[a-zA-Z0-9_-]{1,64}$`, so by default `/mcp` lists the portable spelling
//! `att_<area>_<verb>`; `[workspace] tool_names = "dotted"` lists the canonical one. Calls
//! are accepted under either spelling whatever the setting, so a client written against one
//! keeps working when the setting changes.

use std::borrow::Cow;

use serde::Deserialize;

/// Which spelling of att's tool names `/mcp` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolNames {
    /// `att_project_create`: valid for every model API (the default).
    #[default]
    Portable,
    /// `att.project.create`, as the tools are defined.
    Dotted,
}

impl ToolNames {
    /// `canonical` (`att.<area>.<verb>`) as this setting lists it.
    pub fn spell(self, canonical: &'static str) -> Cow<'static, str> {
        match self {
            Self::Dotted => Cow::Borrowed(canonical),
            Self::Portable => Cow::Owned(canonical.replace('.', "_")),
        }
    }
}

/// Whether `name` is `canonical` under either spelling (no allocation: it runs on every
/// `/mcp` call to tell att's tools from upstream ones).
pub fn names(canonical: &str, name: &str) -> bool {
    canonical.len() == name.len()
        && canonical
            .bytes()
            .zip(name.bytes())
            .all(|(c, n)| c == n || (c == b'.' && n == b'_'))
}

/// Whether `name` is valid for the strictest model APIs: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn portable(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_spelling_names_the_tool_and_nothing_else_does() {
        let cases = [
            ("att.code.read", true),
            ("att_code_read", true),
            ("att.code_read", true),
            ("att_code_rea", false),
            ("att-code-read", false),
            ("att.code.readx", false),
            ("ATT_CODE_READ", false),
            ("", false),
        ];
        for (name, expected) in cases {
            assert_eq!(names("att.code.read", name), expected, "{name}");
        }
    }

    #[test]
    fn portable_spelling_passes_the_strict_pattern_and_dotted_does_not() {
        let p = ToolNames::Portable.spell("att.project.create");
        assert_eq!(p, "att_project_create");
        assert!(portable(&p));
        let d = ToolNames::Dotted.spell("att.project.create");
        assert_eq!(d, "att.project.create");
        assert!(!portable(&d));
        assert!(!portable(""));
        assert!(!portable(&"a".repeat(65)));
        assert!(portable(&"a".repeat(64)));
    }
}
