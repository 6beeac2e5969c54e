//! Workspace tools (WORKSPACE.md): what lets an agent change and test a code base through att.
//! So far: [`Project`], [`paths`] (every caller path contained to the project root), [`code`]
//! (list, read, write, search, diff), [`git`] (git2), [`parse`] (test output parsers) and
//! [`testrun`] (the test runner).

pub mod code;
pub mod git;
pub mod parse;
pub mod paths;
pub mod testrun;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A project: a directory att works in for its callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// `[A-Za-z0-9_-]{1,64}`; also its id.
    pub name: String,
    /// Its directory (absolute, existing).
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// How its tests run (default: detected from its files).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub test: Option<testrun::TestCommand>,
}

impl Project {
    /// Checks the name and the directory.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !crate::upstream::valid_name(&self.name) {
            return Err((
                "name",
                format!(
                    "project name `{}` must be 1-64 characters of [A-Za-z0-9_-]",
                    self.name
                ),
            ));
        }
        if !self.path.is_absolute() {
            return Err((
                "path",
                "the project directory must be an absolute path".into(),
            ));
        }
        if !self.path.is_dir() {
            return Err((
                "path",
                format!("`{}` is not an existing directory", self.path.display()),
            ));
        }
        if self.test.as_ref().is_some_and(|t| t.argv.is_empty()) {
            return Err(("test.argv", "the test command is empty".into()));
        }
        Ok(())
    }
}
