//! An upstream's catalog: its tools, resources, resource templates and prompts (every page),
//! with a content hash so that a refresh can tell whether anything changed.

use std::hash::{DefaultHasher, Hash, Hasher};

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

/// The names an upstream's catalog offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogNames {
    /// Tool names.
    pub tools: Vec<String>,
    /// Concrete resource URIs.
    pub resources: Vec<String>,
    /// Resource URI templates.
    pub resource_templates: Vec<String>,
    /// Prompt names.
    pub prompts: Vec<String>,
}

/// Everything an upstream offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// `tools/list`, all pages.
    pub tools: Vec<Tool>,
    /// `resources/list`, all pages.
    pub resources: Vec<Resource>,
    /// `resources/templates/list`, all pages.
    pub resource_templates: Vec<ResourceTemplate>,
    /// `prompts/list`, all pages.
    pub prompts: Vec<Prompt>,
    /// Hash of all of the above (as JSON); equal hashes mean an unchanged catalog.
    pub hash: u64,
}

impl Catalog {
    /// A catalog of these lists, with its hash computed.
    pub fn new(
        tools: Vec<Tool>,
        resources: Vec<Resource>,
        resource_templates: Vec<ResourceTemplate>,
        prompts: Vec<Prompt>,
    ) -> Self {
        let mut hasher = DefaultHasher::new();
        for part in [
            serde_json::to_string(&tools),
            serde_json::to_string(&resources),
            serde_json::to_string(&resource_templates),
            serde_json::to_string(&prompts),
        ] {
            part.unwrap_or_default().hash(&mut hasher);
        }
        Self {
            tools,
            resources,
            resource_templates,
            prompts,
            hash: hasher.finish(),
        }
    }

    /// The names the router indexes.
    pub fn names(&self) -> CatalogNames {
        CatalogNames {
            tools: self.tools.iter().map(|t| t.name.to_string()).collect(),
            resources: self.resources.iter().map(|r| r.uri.clone()).collect(),
            resource_templates: self
                .resource_templates
                .iter()
                .map(|t| t.uri_template.clone())
                .collect(),
            prompts: self.prompts.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// Whether it lists tool `name`.
    pub fn has_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.name == name)
    }

    /// Whether it lists prompt `name`.
    pub fn has_prompt(&self, name: &str) -> bool {
        self.prompts.iter().any(|p| p.name == name)
    }

    /// Whether the server says calling `tool` twice is harmless (`readOnlyHint` or
    /// `idempotentHint`).
    pub fn tool_is_repeatable(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| {
            t.name == tool
                && t.annotations.as_ref().is_some_and(|a| {
                    a.read_only_hint == Some(true) || a.idempotent_hint == Some(true)
                })
        })
    }
}
