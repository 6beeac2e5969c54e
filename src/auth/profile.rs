//! Profiles: virtual MCP servers over the federated catalog, served at `/mcp/{profile}`.
//!
//! A profile names which upstream tools, resources and prompts its clients see and may use
//! (patterns where `*` matches any run of characters: `github__*`), how many of att's own
//! tools come with them (`att_tools`: none, the viewer's read-only ones, or all — each still
//! needing its role), and who may use it (`principals` by name, `roles`; neither: every
//! principal; an admin always may). A client of a profile lists only what the profile holds,
//! is refused anything else, and hears `list_changed` only when its own view changed.
//!
//! `/mcp` stays the full view, checked call by call by role.
//!
//! ```toml
//! [[profiles]]
//! name = "github-ro"
//! tools = ["github__*", "echo"]
//! resources = ["file:///docs/*"]
//! prompts = []
//! att_tools = "read_only"        # false (default) | "read_only" | "all"
//! roles = ["viewer", "operator"]
//! ```

use serde::Deserialize;

use super::{Principal, Role};

/// How many of att's own tools (and resources) a profile shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttTools {
    /// None (`false`).
    #[default]
    None,
    /// Those a viewer may call (reads), and att's resources.
    ReadOnly,
    /// All of them (`true`), each still needing its role.
    All,
}

impl<'de> Deserialize<'de> for AttTools {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Flag(bool),
            Word(String),
        }
        match Given::deserialize(d)? {
            Given::Flag(false) => Ok(Self::None),
            Given::Flag(true) => Ok(Self::All),
            Given::Word(w) => match w.as_str() {
                "none" => Ok(Self::None),
                "read_only" => Ok(Self::ReadOnly),
                "all" => Ok(Self::All),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not one of false, \"read_only\", \"all\""
                ))),
            },
        }
    }
}

/// One profile (`[[profiles]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Served at `/mcp/{name}`: 1 to 64 of `a-z 0-9 _ -`.
    pub name: String,
    /// Patterns over the tool names `/mcp` lists (prefixed names included).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Patterns over resource URIs (and resource templates' URI templates).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Patterns over prompt names.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// att's own tools and resources shown.
    #[serde(default)]
    pub att_tools: AttTools,
    /// Principals (key names) who may use it.
    #[serde(default)]
    pub principals: Vec<String>,
    /// Roles whose holders may use it.
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl Profile {
    /// What is wrong with it, if anything (the message names the field).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !valid_name(&self.name) {
            return Err((
                "name",
                format!(
                    "`{}` is not a profile name: use 1 to 64 of a-z 0-9 _ -",
                    self.name
                ),
            ));
        }
        for (field, patterns) in [
            ("tools", &self.tools),
            ("resources", &self.resources),
            ("prompts", &self.prompts),
        ] {
            if let Some(p) = patterns.iter().find(|p| p.is_empty() || p.len() > 256) {
                return Err((
                    field,
                    format!("`{p}` is not a pattern: 1 to 256 characters"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `principal` may use it.
    pub fn admits(&self, principal: &Principal) -> bool {
        (self.principals.is_empty() && self.roles.is_empty())
            || principal.role == Role::Admin
            || self.principals.contains(&principal.name)
            || self.roles.contains(&principal.role)
    }

    /// Whether it shows the upstream tool listed as `name`.
    pub fn tool(&self, name: &str) -> bool {
        self.tools.iter().any(|p| glob(p, name))
    }

    /// Whether it shows att's tool that needs `role`.
    pub fn att_tool(&self, role: Role) -> bool {
        match self.att_tools {
            AttTools::None => false,
            AttTools::ReadOnly => role == Role::Viewer,
            AttTools::All => true,
        }
    }

    /// Whether it shows att's own resources (`att://…`).
    pub fn att_resources(&self) -> bool {
        self.att_tools != AttTools::None
    }

    /// Whether it shows the resource (or template) `uri`.
    pub fn resource(&self, uri: &str) -> bool {
        self.resources.iter().any(|p| glob(p, uri))
    }

    /// Whether it shows the prompt `name`.
    pub fn prompt(&self, name: &str) -> bool {
        self.prompts.iter().any(|p| glob(p, name))
    }
}

/// Whether `name` can name a profile (it goes into a URL path): 1 to 64 of `a-z 0-9 _ -`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none too) and
/// everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and where in `text` it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` take one more character and try again.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_runs_of_any_characters() {
        let cases = [
            ("echo", "echo", true),
            ("echo", "echo2", false),
            ("echo", "ech", false),
            ("*", "", true),
            ("*", "anything", true),
            ("github__*", "github__create_issue", true),
            ("github__*", "gitlab__x", false),
            ("*_issue", "github__create_issue", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a**", "a", true),
            ("file:///docs/*", "file:///docs/a/b.md", true),
            ("file:///docs/*", "file:///etc/passwd", false),
            ("é*", "été", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    fn profile(toml_text: &str) -> Profile {
        toml::from_str(toml_text).expect("profile")
    }

    #[test]
    fn who_may_use_a_profile() {
        let who = |name: &str, role| Principal {
            name: name.into(),
            role,
            key: true,
            expires_at: None,
        };
        let open = profile("name = \"p\"");
        let listed = profile("name = \"p\"\nprincipals = [\"ci\"]\nroles = [\"operator\"]");
        let cases = [
            (&open, who("anyone", Role::Viewer), true),
            (&listed, who("ci", Role::Viewer), true),
            (&listed, who("bob", Role::Operator), true),
            (&listed, who("bob", Role::Viewer), false),
            (&listed, who("root", Role::Admin), true),
        ];
        for (p, principal, expected) in cases {
            assert_eq!(p.admits(&principal), expected, "{principal:?}");
        }
    }

    #[test]
    fn what_a_profile_shows() {
        let p = profile(
            "name = \"p\"\ntools = [\"echo\", \"gh__*\"]\nresources = [\"mem://a/*\"]\nprompts = [\"greet\"]\natt_tools = \"read_only\"",
        );
        assert!(p.tool("echo") && p.tool("gh__x") && !p.tool("stats"));
        assert!(p.resource("mem://a/1") && !p.resource("mem://b/1"));
        assert!(p.prompt("greet") && !p.prompt("other"));
        assert!(p.att_tool(Role::Viewer) && !p.att_tool(Role::Operator) && p.att_resources());
        let cases = [
            ("att_tools = false", AttTools::None),
            ("att_tools = true", AttTools::All),
            ("att_tools = \"all\"", AttTools::All),
            ("att_tools = \"none\"", AttTools::None),
            ("", AttTools::None),
        ];
        for (line, expected) in cases {
            assert_eq!(
                profile(&format!("name = \"p\"\n{line}")).att_tools,
                expected,
                "{line}"
            );
        }
        assert!(toml::from_str::<Profile>("name = \"p\"\natt_tools = \"some\"").is_err());
        assert!(toml::from_str::<Profile>("name = \"p\"\ntool = []").is_err());
        for (bad, field) in [
            ("name = \"Has Space\"", "name"),
            ("name = \"p\"\ntools = [\"\"]", "tools"),
        ] {
            assert_eq!(profile(bad).check().map_err(|e| e.0), Err(field), "{bad}");
        }
        assert!(profile("name = \"ok-1_x\"").check().is_ok());
    }
}
