//! Workspace tools (WORKSPACE.md): what lets an agent change and test a code base through att.
//! So far: [`paths`] (every caller path contained to the project root), [`parse`] (test
//! output parsers) and [`testrun`] (the test runner).

pub mod code;
pub mod git;
pub mod parse;
pub mod paths;
pub mod testrun;
