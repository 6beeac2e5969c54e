//! Whose fault a failed tool call is ([`ToolError`]), decided once for both surfaces.
//!
//! A caller's mistake (bad arguments, a refused path) is an invalid-params error on MCP and a
//! 422 over HTTP, never a 500; a domain failure (no such project, nothing to commit, a branch
//! that exists) is a tool result with `isError: true` on MCP and a 404/409 over HTTP; a remote
//! that refused is a 502. The conversions from the workspace library's errors below are where
//! each of its failures is given an owner.

use att_workspace::code::CodeError;
use att_workspace::git::GitError;

/// Why a tool call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The caller's mistake: bad arguments, a refused path. `field` names the culprit.
    Invalid {
        /// The argument to blame, when one is.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No such project, file, run or tool.
    NotFound(String),
    /// The request conflicts with the state (nothing to commit, a branch that exists, a run
    /// in progress, not a git repository).
    Conflict(String),
    /// Something att had to reach failed (a git remote that refused or could not be
    /// reached): neither the caller's fault nor att's.
    Remote(String),
    /// att failed (I/O, the store).
    Internal(String),
}

impl ToolError {
    /// The caller's mistake, about argument `field`.
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid { message, .. } => message,
            Self::NotFound(m) | Self::Conflict(m) | Self::Remote(m) | Self::Internal(m) => m,
        }
    }

    /// A machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Remote(_) => "bad_gateway",
            Self::Internal(_) => "internal",
        }
    }
}

/// att's own failure (I/O, the store, a task that died).
pub(crate) fn internal(e: impl std::fmt::Display) -> ToolError {
    ToolError::Internal(e.to_string())
}

impl From<CodeError> for ToolError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::NotFound(p) => Self::NotFound(format!("`{p}` does not exist")),
            CodeError::BadPattern(m) => Self::invalid("pattern", m),
            e if e.is_callers() => Self::invalid("path", e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<GitError> for ToolError {
    fn from(e: GitError) -> Self {
        match e {
            GitError::Path(p) if p.is_callers() => Self::invalid("path", p.to_string()),
            GitError::BadName(m) => Self::Invalid {
                field: None,
                message: m,
            },
            GitError::NothingToCommit(_) | GitError::Conflict(_) | GitError::NotARepo(_) => {
                Self::Conflict(e.to_string())
            }
            GitError::Remote(m) => Self::Remote(m),
            e => Self::Internal(e.to_string()),
        }
    }
}
