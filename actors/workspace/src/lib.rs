//! `att-workspace`: what lets an agent change and test a code base through att (WORKSPACE.md)
//! — a library over a project's directory, with no actors and nothing of HTTP or MCP.
//!
//! - [`paths`]: every caller path checked: inside the project, nothing in `.git`;
//! - [`beneath`]: the checked path used through the project's open root (`openat`,
//!   `O_NOFOLLOW`), so that the check holds at the moment of use;
//! - [`code`]: list, read, write, search, diff;
//! - [`git`]: status, branch, commit, log, diff, push (git2);
//! - [`gitcli`]: the git command line, hardened and bounded in time (clone, push, fetch);
//! - [`testrun`]: the test runner (a project's test command, bounded, in its own group);
//! - [`parse`]: the test output parsers, one per format, each with its table of real outputs.
//!
//! Children these modules start lead process groups of their own, killed with them
//! (`att_runtime::process::GroupGuard`). With the `openapi` feature, the types the HTTP API
//! shows derive their OpenAPI schemas.

pub mod beneath;
pub mod code;
pub mod git;
pub mod gitcli;
pub mod parse;
pub mod paths;
pub mod testrun;
