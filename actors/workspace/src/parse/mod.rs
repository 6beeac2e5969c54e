//! Test output parsers (WORKSPACE.md, "Test runner"): what a test command printed, read back
//! as typed [`Counts`].
//!
//! Each runner has its own reader, all hand-written (no regex, no XML crate) and all total:
//! any input gives a [`Counts`], never a panic. Output is taken as the runner leaves it —
//! stdout and stderr interleaved, ANSI colours and carriage-return redraws included — and
//! possibly cut short by a timeout: where a runner prints per-test lines, a run without its
//! final summary is counted from those lines.
//!
//! [`parse`] hands an output to its runner's reader, one module per format:
//!
//! - `cargo` ([`Runner::CargoTest`]): libtest's `test result:` line, summed over every test
//!   binary;
//! - `nextest` ([`Runner::CargoNextest`]): nextest's final `Summary [...]` line;
//! - `pytest` ([`Runner::Pytest`]): pytest's last summary line
//!   (`=== 1 failed, 3 passed in 0.07s ===`);
//! - `junit` ([`Runner::Junit`]): a JUnit XML report, see [`parse_junit`];
//! - `plain` ([`Runner::Plain`]): anything else that prints `N passed` / `N failed` on one
//!   line.
//!
//! This module holds what the readers share: a line as a terminal shows it (escape sequences
//! dropped, carriage-return redraws resolved), counts and durations read from untrusted text
//! without overflow, whether a line says the build failed, and the verdict of a per-test line.
//! Each format's module ends with its table test: real outputs of that runner, with the exact
//! counts expected from each.

mod cargo;
mod junit;
mod nextest;
mod plain;
mod pytest;

use std::borrow::Cow;

use cargo::parse_cargo_test;
pub use junit::parse_junit;
use nextest::parse_nextest;
use plain::parse_plain;
use pytest::parse_pytest;

/// Which test runner produced an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runner {
    /// `cargo test`: libtest's human output, one `test result:` line per test binary.
    CargoTest,
    /// `cargo nextest run`: per-test status lines, then one `Summary [...]` line.
    CargoNextest,
    /// `pytest` (plain, `-v` or `-q`): the `N passed, N failed ... in Xs` summary line.
    Pytest,
    /// A JUnit XML report (the output is the XML document itself).
    Junit,
    /// Any other runner: the last line saying `N passed` and/or `N failed`.
    Plain,
}

/// Counts read from a test run's output.
///
/// `PartialEq` only (not `Eq`): [`Counts::reported_seconds`] is a float.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Tests that passed (nextest: flaky and leaky passes included).
    pub passed: u64,
    /// Tests that failed (nextest: timed-out and signal-killed tests included).
    pub failed: u64,
    /// Tests skipped or ignored (libtest `ignored`, nextest `skipped`, pytest `skipped`).
    pub skipped: u64,
    /// Errors outside a test's own verdict: pytest collection and fixture errors, JUnit
    /// `<error>`, nextest `exec failed`, a test binary that died before its summary, or a
    /// build that failed before any test ran (then 1).
    pub errors: u64,
    /// pytest: tests marked `xfail` that failed as expected.
    pub xfailed: u64,
    /// pytest: tests marked `xfail` that passed anyway.
    pub xpassed: u64,
    /// The run collected no tests at all.
    pub no_tests_collected: bool,
    /// A summary was found (false: nothing recognisable in the output). Also true when the
    /// counts come from per-test lines of a run cut short, or when the output shows the build
    /// (or pytest's start-up) failing, in which case `errors` is 1.
    pub summary_found: bool,
    /// Duration the runner itself reported, in seconds, when it did (rounded to the
    /// millisecond; summed over test binaries for `cargo test`).
    pub reported_seconds: Option<f64>,
}

/// Parses `output` (stdout and stderr interleaved, possibly cut short by a timeout) as
/// `runner` produces it. Never fails: output with nothing recognisable gives
/// `summary_found: false` and zero counts.
#[must_use]
pub fn parse(runner: Runner, output: &str) -> Counts {
    match runner {
        Runner::CargoTest => parse_cargo_test(output),
        Runner::CargoNextest => parse_nextest(output),
        Runner::Pytest => parse_pytest(output),
        Runner::Junit => parse_junit(output),
        Runner::Plain => parse_plain(output),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Adds without overflowing (counts come from untrusted text).
fn bump(counter: &mut u64, by: u64) {
    *counter = counter.saturating_add(by);
}

/// Rounds to the millisecond, so that sums of reported durations compare as written.
fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Parses a duration like `0.13s` (the unit is required).
fn seconds(text: &str) -> Option<f64> {
    let value: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// Splits `12 passed` into `(12, "passed")`; the label is everything after the number.
fn count_and_label(part: &str) -> Option<(u64, &str)> {
    let (number, label) = part.trim().split_once(char::is_whitespace)?;
    Some((number.parse().ok()?, label.trim()))
}

/// The lines of `output` as a terminal would show them: ANSI escape sequences removed, and
/// only what follows the last carriage return (a progress redraw) kept.
fn screen_lines(output: &str) -> impl Iterator<Item = Cow<'_, str>> {
    output.lines().map(screen_line)
}

/// One line of [`screen_lines`].
fn screen_line(line: &str) -> Cow<'_, str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = line.rsplit('\r').next().unwrap_or(line);
    if !line.contains('\u{1b}') {
        return Cow::Borrowed(line);
    }
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            plain.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters, then one final byte in `@`..=`~`.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC (hyperlinks, titles): up to BEL or ESC `\`.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Cow::Owned(plain)
}

/// Whether `line` says the build failed before any test could run.
fn is_build_error(line: &str) -> bool {
    line.starts_with("error[E") || line.starts_with("error: could not compile")
}

/// What one per-test line says (libtest's and nextest's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    Skipped,
    /// nextest's exec failure: the test could not be run.
    Error,
}

#[cfg(test)]
mod testing {
    //! What every format's table test shares: a [`Row`] of a table, the counts it expects
    //! ([`found`], [`timed`], [`no_tests`]) and [`check`], which reads each row's output.
    //!
    //! Unless a fixture says otherwise, it is a real capture (`2>&1`, so stdout and stderr
    //! interleaved as a runner sees them), trimmed only of backtrace frames: cargo 1.95.0 and
    //! cargo-nextest 0.9.143 on throwaway crates, pytest 9.2.0 (Python 3.11.7), vitest 4.1.12.
    //! Outputs cut short were captured under `timeout`, so they end where the process was
    //! killed (mid-line, no final newline). The few fixtures written by hand, from nextest's
    //! own reporter snapshots or the JUnit format, say so.

    use super::{Counts, Runner, parse};

    /// One row of a table: an output and the exact counts it must give.
    pub(super) struct Row {
        pub(super) name: &'static str,
        pub(super) output: &'static str,
        pub(super) expected: Counts,
    }

    /// A summary found with these counts, everything else at its default.
    pub(super) fn found(passed: u64, failed: u64, skipped: u64, errors: u64) -> Counts {
        Counts {
            passed,
            failed,
            skipped,
            errors,
            summary_found: true,
            ..Counts::default()
        }
    }

    /// [`found`] with the runner's reported duration.
    pub(super) fn timed(
        passed: u64,
        failed: u64,
        skipped: u64,
        errors: u64,
        seconds: f64,
    ) -> Counts {
        Counts {
            reported_seconds: Some(seconds),
            ..found(passed, failed, skipped, errors)
        }
    }

    /// A run that collected nothing, with the runner's reported duration when it gave one.
    pub(super) fn no_tests(skipped: u64, seconds: Option<f64>) -> Counts {
        Counts {
            no_tests_collected: true,
            reported_seconds: seconds,
            ..found(0, 0, skipped, 0)
        }
    }

    /// Reads every row's output as `runner` printed it, and asserts its expected counts.
    pub(super) fn check(runner: Runner, rows: &[Row]) {
        for row in rows {
            assert_eq!(
                parse(runner, row.output),
                row.expected,
                "{runner:?}: {}",
                row.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    //! What no single format owns: terminal redraws and escape sequences, runner names,
    //! numbers too large to count.

    use super::testing::found;
    use super::*;

    #[test]
    fn carriage_return_redraws_keep_the_last_text() {
        let output = "running 1 test\ntest a ... \rtest a ... ok\r\n";
        assert_eq!(parse(Runner::CargoTest, output), found(1, 0, 0, 0));
    }

    #[test]
    fn escape_sequences_are_dropped() {
        // Colours (CSI), and hyperlinks (OSC 8) ended by BEL or by ESC `\`.
        let line = "\x1b[32;1mPASS\x1b[0m \x1b]8;;file:///a\x07a\x1b]8;;\x07 \x1b]8;;file:///b\x1b\\b\x1b]8;;\x1b\\";
        assert_eq!(screen_line(line), "PASS a b");
        assert!(matches!(screen_line("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn runner_names_are_snake_case() {
        let names = serde_json::to_string(&[
            Runner::CargoTest,
            Runner::CargoNextest,
            Runner::Pytest,
            Runner::Junit,
            Runner::Plain,
        ])
        .unwrap_or_default();
        assert_eq!(
            names,
            r#"["cargo_test","cargo_nextest","pytest","junit","plain"]"#
        );
        let back: Vec<Runner> = serde_json::from_str(&names).unwrap_or_default();
        assert_eq!(back.len(), 5);
    }

    #[test]
    fn absurd_numbers_saturate_instead_of_panicking() {
        let output = "test result: ok. 18446744073709551615 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                      test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        assert_eq!(parse(Runner::CargoTest, output).passed, u64::MAX);
    }
}
