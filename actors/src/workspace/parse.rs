//! Test output parsers (WORKSPACE.md, "Test runner"): what a test command printed, read back
//! as typed [`Counts`].
//!
//! Each runner has its own reader, all hand-written (no regex, no XML crate) and all total:
//! any input gives a [`Counts`], never a panic. Output is taken as the runner leaves it —
//! stdout and stderr interleaved, ANSI colours and carriage-return redraws included — and
//! possibly cut short by a timeout: where a runner prints per-test lines, a run without its
//! final summary is counted from those lines.
//!
//! - [`Runner::CargoTest`]: libtest's `test result:` line, summed over every test binary;
//! - [`Runner::CargoNextest`]: nextest's final `Summary [...]` line;
//! - [`Runner::Pytest`]: pytest's last summary line (`=== 1 failed, 3 passed in 0.07s ===`);
//! - [`Runner::Junit`]: a JUnit XML report, see [`parse_junit`];
//! - [`Runner::Plain`]: anything else that prints `N passed` / `N failed` on one line.

use std::borrow::Cow;

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

// ---------------------------------------------------------------------------------------------
// cargo test (libtest)

/// What one per-test line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    Skipped,
    /// nextest's exec failure: the test could not be run.
    Error,
}

/// Reads `test tests::adds ... ok` / `... FAILED` / `... ignored[, reason]`.
fn libtest_line(line: &str) -> Option<Verdict> {
    let (_, outcome) = line.strip_prefix("test ")?.split_once(" ... ")?;
    let outcome = outcome.trim();
    match outcome {
        "ok" => Some(Verdict::Passed),
        "FAILED" => Some(Verdict::Failed),
        _ if outcome == "ignored" || outcome.starts_with("ignored,") => Some(Verdict::Skipped),
        _ => None,
    }
}

/// Reads `running 4 tests` / `running 1 test`: the number of tests a binary is about to run.
fn libtest_running(line: &str) -> Option<u64> {
    let (count, label) = count_and_label(line.strip_prefix("running ")?)?;
    matches!(label, "test" | "tests").then_some(count)
}

/// Reads what follows `test result: `, e.g.
/// `ok. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.13s`.
fn libtest_result(rest: &str) -> Option<(Counts, Option<f64>)> {
    let rest = rest
        .strip_prefix("ok.")
        .or_else(|| rest.strip_prefix("FAILED."))?;
    let mut counts = Counts::default();
    let mut took = None;
    let mut saw_passed = false;
    for part in rest.split(';') {
        let part = part.trim();
        if let Some(duration) = part.strip_prefix("finished in ") {
            took = seconds(duration);
            continue;
        }
        match count_and_label(part) {
            Some((n, "passed")) => {
                counts.passed = n;
                saw_passed = true;
            }
            Some((n, "failed")) => counts.failed = n,
            Some((n, "ignored")) => counts.skipped = n,
            _ => {}
        }
    }
    saw_passed.then_some((counts, took))
}

/// Per-test counts of the binary currently running, until its `test result:` line.
#[derive(Debug, Default)]
struct OpenBinary {
    passed: u64,
    failed: u64,
    skipped: u64,
    /// cargo said `error: test failed` while this binary had no result: it died.
    died: bool,
}

impl OpenBinary {
    /// Adds what this binary's per-test lines said to `counts`.
    fn flush_into(&self, counts: &mut Counts) {
        bump(&mut counts.passed, self.passed);
        bump(&mut counts.failed, self.failed);
        bump(&mut counts.skipped, self.skipped);
    }
}

/// `cargo test`: every `test result:` line summed (one per test binary and doc-test run).
/// A binary that never printed its result — the run was cut short, or the binary died — is
/// counted from its per-test lines; one that died (cargo went on to the next binary, or said
/// `error: test failed`) also counts as an error. A build failure before any test is 1 error.
fn parse_cargo_test(output: &str) -> Counts {
    let mut counts = Counts::default();
    let mut results = 0_u64;
    let mut took = 0.0_f64;
    let mut per_test_lines = 0_u64;
    let mut binaries = 0_u64;
    let mut all_binaries_empty = true;
    let mut build_failed = false;
    let mut test_failed = false;
    let mut open: Option<OpenBinary> = None;

    for line in screen_lines(output) {
        let line = line.trim();
        if let Some(count) = libtest_running(line) {
            if let Some(unfinished) = open.take() {
                // The previous binary never printed its result and cargo went on: it died.
                unfinished.flush_into(&mut counts);
                bump(&mut counts.errors, 1);
            }
            open = Some(OpenBinary::default());
            bump(&mut binaries, 1);
            all_binaries_empty &= count == 0;
        } else if let Some(rest) = line.strip_prefix("test result: ") {
            if let Some((result, seconds)) = libtest_result(rest) {
                bump(&mut counts.passed, result.passed);
                bump(&mut counts.failed, result.failed);
                bump(&mut counts.skipped, result.skipped);
                took += seconds.unwrap_or(0.0);
                bump(&mut results, 1);
                open = None;
            }
        } else if let Some(verdict) = libtest_line(line) {
            let binary = open.get_or_insert_with(OpenBinary::default);
            match verdict {
                Verdict::Passed => bump(&mut binary.passed, 1),
                Verdict::Failed => bump(&mut binary.failed, 1),
                Verdict::Skipped => bump(&mut binary.skipped, 1),
                // Only nextest says this; libtest lines never do.
                Verdict::Error => {}
            }
            bump(&mut per_test_lines, 1);
        }
        // Not anchored: a dying binary's last `test name ... ` shares its line with this.
        if line.contains("error: test failed") {
            test_failed = true;
            if let Some(binary) = open.as_mut() {
                binary.died = true;
            }
        }
        build_failed |= is_build_error(line);
    }
    if let Some(unfinished) = open {
        // Cut short (a timeout), or died on the last binary (then cargo said so).
        unfinished.flush_into(&mut counts);
        if unfinished.died {
            bump(&mut counts.errors, 1);
        }
    }
    if results == 0 && per_test_lines == 0 && counts.errors == 0 && (build_failed || test_failed) {
        counts.errors = 1;
    }
    counts.summary_found = results > 0 || per_test_lines > 0 || counts.errors > 0;
    counts.no_tests_collected =
        binaries > 0 && all_binaries_empty && counts.passed == 0 && counts.failed == 0;
    counts.reported_seconds = (results > 0).then(|| round_ms(took));
    counts
}

// ---------------------------------------------------------------------------------------------
// cargo nextest

/// Reads what follows `Summary [`, e.g.
/// `   0.159s] 3 tests run: 2 passed, 1 failed, 1 skipped` or
/// `  15.750s] 8/10 tests run: 5 passed (1 slow, 1 flaky, 1 leaky), 2 failed, 1 exec failed,
/// 1 timed out, 2 skipped`.
fn nextest_summary(rest: &str) -> Option<Counts> {
    let (duration, rest) = rest.split_once(']')?;
    let (head, body) = rest.split_once(':')?;
    // `3 tests run` or `8/10 tests run` (cancelled early): the total is after the slash.
    let run = head.split_whitespace().next()?;
    let total: u64 = run.rsplit('/').next()?.parse().ok()?;
    // `...; cancelled due to interrupt`
    let body = body.split(';').next().unwrap_or(body);
    let mut counts = Counts {
        summary_found: true,
        reported_seconds: seconds(duration).map(round_ms),
        no_tests_collected: total == 0,
        ..Counts::default()
    };
    for part in without_parentheses(body).split(',') {
        match count_and_label(part) {
            Some((n, "passed")) => bump(&mut counts.passed, n),
            Some((n, "failed" | "timed out")) => bump(&mut counts.failed, n),
            Some((n, "exec failed")) => bump(&mut counts.errors, n),
            Some((n, "skipped")) => bump(&mut counts.skipped, n),
            _ => {}
        }
    }
    Some(counts)
}

/// `text` without its parenthesised asides (`5 passed (1 flaky, 1 leaky)` → `5 passed `).
fn without_parentheses(text: &str) -> String {
    let mut depth = 0_usize;
    text.chars()
        .filter(|&c| match c {
            '(' => {
                depth = depth.saturating_add(1);
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

/// Reads a final nextest status line such as `PASS [   0.017s] (1/3) mixed tests::adds` or
/// `TRY 2 FAIL [   1.000s] ( 15/100) bin test`. Lines whose counter is `(───)` (a retry still
/// to come, a slow or terminating notice) are not final and give `None`.
fn nextest_status(line: &str) -> Option<Verdict> {
    let (status, rest) = line.split_once(" [")?;
    let (_, rest) = rest.split_once(']')?;
    let (counter, _) = rest.trim_start().strip_prefix('(')?.split_once(')')?;
    let (done, of) = counter.split_once('/')?;
    done.trim().parse::<u64>().ok()?;
    of.trim().parse::<u64>().ok()?;
    let status = status.trim();
    let status = match status.strip_prefix("TRY ") {
        Some(retry) => retry.split_once(' ')?.1.trim(),
        None => status,
    };
    match status {
        "PASS" | "LEAK" | "TIMEOUT-PASS" | "SLOW" | "SLOW + LEAK" | "SLOW+TMPASS" => {
            Some(Verdict::Passed)
        }
        "FAIL" | "FAIL + LEAK" | "LEAK-FAIL" | "FL+LK" | "LKFAIL" | "TIMEOUT" | "TMT" | "ABORT" => {
            Some(Verdict::Failed)
        }
        // `XFAIL` is nextest's "exec fail": the test binary could not be run.
        "XFAIL" => Some(Verdict::Error),
        _ if status.len() > 3
            && status.starts_with("SIG")
            && status
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
        {
            Some(Verdict::Failed)
        }
        _ => None,
    }
}

/// Reads `Starting 3 tests across 1 binary (1 test skipped)`: (tests to run, tests skipped).
fn nextest_starting(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("Starting ")?;
    let (count, _) = count_and_label(rest)?;
    let skipped = rest
        .split_once('(')
        .and_then(|(_, aside)| aside.split(')').next())
        .map_or(0, |aside| {
            aside
                .split(',')
                .filter_map(count_and_label)
                .filter(|(_, label)| matches!(*label, "test skipped" | "tests skipped"))
                .map(|(n, _)| n)
                .sum()
        });
    Some((count, skipped))
}

/// `cargo nextest run`: the last `Summary [...]` line. Without one (the run was killed), the
/// final per-test status lines and the `Starting` line's skipped count.
fn parse_nextest(output: &str) -> Counts {
    let mut summary = None;
    let mut partial = Counts::default();
    let mut status_lines = 0_u64;
    let mut starting = None;
    let mut no_tests = false;
    let mut build_failed = false;
    for line in screen_lines(output) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Summary [") {
            if let Some(counts) = nextest_summary(rest) {
                summary = Some(counts);
            }
        } else if let Some(started) = nextest_starting(line) {
            starting = Some(started);
        } else if let Some(verdict) = nextest_status(line) {
            bump(&mut status_lines, 1);
            match verdict {
                Verdict::Passed => bump(&mut partial.passed, 1),
                Verdict::Failed => bump(&mut partial.failed, 1),
                Verdict::Skipped => bump(&mut partial.skipped, 1),
                Verdict::Error => bump(&mut partial.errors, 1),
            }
        }
        no_tests |= line.starts_with("error: no tests to run");
        build_failed |= is_build_error(line);
    }
    let nothing_started = matches!(starting, Some((0, _)));
    if let Some(counts) = summary {
        return counts;
    }
    if status_lines > 0 {
        bump(
            &mut partial.skipped,
            starting.map_or(0, |(_, skipped)| skipped),
        );
        partial.summary_found = true;
    } else if no_tests || nothing_started {
        partial.skipped = starting.map_or(0, |(_, skipped)| skipped);
        partial.no_tests_collected = true;
        partial.summary_found = true;
    } else if build_failed {
        partial.errors = 1;
        partial.summary_found = true;
    }
    partial
}

// ---------------------------------------------------------------------------------------------
// pytest

/// Reads a pytest summary line: `=== 1 failed, 3 passed, 2 skipped, 1 error in 0.07s ===`,
/// its `-q` form without the `=` padding, `no tests ran in 0.01s`, and
/// `2 passed in 61.01s (0:01:01)`. Labels other than the counted ones (`warning`,
/// `deselected`, `rerun`, plugins' own) are accepted and ignored.
fn pytest_summary(line: &str) -> Option<Counts> {
    let padded = line.starts_with('=') && line.ends_with('=');
    let body = line.trim_matches('=').trim();
    let (stats, took) = match body.rsplit_once(" in ") {
        Some((stats, duration)) => match duration.split_whitespace().next().and_then(seconds) {
            Some(took) => (stats, Some(took)),
            None => (body, None),
        },
        None => (body, None),
    };
    // Without its duration, only the `=`-padded form is trusted to be the summary.
    if took.is_none() && !padded {
        return None;
    }
    let mut counts = Counts {
        summary_found: true,
        reported_seconds: took.map(round_ms),
        ..Counts::default()
    };
    for part in stats.split(", ") {
        if part.trim() == "no tests ran" {
            counts.no_tests_collected = true;
            continue;
        }
        let (n, label) = count_and_label(part)?;
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_lowercase() || c == ' ') {
            return None;
        }
        match label {
            "passed" => bump(&mut counts.passed, n),
            "failed" => bump(&mut counts.failed, n),
            "skipped" => bump(&mut counts.skipped, n),
            "error" | "errors" => bump(&mut counts.errors, n),
            "xfailed" => bump(&mut counts.xfailed, n),
            "xpassed" => bump(&mut counts.xpassed, n),
            _ => {}
        }
    }
    let ran = [
        counts.passed,
        counts.failed,
        counts.skipped,
        counts.errors,
        counts.xfailed,
        counts.xpassed,
    ];
    if ran.iter().all(|&n| n == 0) {
        counts.no_tests_collected = true;
    }
    Some(counts)
}

/// Adds one pytest progress character (`.`, `F`, `s`, `E`, `x`, `X`) to `counts`.
fn pytest_progress_char(counts: &mut Counts, c: char) {
    let counter = match c {
        '.' => &mut counts.passed,
        'F' => &mut counts.failed,
        's' => &mut counts.skipped,
        'E' => &mut counts.errors,
        'x' => &mut counts.xfailed,
        'X' => &mut counts.xpassed,
        _ => return,
    };
    bump(counter, 1);
}

/// Reads a pytest progress line, `test_mixed.py ...FssE   [100%]` or (wrapped, `-q`)
/// `...FssE   [100%]`: the progress characters, or `None` when it is not one.
fn pytest_progress(line: &str) -> Option<&str> {
    let line = match line.strip_suffix("%]") {
        Some(rest) => rest.rsplit_once('[')?.0,
        None => line,
    };
    let mut words = line.split_whitespace();
    let mut progress = words.next()?;
    if progress.ends_with(".py") || progress.contains("::") {
        progress = words.next()?;
    }
    let only_progress = progress
        .chars()
        .all(|c| matches!(c, '.' | 'F' | 's' | 'E' | 'x' | 'X' | 'R'));
    (words.next().is_none() && only_progress).then_some(progress)
}

/// Reads a `pytest -v` line, `test_slow.py::test_a PASSED   [ 25%]`.
fn pytest_verbose(counts: &mut Counts, line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(node), Some(status)) = (words.next(), words.next()) else {
        return false;
    };
    if !node.contains("::") {
        return false;
    }
    let counter = match status {
        "PASSED" => &mut counts.passed,
        "FAILED" => &mut counts.failed,
        "SKIPPED" => &mut counts.skipped,
        "ERROR" => &mut counts.errors,
        "XFAIL" => &mut counts.xfailed,
        "XPASS" => &mut counts.xpassed,
        _ => return false,
    };
    bump(counter, 1);
    true
}

/// `pytest`: the last summary line. Without one (the run was killed), the progress
/// characters or `-v` lines seen so far; a session that failed to start (a broken
/// `conftest.py`, a usage error, an internal error) is 1 error.
fn parse_pytest(output: &str) -> Counts {
    let mut summary = None;
    let mut partial = Counts::default();
    let mut partial_found = false;
    let mut start_failed = false;
    for line in screen_lines(output) {
        let line = line.trim();
        if let Some(counts) = pytest_summary(line) {
            summary = Some(counts);
        } else if let Some(progress) = pytest_progress(line) {
            progress
                .chars()
                .for_each(|c| pytest_progress_char(&mut partial, c));
            partial_found = true;
        } else if pytest_verbose(&mut partial, line) {
            partial_found = true;
        }
        start_failed |= line.starts_with("ImportError while loading conftest")
            || line.starts_with("ERROR: ")
            || line.starts_with("INTERNALERROR>");
    }
    if let Some(counts) = summary {
        return counts;
    }
    if partial_found {
        partial.summary_found = true;
    } else if start_failed {
        partial.errors = 1;
        partial.summary_found = true;
    }
    partial
}

// ---------------------------------------------------------------------------------------------
// Plain

/// Any runner: the last line with `N passed` and/or `N failed` (`N skipped` read from the
/// same line), e.g. `Tests: 3 passed, 1 failed` or vitest's `Tests  1 failed | 4 passed`.
fn parse_plain(output: &str) -> Counts {
    let mut last = Counts::default();
    for line in screen_lines(output) {
        let mut counts = Counts::default();
        let mut found = false;
        let mut previous: Option<u64> = None;
        for word in line
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|word| !word.is_empty())
        {
            if let Some(n) = previous {
                if word.eq_ignore_ascii_case("passed") {
                    bump(&mut counts.passed, n);
                    found = true;
                } else if word.eq_ignore_ascii_case("failed") {
                    bump(&mut counts.failed, n);
                    found = true;
                } else if word.eq_ignore_ascii_case("skipped") {
                    bump(&mut counts.skipped, n);
                }
            }
            previous = word.parse().ok();
        }
        if found {
            counts.summary_found = true;
            counts.no_tests_collected =
                counts.passed == 0 && counts.failed == 0 && counts.skipped == 0;
            last = counts;
        }
    }
    last
}

// ---------------------------------------------------------------------------------------------
// JUnit XML

/// What an open `<testcase>` holds so far.
#[derive(Debug, Default)]
struct OpenCase {
    failure: bool,
    error: bool,
    skipped: bool,
}

impl OpenCase {
    /// Counts the case: a `<failure>` is a failure and an `<error>` an error (both, when it
    /// holds both, as pytest counts a failing test whose teardown also errs); otherwise
    /// `<skipped>` is skipped and anything else passed. Retry elements (`<rerunFailure>`,
    /// `<flakyFailure>`, ...) are not looked at: the case's own verdict is what counts.
    fn count_into(&self, counts: &mut Counts) {
        if self.failure {
            bump(&mut counts.failed, 1);
        }
        if self.error {
            bump(&mut counts.errors, 1);
        }
        if !self.failure && !self.error {
            bump(
                if self.skipped {
                    &mut counts.skipped
                } else {
                    &mut counts.passed
                },
                1,
            );
        }
    }
}

/// What follows `pattern` in `text`, or `""` when it never comes (a truncated document).
fn after<'a>(text: &'a str, pattern: &str) -> &'a str {
    text.find(pattern)
        .and_then(|at| text.get(at + pattern.len()..))
        .unwrap_or("")
}

/// Splits `text` (just after a `<`) at the `>` that ends the tag, skipping quoted attribute
/// values (which may hold `>`): (the tag's inside, what follows it).
fn split_tag(text: &str) -> Option<(&str, &str)> {
    let mut quote = None;
    for (at, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '>') => return Some((text.get(..at)?, text.get(at + 1..)?)),
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in a tag's attribute text (entities left as written).
fn attribute<'a>(attributes: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attributes;
    loop {
        let (key, value) = rest.split_once('=')?;
        let value = value.trim_start();
        let quote = value.chars().next().filter(|q| matches!(q, '"' | '\''))?;
        let (content, tail) = value.get(1..)?.split_once(quote)?;
        if key.trim() == name {
            return Some(content);
        }
        rest = tail;
    }
}

/// The duration in a `time="1.5"` attribute, in seconds.
fn time_attribute(attributes: &str) -> Option<f64> {
    let value: f64 = attribute(attributes, "time")?.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// Parses a JUnit XML document, summing over every `<testcase>` in every (possibly nested)
/// `<testsuite>`: `passed`; `failed` for a `<failure>`; `errors` for an `<error>`; `skipped`
/// for a `<skipped>`. Self-closing elements, attributes in any order (values may hold `>`),
/// comments, CDATA sections, the `<?xml ...?>` header and namespace prefixes are handled; a
/// document cut short is counted as far as it goes. `reported_seconds` is the `time` of the
/// root `<testsuites>`, else the sum over the outermost `<testsuite>` elements.
/// `summary_found` says a `<testsuites>`, `<testsuite>` or `<testcase>` was seen, and
/// `no_tests_collected` that it held no test case.
#[must_use]
pub fn parse_junit(xml: &str) -> Counts {
    let mut counts = Counts::default();
    let mut cases = 0_u64;
    let mut suite_depth = 0_usize;
    let mut root_time = None;
    let mut suites_time: Option<f64> = None;
    let mut case: Option<OpenCase> = None;
    let mut rest = xml;
    while let Some(at) = rest.find('<') {
        rest = rest.get(at..).unwrap_or("");
        if let Some(tail) = rest.strip_prefix("<!--") {
            rest = after(tail, "-->");
            continue;
        }
        if let Some(tail) = rest.strip_prefix("<![CDATA[") {
            rest = after(tail, "]]>");
            continue;
        }
        if let Some(tail) = rest.strip_prefix("<?") {
            rest = after(tail, "?>");
            continue;
        }
        if let Some(tail) = rest.strip_prefix("<!") {
            rest = after(tail, ">");
            continue;
        }
        let Some((tag, tail)) = rest.get(1..).and_then(split_tag) else {
            break; // a tag cut short: the document ends here
        };
        rest = tail;

        if let Some(closing) = tag.strip_prefix('/') {
            match local_name(closing.trim()) {
                "testsuite" => suite_depth = suite_depth.saturating_sub(1),
                "testcase" => {
                    if let Some(open) = case.take() {
                        open.count_into(&mut counts);
                        bump(&mut cases, 1);
                    }
                }
                _ => {}
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attributes) = tag
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((tag, ""));
        match local_name(name) {
            "testsuites" => {
                counts.summary_found = true;
                if suite_depth == 0 && root_time.is_none() {
                    root_time = time_attribute(attributes);
                }
            }
            "testsuite" => {
                counts.summary_found = true;
                if suite_depth == 0
                    && let Some(time) = time_attribute(attributes)
                {
                    suites_time = Some(suites_time.unwrap_or(0.0) + time);
                }
                if !self_closing {
                    suite_depth = suite_depth.saturating_add(1);
                }
            }
            "testcase" => {
                counts.summary_found = true;
                if let Some(unclosed) = case.take() {
                    unclosed.count_into(&mut counts);
                    bump(&mut cases, 1);
                }
                if self_closing {
                    bump(&mut counts.passed, 1);
                    bump(&mut cases, 1);
                } else {
                    case = Some(OpenCase::default());
                }
            }
            "failure" => {
                if let Some(open) = case.as_mut() {
                    open.failure = true;
                }
            }
            "error" => {
                if let Some(open) = case.as_mut() {
                    open.error = true;
                }
            }
            "skipped" => {
                if let Some(open) = case.as_mut() {
                    open.skipped = true;
                }
            }
            _ => {}
        }
    }
    // Cut short inside a test case: count it only when its verdict was already written.
    if let Some(open) = case
        && (open.failure || open.error || open.skipped)
    {
        open.count_into(&mut counts);
        bump(&mut cases, 1);
    }
    counts.no_tests_collected = counts.summary_found && cases == 0;
    counts.reported_seconds = root_time.or(suites_time).map(round_ms);
    counts
}

/// An element name without its namespace prefix (`ns:testcase` → `testcase`).
fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    //! Tables of real outputs with the exact counts expected from each.
    //!
    //! Unless a fixture says otherwise, it is a real capture (`2>&1`, so stdout and stderr
    //! interleaved as a runner sees them), trimmed only of backtrace frames: cargo 1.95.0 and
    //! cargo-nextest 0.9.143 on throwaway crates, pytest 9.2.0 (Python 3.11.7), vitest 4.1.12.
    //! Outputs cut short were captured under `timeout`, so they end where the process was
    //! killed (mid-line, no final newline). The few fixtures written by hand, from nextest's
    //! own reporter snapshots or the JUnit format, say so.

    use super::*;

    /// One row of a table: an output and the exact counts it must give.
    struct Row {
        name: &'static str,
        output: &'static str,
        expected: Counts,
    }

    /// A summary found with these counts, everything else at its default.
    fn found(passed: u64, failed: u64, skipped: u64, errors: u64) -> Counts {
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
    fn timed(passed: u64, failed: u64, skipped: u64, errors: u64, seconds: f64) -> Counts {
        Counts {
            reported_seconds: Some(seconds),
            ..found(passed, failed, skipped, errors)
        }
    }

    /// A run that collected nothing, with the runner's reported duration when it gave one.
    fn no_tests(skipped: u64, seconds: Option<f64>) -> Counts {
        Counts {
            no_tests_collected: true,
            reported_seconds: seconds,
            ..found(0, 0, skipped, 0)
        }
    }

    fn check(runner: Runner, rows: &[Row]) {
        for row in rows {
            assert_eq!(
                parse(runner, row.output),
                row.expected,
                "{runner:?}: {}",
                row.name
            );
        }
    }

    #[test]
    fn cargo_test_table() {
        check(
            Runner::CargoTest,
            &[
                Row {
                    name: "pass, fail and ignored in one binary",
                    output: CARGO_MIXED,
                    expected: timed(2, 1, 1, 0, 0.13),
                },
                Row {
                    name: "unit tests and doc tests: two result lines summed",
                    output: CARGO_PASSING_WITH_DOCTESTS,
                    expected: timed(2, 0, 1, 0, 0.0),
                },
                Row {
                    name: "a crate without tests",
                    output: CARGO_NO_TESTS,
                    expected: no_tests(0, Some(0.0)),
                },
                Row {
                    name: "does not compile",
                    output: CARGO_COMPILE_ERROR,
                    expected: found(0, 0, 0, 1),
                },
                Row {
                    name: "workspace: five binaries, one failing (--no-fail-fast)",
                    output: CARGO_WORKSPACE,
                    expected: timed(6, 1, 1, 0, 0.13),
                },
                Row {
                    name: "workspace with a filter: some binaries run 0 tests, not all",
                    output: CARGO_WORKSPACE_FILTERED,
                    expected: timed(1, 0, 0, 0, 0.0),
                },
                Row {
                    name: "killed by a timeout mid-line (--test-threads=1)",
                    output: CARGO_CUT_SHORT_MID_LINE,
                    expected: found(2, 0, 0, 0),
                },
                Row {
                    name: "killed by a timeout after the 60-second warning",
                    output: CARGO_CUT_SHORT_SLOW_WARNING,
                    expected: found(2, 1, 1, 0),
                },
                Row {
                    name: "a test binary aborted; cargo went on to the next ones",
                    output: CARGO_BINARY_CRASHED,
                    expected: timed(2, 0, 0, 1, 0.0),
                },
                Row {
                    name: "the only test binary aborted; cargo stopped there",
                    output: CARGO_LAST_BINARY_CRASHED,
                    expected: found(1, 0, 0, 1),
                },
                Row {
                    name: "nothing at all",
                    output: "",
                    expected: Counts::default(),
                },
            ],
        );
    }

    #[test]
    fn cargo_nextest_table() {
        let killed_before_summary = NEXTEST_FILTER_MATCHES_NOTHING
            .split("     Summary")
            .next()
            .unwrap_or_default();
        check(
            Runner::CargoNextest,
            &[
                Row {
                    name: "pass, fail and ignored",
                    output: NEXTEST_MIXED,
                    expected: timed(2, 1, 1, 0, 0.159),
                },
                Row {
                    name: "passing",
                    output: NEXTEST_PASSING,
                    expected: timed(1, 0, 1, 0, 0.007),
                },
                Row {
                    name: "colours on",
                    output: NEXTEST_COLOURED,
                    expected: timed(1, 0, 1, 0, 0.017),
                },
                Row {
                    name: "a crate without tests",
                    output: NEXTEST_NO_TESTS,
                    expected: no_tests(0, Some(0.0)),
                },
                Row {
                    name: "a filter that matches nothing",
                    output: NEXTEST_FILTER_MATCHES_NOTHING,
                    expected: no_tests(7, Some(0.0)),
                },
                Row {
                    name: "does not compile",
                    output: NEXTEST_COMPILE_ERROR,
                    expected: found(0, 0, 0, 1),
                },
                Row {
                    name: "workspace: three binaries (--no-fail-fast)",
                    output: NEXTEST_WORKSPACE,
                    expected: timed(5, 1, 1, 0, 0.151),
                },
                Row {
                    name: "workspace, fail-fast: `4/6 tests run`",
                    output: NEXTEST_FAIL_FAST,
                    expected: timed(3, 1, 1, 0, 0.191),
                },
                Row {
                    name: "retries: flaky and leaky passes, a timed-out test",
                    output: NEXTEST_RETRIES_LEAK_TIMEOUT,
                    expected: timed(3, 1, 1, 0, 4.024),
                },
                Row {
                    name: "SIGTERM from a timeout: nextest still prints its summary",
                    output: NEXTEST_SIGTERM,
                    expected: timed(2, 2, 1, 0, 2.829),
                },
                Row {
                    name: "SIGKILL from a timeout: no summary, counted from status lines",
                    output: NEXTEST_KILLED,
                    expected: found(2, 1, 1, 0),
                },
                Row {
                    name: "a filter that matches nothing, cut before the summary",
                    output: killed_before_summary,
                    expected: no_tests(7, None),
                },
                Row {
                    name: "a test that aborts",
                    output: NEXTEST_ABORTED_TEST,
                    expected: timed(3, 1, 0, 0, 0.033),
                },
                Row {
                    name: "written: every summary item",
                    output: NEXTEST_SUMMARY_EVERY_ITEM,
                    expected: timed(5, 3, 2, 1, 15.75),
                },
                Row {
                    name: "written: cancelled stress run",
                    output: NEXTEST_SUMMARY_STRESS_CANCELLED,
                    expected: timed(12, 3, 0, 0, 45.25),
                },
                Row {
                    name: "written: killed, status lines of every kind",
                    output: NEXTEST_KILLED_EVERY_STATUS,
                    expected: found(4, 7, 0, 1),
                },
                Row {
                    name: "nothing at all",
                    output: "",
                    expected: Counts::default(),
                },
            ],
        );
    }

    #[test]
    fn pytest_table() {
        let xfail = |xfailed, xpassed, counts: Counts| Counts {
            xfailed,
            xpassed,
            ..counts
        };
        check(
            Runner::Pytest,
            &[
                Row {
                    name: "failed, passed, skipped and a fixture error",
                    output: PYTEST_MIXED,
                    expected: timed(3, 1, 2, 1, 0.07),
                },
                Row {
                    name: "the same, -q",
                    output: PYTEST_MIXED_QUIET,
                    expected: timed(3, 1, 2, 1, 0.05),
                },
                Row {
                    name: "passing",
                    output: PYTEST_PASSING,
                    expected: timed(5, 0, 0, 0, 0.01),
                },
                Row {
                    name: "passing, -q",
                    output: PYTEST_PASSING_QUIET,
                    expected: timed(5, 0, 0, 0, 0.01),
                },
                Row {
                    name: "no tests",
                    output: PYTEST_NO_TESTS,
                    expected: no_tests(0, Some(0.01)),
                },
                Row {
                    name: "no tests, -q",
                    output: PYTEST_NO_TESTS_QUIET,
                    expected: no_tests(0, Some(0.0)),
                },
                Row {
                    name: "collection errors (interrupted)",
                    output: PYTEST_COLLECTION_ERRORS,
                    expected: timed(0, 0, 0, 2, 0.37),
                },
                Row {
                    name: "xfailed and xpassed",
                    output: PYTEST_XFAIL_XPASS,
                    expected: xfail(1, 1, timed(1, 0, 0, 0, 0.03)),
                },
                Row {
                    name: "colours on, -q",
                    output: PYTEST_COLOURED_QUIET,
                    expected: xfail(1, 1, timed(1, 0, 0, 0, 0.03)),
                },
                Row {
                    name: "a warning (not counted)",
                    output: PYTEST_WARNING,
                    expected: timed(3, 0, 0, 0, 0.01),
                },
                Row {
                    name: "-k: deselected (not counted)",
                    output: PYTEST_DESELECTED,
                    expected: timed(1, 0, 1, 0, 0.01),
                },
                Row {
                    name: "over a minute: `in 61.01s (0:01:01)`",
                    output: PYTEST_OVER_A_MINUTE,
                    expected: timed(2, 0, 0, 0, 61.01),
                },
                Row {
                    name: "killed by a timeout: progress characters",
                    output: PYTEST_CUT_SHORT,
                    expected: found(1, 1, 0, 0),
                },
                Row {
                    name: "killed by a timeout: every progress character",
                    output: PYTEST_CUT_SHORT_EVERY_OUTCOME,
                    expected: xfail(1, 1, found(1, 1, 1, 1)),
                },
                Row {
                    name: "killed by a timeout, -q: a progress line without a file name",
                    output: PYTEST_CUT_SHORT_QUIET,
                    expected: xfail(1, 1, found(1, 1, 1, 1)),
                },
                Row {
                    name: "killed by a timeout, -v: per-test lines",
                    output: PYTEST_CUT_SHORT_VERBOSE,
                    expected: found(1, 1, 0, 0),
                },
                Row {
                    name: "killed by a timeout, -v: every outcome",
                    output: PYTEST_CUT_SHORT_VERBOSE_EVERY_OUTCOME,
                    expected: xfail(1, 1, found(1, 1, 1, 1)),
                },
                Row {
                    name: "SIGINT from a timeout: pytest prints its summary",
                    output: PYTEST_INTERRUPTED,
                    expected: timed(1, 1, 0, 0, 3.86),
                },
                Row {
                    name: "a broken conftest.py: the session never starts",
                    output: PYTEST_CONFTEST_ERROR,
                    expected: found(0, 0, 0, 1),
                },
                Row {
                    name: "written: counts without `=` padding nor duration are no summary",
                    output: "print output: 3 passed, 1 failed\n3 passed, 1 failed\n",
                    expected: Counts::default(),
                },
                Row {
                    name: "a path that does not exist",
                    output: PYTEST_PATH_NOT_FOUND,
                    expected: no_tests(0, Some(0.0)),
                },
                Row {
                    name: "nothing at all",
                    output: "",
                    expected: Counts::default(),
                },
            ],
        );
    }

    #[test]
    fn plain_table() {
        check(
            Runner::Plain,
            &[
                Row {
                    name: "vitest: the `Tests` line comes after `Test Files`",
                    output: VITEST,
                    expected: found(4, 1, 1, 0),
                },
                Row {
                    name: "cargo test output: its last result line",
                    output: CARGO_WORKSPACE,
                    expected: found(1, 0, 0, 0),
                },
                Row {
                    name: "pytest output: its summary line",
                    output: PYTEST_MIXED,
                    expected: found(3, 1, 2, 0),
                },
                Row {
                    name: "written: `Tests: 3 passed, 1 failed`",
                    output: "running...\nTests: 3 passed, 1 failed\ndone\n",
                    expected: found(3, 1, 0, 0),
                },
                Row {
                    name: "written: the last line wins",
                    output: "suite a: 4 passed\nsuite b: 1 failed, 2 skipped\n10 passed, 0 failed\n",
                    expected: found(10, 0, 0, 0),
                },
                Row {
                    name: "written: nothing ran",
                    output: "0 passed, 0 failed\n",
                    expected: Counts {
                        no_tests_collected: true,
                        ..found(0, 0, 0, 0)
                    },
                },
                Row {
                    name: "written: `skipped` alone is no summary",
                    output: "3 skipped\n",
                    expected: Counts::default(),
                },
                Row {
                    name: "nothing at all",
                    output: "",
                    expected: Counts::default(),
                },
            ],
        );
    }

    #[test]
    fn junit_table() {
        let truncated = JUNIT_PYTEST_MIXED
            .split("name=\"test_skipped\"")
            .next()
            .unwrap_or_default();
        let cut_in_error = JUNIT_PYTEST_MIXED
            .split("E       RuntimeError")
            .next()
            .unwrap_or_default();
        let rows = [
            Row {
                name: "pytest: failed, passed, skipped and a fixture error",
                output: JUNIT_PYTEST_MIXED,
                expected: timed(3, 1, 2, 1, 0.071),
            },
            Row {
                name: "pytest: an xfail is a <skipped>, an xpass a plain pass",
                output: JUNIT_PYTEST_XFAIL,
                expected: timed(2, 0, 1, 0, 0.084),
            },
            Row {
                name: "pytest: collection errors",
                output: JUNIT_PYTEST_COLLECTION_ERRORS,
                expected: timed(0, 0, 0, 2, 0.321),
            },
            Row {
                name: "pytest: no tests (a self-closing <testsuite/>)",
                output: JUNIT_PYTEST_NO_TESTS,
                expected: no_tests(0, Some(0.018)),
            },
            Row {
                name: "nextest: retries (<flakyFailure>, <rerunFailure>) and a timeout",
                output: JUNIT_NEXTEST_RETRIES,
                expected: timed(3, 1, 0, 0, 4.026),
            },
            Row {
                name: "nextest: workspace, three suites",
                output: JUNIT_NEXTEST_WORKSPACE,
                expected: timed(5, 1, 0, 0, 0.288),
            },
            Row {
                name: "written: nested suites, comments, CDATA, quoting",
                output: JUNIT_WRITTEN_NESTED,
                expected: timed(2, 1, 1, 1, 1.75),
            },
            Row {
                name: "pytest's report cut short inside a tag",
                output: truncated,
                expected: timed(3, 1, 0, 0, 0.071),
            },
            Row {
                name: "pytest's report cut short inside an <error>'s text",
                output: cut_in_error,
                expected: timed(3, 1, 2, 1, 0.071),
            },
            Row {
                name: "not XML",
                output: "5 passed in 0.01s",
                expected: Counts::default(),
            },
        ];
        check(Runner::Junit, &rows);
        for row in &rows {
            assert_eq!(
                parse_junit(row.output),
                row.expected,
                "parse_junit: {}",
                row.name
            );
        }
    }

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

    // ---- Written by hand ---------------------------------------------------------------------

    /// Written from nextest's reporter snapshot `summary_line_output` (nextest-runner
    /// `reporter/displayer`): every item a summary can hold.
    const NEXTEST_SUMMARY_EVERY_ITEM: &str = "────────────
     Summary [  15.750s] 8/10 tests run: 5 passed (1 slow, 1 flaky, 1 leaky), 2 failed, 1 exec failed, 1 timed out, 2 skipped
warning: 2/10 tests were not run due to signal
";

    /// Written from the same snapshot: a stress run cancelled by an interrupt.
    const NEXTEST_SUMMARY_STRESS_CANCELLED: &str = "────────────
     Summary [  45.250s] 15 stress run iterations: 12 passed, 3 failed; cancelled due to interrupt
";

    /// Written from nextest's reporter snapshot `status_line_all_variants` (its "final"
    /// section): a killed run, so no summary. Passes: PASS, LEAK, TIMEOUT-PASS, TRY 2 PASS;
    /// failures: FAIL, FAIL + LEAK, LEAK-FAIL, TIMEOUT, SIGSEGV, TRY 2 FL+LK, TRY 2 TMT;
    /// XFAIL is an exec failure; `(───)` lines are not final.
    const NEXTEST_KILLED_EVERY_STATUS: &str = "    Starting 12 tests across 1 binary
        PASS [   1.000s] (  1/100) my-binary-id test_name
        LEAK [   2.000s] (  2/100) my-binary-id test_name
TIMEOUT-PASS [ 240.000s] (  3/100) my-binary-id test_name
  TRY 1 FAIL [   1.000s] (───) my-binary-id test_name
  TRY 2 PASS [   1.000s] (  7/100) my-binary-id test_name
        FAIL [   1.000s] (  8/100) my-binary-id test_name
 FAIL + LEAK [   1.000s] (  9/100) my-binary-id test_name
       XFAIL [   1.000s] ( 10/100) my-binary-id test_name
   LEAK-FAIL [   1.000s] ( 11/100) my-binary-id test_name
     TIMEOUT [  60.000s] ( 12/100) my-binary-id test_name
     SIGSEGV [   1.000s] ( 13/100) my-binary-id test_name
        SLOW [>  1.000s] (───) my-binary-id test_name
 TRY 2 FL+LK [   1.000s] ( 16/100) my-binary-id test_name
   TRY 2 TMT [  60.000s] ( 18/100) my-binary-id test_name
";

    /// Written by hand: nested suites (as Ant / Maven Surefire reports nest them), comments,
    /// a CDATA section holding markup, `>` inside attribute values, single quotes, attributes
    /// in any order. No root `time`: the outermost suites' times are summed (1.5 + 0.25).
    const JUNIT_WRITTEN_NESTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment with <testcase name="not a test"/> inside -->
<testsuites>
  <testsuite name="outer" time="1.5" tests="5">
    <testsuite time="1.0" name="inner">
      <testcase time="0.1" name="a > b" classname='x'/>
      <testcase name="fails"><failure type="AssertionError" message="expected 1 > 0"><![CDATA[<testcase name="in CDATA"/>]]></failure></testcase>
      <!-- <testcase name="commented out"/> -->
    </testsuite>
    <testcase name="skips"><skipped/></testcase>
    <testcase name="errs"><error message='boom'/></testcase>
  </testsuite>
  <testsuite name="second" time="0.25"><testcase name="ok"></testcase></testsuite>
</testsuites>
"#;

    // ---- Real captures -----------------------------------------------------------------------

    /// Captured with colours on (escape codes written as `\x1b`).
    const NEXTEST_COLOURED: &str = concat!(
        "\x1b[1m\x1b[92m    Finished\x1b[0m `test` profile [unoptimized + debuginfo] target(s) in 0.02s\n",
        "────────────\n",
        "\x1b[32;1m Nextest run\x1b[0m ID \x1b[1m69ab43c1-f993-41de-b741-f49d3af3b3e7\x1b[0m with nextest profile: \x1b[1mdefault\x1b[0m\n",
        "\x1b[32;1m    Starting\x1b[0m \x1b[1m1\x1b[0m test across \x1b[1m1\x1b[0m binary (\x1b[1m1\x1b[0m test \x1b[33;1mskipped\x1b[0m)\n",
        "\x1b[32;1m        PASS\x1b[0m [   0.015s] (1/1) \x1b[35;1mpassing\x1b[0m \x1b[36mtests\x1b[0m\x1b[36m::\x1b[0m\x1b[34;1madds\x1b[0m\n",
        "────────────\n",
        "\x1b[32;1m     Summary\x1b[0m [   0.017s] \x1b[1m1\x1b[0m test run: \x1b[1m1\x1b[0m \x1b[32;1mpassed\x1b[0m, \x1b[1m1\x1b[0m \x1b[33;1mskipped\x1b[0m\n",
    );

    /// Captured with colours on (escape codes written as `\x1b`).
    const PYTEST_COLOURED_QUIET: &str = concat!(
        "\x1b[33mx\x1b[0m\x1b[33mX\x1b[0m\x1b[32m.\x1b[0m\x1b[33m                                                                      [100%]\x1b[0m\n",
        "\x1b[33m\x1b[32m1 passed\x1b[0m, \x1b[33m\x1b[1m1 xfailed\x1b[0m, \x1b[33m\x1b[1m1 xpassed\x1b[0m\x1b[33m in 0.03s\x1b[0m\x1b[0m\n",
    );

    const CARGO_MIXED: &str = r#"   Compiling mixed v0.1.0 (/tmp/cap/mixed)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.25s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/mixed-04daa183d09c87c7)

running 4 tests
test tests::adds ... ok
test tests::slow ... ignored
test tests::adds_zero ... ok
test tests::wrong ... FAILED

failures:

---- tests::wrong stdout ----

thread 'tests::wrong' (17629) panicked at src/lib.rs:7:26:
assertion `left == right` failed
  left: 2
 right: 3
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    tests::wrong

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.13s

error: test failed, to rerun pass `--lib`
"#;

    const CARGO_PASSING_WITH_DOCTESTS: &str = r#"   Compiling passing v0.1.0 (/tmp/cap/passing)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.22s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/passing-73231a58234faeb7)

running 2 tests
test tests::slow ... ignored
test tests::adds ... ok

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests passing

running 1 test
test src/lib.rs - add (line 3) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

all doctests ran in 0.41s; merged doctests compilation took 0.40s
"#;

    const CARGO_NO_TESTS: &str = r#"   Compiling empty v0.1.0 (/tmp/cap/empty)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.19s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/empty-10922433aceba868)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests empty

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

"#;

    const CARGO_COMPILE_ERROR: &str = r#"   Compiling broken v0.1.0 (/tmp/cap/broken)
error[E0308]: mismatched types
 --> src/lib.rs:1:21
  |
1 | pub fn f() -> u32 { "no" }
  |               ---   ^^^^ expected `u32`, found `&str`
  |               |
  |               expected `u32` because of return type

For more information about this error, try `rustc --explain E0308`.
error: could not compile `broken` (lib) due to 1 previous error
warning: build failed, waiting for other jobs to finish...
error: could not compile `broken` (lib test) due to 1 previous error
"#;

    const CARGO_WORKSPACE: &str = r#"   Compiling alpha v0.1.0 (/tmp/cap/ws/alpha)
   Compiling beta v0.1.0 (/tmp/cap/ws/beta)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.85s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/alpha-e62994b938fd5803)

running 2 tests
test tests::also_two ... ok
test tests::two ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/it.rs (/tmp/cap-target/debug/deps/it-f8d07b311ad491a6)

running 3 tests
test integration ... ok
test integration_slow ... ignored
test integration_bad ... FAILED

failures:

---- integration_bad stdout ----

thread 'integration_bad' (17929) panicked at alpha/tests/it.rs:3:32:
assertion `left == right` failed
  left: 2
 right: 3
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    integration_bad

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.13s

error: test failed, to rerun pass `-p alpha --test it`
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/beta-04b5d311d386c8df)

running 2 tests
test tests::filtered_me ... ok
test tests::yes ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests alpha

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests beta

running 1 test
test beta/src/lib.rs - yes (line 1) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

all doctests ran in 0.36s; merged doctests compilation took 0.35s
error: 1 target failed:
    `-p alpha --test it`
"#;

    const CARGO_WORKSPACE_FILTERED: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.03s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/alpha-e62994b938fd5803)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.00s

     Running tests/it.rs (/tmp/cap-target/debug/deps/it-f8d07b311ad491a6)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s

     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/beta-04b5d311d386c8df)

running 1 test
test tests::filtered_me ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out; finished in 0.00s

"#;

    const CARGO_CUT_SHORT_MID_LINE: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.02s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/slow-269206d35d78fe5a)

running 5 tests
test tests::a_fast ... ok
test tests::b_fast ... ok
test tests::c_hangs ... "#;

    const CARGO_CUT_SHORT_SLOW_WARNING: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.05s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/slow-269206d35d78fe5a)

running 5 tests
test tests::a_fast ... ok
test tests::b_fast ... ok
test tests::d_ignored ... ignored
test tests::e_fails ... FAILED
test tests::c_hangs has been running for over 60 seconds
"#;

    const CARGO_LAST_BINARY_CRASHED: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/crash-13c7f3b4a2d242ba)

running 3 tests
test tests::a_ok ... ok
test tests::b_aborts ... error: test failed, to rerun pass `--lib`

Caused by:
  process didn't exit successfully: `/tmp/cap-target/debug/deps/crash-13c7f3b4a2d242ba --test-threads=1` (signal: 6, SIGABRT: process abort signal)
"#;

    const CARGO_BINARY_CRASHED: &str = r#"   Compiling crash v0.1.0 (/tmp/cap/crash)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.59s
     Running unittests src/lib.rs (/tmp/cap-target/debug/deps/crash-13c7f3b4a2d242ba)

running 3 tests
test tests::a_ok ... ok
test tests::b_aborts ... error: test failed, to rerun pass `--lib`

Caused by:
  process didn't exit successfully: `/tmp/cap-target/debug/deps/crash-13c7f3b4a2d242ba --test-threads=1` (signal: 6, SIGABRT: process abort signal)
     Running tests/after.rs (/tmp/cap-target/debug/deps/after-b29fd4b69fc489b7)

running 1 test
test after_ok ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests crash

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: 1 target failed:
    `--lib`
"#;

    const NEXTEST_MIXED: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.02s
────────────
 Nextest run ID c546c9d8-8f6c-42b9-8af6-070a03b32f13 with nextest profile: default
    Starting 3 tests across 1 binary (1 test skipped)
        PASS [   0.017s] (1/3) mixed tests::adds_zero
        PASS [   0.020s] (2/3) mixed tests::adds
        FAIL [   0.140s] (3/3) mixed tests::wrong
  stdout ───

    running 1 test
    test tests::wrong ... FAILED

    failures:

    failures:
        tests::wrong

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.13s

  stderr ───

    thread 'tests::wrong' (18173) panicked at src/lib.rs:7:26:
    assertion `left == right` failed
      left: 2
     right: 3
    stack backtrace:
    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.

────────────
     Summary [   0.159s] 3 tests run: 2 passed, 1 failed, 1 skipped
        FAIL [   0.140s] (3/3) mixed tests::wrong
error: test run failed
"#;

    const NEXTEST_PASSING: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s
────────────
 Nextest run ID b896d9a4-2802-4df7-ac2e-0e9d5adb4cc4 with nextest profile: default
    Starting 1 test across 1 binary (1 test skipped)
        PASS [   0.007s] (1/1) passing tests::adds
────────────
     Summary [   0.007s] 1 test run: 1 passed, 1 skipped
"#;

    const NEXTEST_NO_TESTS: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s
────────────
 Nextest run ID b7405348-8a81-472d-b00d-4d24a006675c with nextest profile: default
    Starting 0 tests across 1 binary
────────────
     Summary [   0.000s] 0 tests run: 0 passed, 0 skipped
error: no tests to run
(hint: use `--no-tests` to customize)
"#;

    const NEXTEST_FILTER_MATCHES_NOTHING: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.03s
────────────
 Nextest run ID 133f0201-29ce-4fff-8a5b-08330c4c5bf7 with nextest profile: default
    Starting 0 tests across 3 binaries (7 tests skipped)
────────────
     Summary [   0.000s] 0 tests run: 0 passed, 7 skipped
error: no tests to run
(hint: use `--no-tests` to customize)
"#;

    const NEXTEST_COMPILE_ERROR: &str = r#"   Compiling broken v0.1.0 (/tmp/cap/broken)
error[E0308]: mismatched types
 --> src/lib.rs:1:21
  |
1 | pub fn f() -> u32 { "no" }
  |               ---   ^^^^ expected `u32`, found `&str`
  |               |
  |               expected `u32` because of return type

For more information about this error, try `rustc --explain E0308`.
error: could not compile `broken` (lib) due to 1 previous error
warning: build failed, waiting for other jobs to finish...
error: could not compile `broken` (lib test) due to 1 previous error
error: command `/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo test --no-run --message-format json-render-diagnostics` exited with code 101
"#;

    const NEXTEST_WORKSPACE: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.02s
────────────
 Nextest run ID b69846f6-40a6-418f-806f-be31c854b240 with nextest profile: default
    Starting 6 tests across 3 binaries (1 test skipped)
        PASS [   0.006s] (1/6) alpha tests::also_two
        PASS [   0.006s] (2/6) alpha::it integration
        PASS [   0.028s] (3/6) alpha tests::two
        PASS [   0.015s] (4/6) beta tests::filtered_me
        PASS [   0.015s] (5/6) beta tests::yes
        FAIL [   0.137s] (6/6) alpha::it integration_bad
  stdout ───

    running 1 test
    test integration_bad ... FAILED

    failures:

    failures:
        integration_bad

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.13s

  stderr ───

    thread 'integration_bad' (18302) panicked at alpha/tests/it.rs:3:32:
    assertion `left == right` failed
      left: 2
     right: 3
    stack backtrace:
    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.

────────────
     Summary [   0.151s] 6 tests run: 5 passed, 1 failed, 1 skipped
        FAIL [   0.137s] (6/6) alpha::it integration_bad
error: test run failed
"#;

    const NEXTEST_FAIL_FAST: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s
────────────
 Nextest run ID a42e3e01-5cc9-4637-b067-62365c127726 with nextest profile: default
    Starting 6 tests across 3 binaries (1 test skipped)
        PASS [   0.008s] (1/6) alpha tests::also_two
        PASS [   0.009s] (2/6) alpha tests::two
        PASS [   0.013s] (3/6) alpha::it integration
        FAIL [   0.159s] (4/6) alpha::it integration_bad
  stdout ───

    running 1 test
    test integration_bad ... FAILED

    failures:

    failures:
        integration_bad

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.15s

  stderr ───

    thread 'integration_bad' (19014) panicked at alpha/tests/it.rs:3:32:
    assertion `left == right` failed
      left: 2
     right: 3
    stack backtrace:
    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.

  Cancelling due to test failure: 
────────────
     Summary [   0.191s] 4/6 tests run: 3 passed, 1 failed, 1 skipped
        FAIL [   0.159s] (4/6) alpha::it integration_bad
warning: 2/6 tests were not run due to test failure (run with --no-fail-fast to run all tests, or run with --max-fail)
error: test run failed
"#;

    const NEXTEST_RETRIES_LEAK_TIMEOUT: &str = r#"   Compiling nx v0.1.0 (/tmp/cap/nx)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.60s
────────────
 Nextest run ID 724b8a3a-b27f-4cf4-9910-d2526c9bd36c with nextest profile: default
    Starting 4 tests across 1 binary (1 test skipped)
        PASS [   0.010s] (1/4) nx tests::fast
  TRY 1 FAIL [   0.206s] (───) nx tests::flaky
  stdout ───

    running 1 test
    test tests::flaky ... FAILED

    failures:

    failures:
        tests::flaky

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.19s

  stderr ───

    thread 'tests::flaky' (18442) panicked at src/lib.rs:9:103:
    first time fails
    stack backtrace:
    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.

  TRY 2 PASS [   0.017s] (2/4) nx tests::flaky
        LEAK [   0.217s] (3/4) nx tests::leaks
        SLOW [>  1.000s] (───) nx tests::hangs
TRY 1 TRMNTG [>  2.000s] (───) nx tests::hangs
   TRY 1 TMT [   2.007s] (───) nx tests::hangs
  stdout ───

    running 1 test

    (test timed out)

  TRY 2 SLOW [>  1.000s] (───) nx tests::hangs
TRY 2 TRMNTG [>  2.000s] (───) nx tests::hangs
   TRY 2 TMT [   2.004s] (4/4) nx tests::hangs
  stdout ───

    running 1 test

    (test timed out)

────────────
     Summary [   4.024s] 4 tests run: 3 passed (1 flaky, 1 leaky), 1 timed out, 1 skipped
   FLAKY 2/2 [   0.017s] (2/4) nx tests::flaky
   TRY 2 TMT [   2.004s] (4/4) nx tests::hangs
error: test run failed
"#;

    const NEXTEST_SIGTERM: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s
────────────
 Nextest run ID 4259c77e-b152-4bcf-85d8-21f0b2c6bcfa with nextest profile: cut
    Starting 4 tests across 1 binary (1 test skipped)
        PASS [   0.017s] (1/4) nx tests::fast
        FAIL [   0.114s] (2/4) nx tests::flaky
  stdout ───

    running 1 test
    test tests::flaky ... FAILED

    failures:

    failures:
        tests::flaky

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.10s

  stderr ───

    thread 'tests::flaky' (18542) panicked at src/lib.rs:9:103:
    first time fails
    stack backtrace:
    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.

        LEAK [   0.208s] (3/4) nx tests::leaks
  Cancelling due to signal: 1 test still running
     SIGTERM [   2.809s] (4/4) nx tests::hangs
  stdout ───

    running 1 test

    (test aborted with signal 15: SIGTERM)

────────────
     Summary [   2.829s] 4 tests run: 2 passed (1 leaky), 2 failed, 1 skipped
        FAIL [   0.114s] (2/4) nx tests::flaky
     SIGTERM [   2.809s] (4/4) nx tests::hangs
error: test run failed
"#;

    const NEXTEST_KILLED: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.02s
────────────
 Nextest run ID 2bc62a59-4413-466b-9183-b5d96e0f7a7a with nextest profile: cut
    Starting 4 tests across 1 binary (1 test skipped)
        PASS [   0.012s] (1/4) nx tests::fast
        FAIL [   0.137s] (2/4) nx tests::flaky
  stdout ───

    running 1 test
    test tests::flaky ... FAILED

    failures:

    failures:
        tests::flaky

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.12s

  stderr ───

    thread 'tests::flaky' (18870) panicked at src/lib.rs:9:103:
    first time fails
    stack backtrace:
    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.

        LEAK [   0.212s] (3/4) nx tests::leaks
"#;

    const NEXTEST_ABORTED_TEST: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.02s
────────────
 Nextest run ID 064dfeca-e744-4418-82f3-38175560e78a with nextest profile: default
    Starting 4 tests across 2 binaries
        PASS [   0.015s] (1/4) crash tests::a_ok
     SIGABRT [   0.021s] (2/4) crash tests::b_aborts
  stdout ───

    running 1 test

    (test aborted with signal 6: SIGABRT)

        PASS [   0.016s] (3/4) crash tests::c_ok
        PASS [   0.012s] (4/4) crash::after after_ok
────────────
     Summary [   0.033s] 4 tests run: 3 passed, 1 failed, 0 skipped
     SIGABRT [   0.021s] (2/4) crash tests::b_aborts
error: test run failed
"#;

    const PYTEST_MIXED: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/mixed
collected 7 items

test_mixed.py ...FssE                                                    [100%]

==================================== ERRORS ====================================
______________________ ERROR at setup of test_uses_broken ______________________

    @pytest.fixture
    def broken():
>       raise RuntimeError("fixture exploded")
E       RuntimeError: fixture exploded

test_mixed.py:25: RuntimeError
=================================== FAILURES ===================================
___________________________________ test_bad ___________________________________

    def test_bad():
>       assert 1 + 1 == 3
E       assert (1 + 1) == 3

test_mixed.py:13: AssertionError
=========================== short test summary info ============================
FAILED test_mixed.py::test_bad - assert (1 + 1) == 3
ERROR test_mixed.py::test_uses_broken - RuntimeError: fixture exploded
=============== 1 failed, 3 passed, 2 skipped, 1 error in 0.07s ================
"#;

    const PYTEST_MIXED_QUIET: &str = r#"...FssE                                                                  [100%]
==================================== ERRORS ====================================
______________________ ERROR at setup of test_uses_broken ______________________

    @pytest.fixture
    def broken():
>       raise RuntimeError("fixture exploded")
E       RuntimeError: fixture exploded

test_mixed.py:25: RuntimeError
=================================== FAILURES ===================================
___________________________________ test_bad ___________________________________

    def test_bad():
>       assert 1 + 1 == 3
E       assert (1 + 1) == 3

test_mixed.py:13: AssertionError
=========================== short test summary info ============================
FAILED test_mixed.py::test_bad - assert (1 + 1) == 3
ERROR test_mixed.py::test_uses_broken - RuntimeError: fixture exploded
1 failed, 3 passed, 2 skipped, 1 error in 0.05s
"#;

    const PYTEST_PASSING: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/pass
collected 5 items

test_pass.py .....                                                       [100%]

============================== 5 passed in 0.01s ===============================
"#;

    const PYTEST_PASSING_QUIET: &str = r#".....                                                                    [100%]
5 passed in 0.01s
"#;

    const PYTEST_NO_TESTS: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/empty
collected 0 items

============================ no tests ran in 0.01s =============================
"#;

    const PYTEST_NO_TESTS_QUIET: &str = r#"
no tests ran in 0.00s
"#;

    const PYTEST_COLLECTION_ERRORS: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/errs
collected 0 items / 2 errors

==================================== ERRORS ====================================
________________________ ERROR collecting test_imp1.py _________________________
ImportError while importing test module '/tmp/pyt/errs/test_imp1.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
test_imp1.py:1: in <module>
    import does_not_exist_module
E   ModuleNotFoundError: No module named 'does_not_exist_module'
________________________ ERROR collecting test_imp2.py _________________________
/root/.local/lib/python3.11/site-packages/_pytest/python.py:528: in importtestmodule
    mod = import_path(
/root/.local/lib/python3.11/site-packages/_pytest/pathlib.py:640: in import_path
    importlib.import_module(module_name)
/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
<frozen importlib._bootstrap>:1204: in _gcd_import
    ???
<frozen importlib._bootstrap>:1176: in _find_and_load
    ???
<frozen importlib._bootstrap>:1147: in _find_and_load_unlocked
    ???
<frozen importlib._bootstrap>:690: in _load_unlocked
    ???
/root/.local/lib/python3.11/site-packages/_pytest/assertion/rewrite.py:176: in exec_module
    source_hash, co = _rewrite_test(fn, self.config)
                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
/root/.local/lib/python3.11/site-packages/_pytest/assertion/rewrite.py:339: in _rewrite_test
    tree = ast.parse(source, filename=strfn)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
/root/.pyenv/versions/3.11.7/lib/python3.11/ast.py:50: in parse
    return compile(source, filename, mode, flags,
E     File "/tmp/pyt/errs/test_imp2.py", line 1
E       def test_y(:
E                  ^
E   SyntaxError: invalid syntax
=========================== short test summary info ============================
ERROR test_imp1.py
ERROR test_imp2.py
!!!!!!!!!!!!!!!!!!! Interrupted: 2 errors during collection !!!!!!!!!!!!!!!!!!!!
============================== 2 errors in 0.37s ===============================
"#;

    const PYTEST_XFAIL_XPASS: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/xf
collected 3 items

test_xf.py xX.                                                           [100%]

=================== 1 passed, 1 xfailed, 1 xpassed in 0.03s ====================
"#;

    const PYTEST_WARNING: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/warn
collected 3 items

test_warn.py ...                                                         [100%]

=============================== warnings summary ===============================
test_warn.py::test_w
  /tmp/pyt/warn/test_warn.py:3: UserWarning: careful
    warnings.warn("careful", UserWarning)

-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html
========================= 3 passed, 1 warning in 0.01s =========================
"#;

    const PYTEST_DESELECTED: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/sel
collected 3 items / 1 deselected / 2 selected

test_sel.py .s                                                           [100%]

================== 1 passed, 1 skipped, 1 deselected in 0.01s ==================
"#;

    const PYTEST_OVER_A_MINUTE: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/long
collected 2 items

test_long.py ..                                                          [100%]

========================= 2 passed in 61.01s (0:01:01) =========================
"#;

    const PYTEST_CUT_SHORT: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/slow
collected 4 items

test_slow.py .F"#;

    const PYTEST_CUT_SHORT_EVERY_OUTCOME: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/slow2
collected 8 items

test_slow2.py .xXsEF"#;

    const PYTEST_CUT_SHORT_QUIET: &str = r#".xXsEF"#;

    const PYTEST_CUT_SHORT_VERBOSE_EVERY_OUTCOME: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0 -- /root/.pyenv/versions/3.11.7/bin/python3
rootdir: /tmp/pyt/slow2
collecting ... collected 8 items

test_slow2.py::test_a PASSED                                             [ 12%]
test_slow2.py::test_b XFAIL (known)                                      [ 25%]
test_slow2.py::test_c XPASS (fixed)                                      [ 37%]
test_slow2.py::test_d SKIPPED (later)                                    [ 50%]
test_slow2.py::test_e ERROR                                              [ 62%]
test_slow2.py::test_f FAILED                                             [ 75%]
test_slow2.py::test_g "#;

    const PYTEST_CUT_SHORT_VERBOSE: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0 -- /root/.pyenv/versions/3.11.7/bin/python3
rootdir: /tmp/pyt/slow
collecting ... collected 4 items

test_slow.py::test_a PASSED                                              [ 25%]
test_slow.py::test_b FAILED                                              [ 50%]
test_slow.py::test_c "#;

    const PYTEST_INTERRUPTED: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/slow
collected 4 items

test_slow.py .F

=================================== FAILURES ===================================
____________________________________ test_b ____________________________________

>   def test_b(): assert False
                  ^^^^^^^^^^^^
E   assert False

test_slow.py:3: AssertionError
=========================== short test summary info ============================
FAILED test_slow.py::test_b - assert False
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!! KeyboardInterrupt !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
/tmp/pyt/slow/test_slow.py:4: KeyboardInterrupt
(to show a full traceback on KeyboardInterrupt use --full-trace)
========================= 1 failed, 1 passed in 3.86s ==========================
"#;

    const PYTEST_CONFTEST_ERROR: &str = r#"ImportError while loading conftest '/tmp/pyt/conf/conftest.py'.
conftest.py:1: in <module>
    import nope_missing
E   ModuleNotFoundError: No module named 'nope_missing'
"#;

    const PYTEST_PATH_NOT_FOUND: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /tmp/pyt/pass
collected 0 items

============================ no tests ran in 0.00s =============================
ERROR: file or directory not found: nosuchdir

"#;

    const VITEST: &str = r#"
 RUN  v4.1.12 /tmp/vt

 ❯ a.test.js (5 tests | 1 failed | 1 skipped) 13ms
   ✓ one 2ms
   ✓ two 0ms
   ✓ three 0ms
   × bad 8ms
   ↓ later
 ✓ b.test.js (1 test) 4ms

⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯

 FAIL  a.test.js > bad
AssertionError: expected 1 to be 2 // Object.is equality

- Expected
+ Received

- 2
+ 1

 ❯ a.test.js:5:31
      3| test('two', () => { expect(2).toBe(2) })
      4| test('three', () => { expect(3).toBe(3) })
      5| test('bad', () => { expect(1).toBe(2) })
       |                               ^
      6| test.skip('later', () => {})
      7|

⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯[1/1]⎯


 Test Files  1 failed | 1 passed (2)
      Tests  1 failed | 4 passed | 1 skipped (6)
   Start at  19:51:22
   Duration  624ms (transform 31ms, setup 0ms, import 60ms, tests 17ms, environment 0ms)

"#;

    const JUNIT_PYTEST_MIXED: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="7" time="0.071" timestamp="2026-11-23T19:50:21.191102+00:00" hostname="vm"><testcase classname="test_mixed" name="test_ok" time="0.001" /><testcase classname="test_mixed" name="test_ok2" time="0.001" /><testcase classname="test_mixed" name="test_ok3" time="0.000" /><testcase classname="test_mixed" name="test_bad" time="0.001"><failure message="assert (1 + 1) == 3">def test_bad():
&gt;       assert 1 + 1 == 3
E       assert (1 + 1) == 3

test_mixed.py:13: AssertionError</failure></testcase><testcase classname="test_mixed" name="test_skipped" time="0.000"><skipped type="pytest.skip" message="not now">/tmp/pyt/mixed/test_mixed.py:15: not now</skipped></testcase><testcase classname="test_mixed" name="test_skipped2" time="0.000"><skipped type="pytest.skip" message="never">/tmp/pyt/mixed/test_mixed.py:19: never</skipped></testcase><testcase classname="test_mixed" name="test_uses_broken" time="0.000"><error message="failed on setup with &quot;RuntimeError: fixture exploded&quot;">@pytest.fixture
    def broken():
&gt;       raise RuntimeError("fixture exploded")
E       RuntimeError: fixture exploded

test_mixed.py:25: RuntimeError</error></testcase></testsuite></testsuites>"#;

    const JUNIT_PYTEST_XFAIL: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3" time="0.084" timestamp="2026-11-23T19:50:21.798785+00:00" hostname="vm"><testcase classname="test_xf" name="test_known_bug" time="0.001"><skipped type="pytest.xfail" message="known bug" /></testcase><testcase classname="test_xf" name="test_fixed" time="0.001" /><testcase classname="test_xf" name="test_plain" time="0.000" /></testsuite></testsuites>"#;

    const JUNIT_PYTEST_COLLECTION_ERRORS: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="2" failures="0" skipped="0" tests="2" time="0.321" timestamp="2026-11-23T19:50:22.425699+00:00" hostname="vm"><testcase classname="" name="test_imp1" time="0.000"><error message="collection failure">ImportError while importing test module '/tmp/pyt/errs/test_imp1.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
test_imp1.py:1: in &lt;module&gt;
    import does_not_exist_module
E   ModuleNotFoundError: No module named 'does_not_exist_module'</error></testcase><testcase classname="" name="test_imp2" time="0.000"><error message="collection failure">/root/.local/lib/python3.11/site-packages/_pytest/python.py:528: in importtestmodule
    mod = import_path(
/root/.local/lib/python3.11/site-packages/_pytest/pathlib.py:640: in import_path
    importlib.import_module(module_name)
/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
&lt;frozen importlib._bootstrap&gt;:1204: in _gcd_import
    ???
&lt;frozen importlib._bootstrap&gt;:1176: in _find_and_load
    ???
&lt;frozen importlib._bootstrap&gt;:1147: in _find_and_load_unlocked
    ???
&lt;frozen importlib._bootstrap&gt;:690: in _load_unlocked
    ???
/root/.local/lib/python3.11/site-packages/_pytest/assertion/rewrite.py:176: in exec_module
    source_hash, co = _rewrite_test(fn, self.config)
                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
/root/.local/lib/python3.11/site-packages/_pytest/assertion/rewrite.py:339: in _rewrite_test
    tree = ast.parse(source, filename=strfn)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
/root/.pyenv/versions/3.11.7/lib/python3.11/ast.py:50: in parse
    return compile(source, filename, mode, flags,
E     File "/tmp/pyt/errs/test_imp2.py", line 1
E       def test_y(:
E                  ^
E   SyntaxError: invalid syntax</error></testcase></testsuite></testsuites>"#;

    const JUNIT_PYTEST_NO_TESTS: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="0" time="0.018" timestamp="2026-11-23T19:50:23.150784+00:00" hostname="vm" /></testsuites>"#;

    const JUNIT_NEXTEST_RETRIES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" skipped="0" failures="1" errors="0" uuid="90458fb5-bc4d-4767-9ad5-5b4d0c9a355c" timestamp="2026-11-23T19:51:40.815+00:00" time="4.026">
    <testsuite name="nx" tests="4" skipped="0" errors="0" failures="1">
        <testcase name="tests::fast" classname="nx" timestamp="2026-11-23T19:51:40.817+00:00" time="0.011"/>
        <testcase name="tests::flaky" classname="nx" timestamp="2026-11-23T19:51:40.989+00:00" time="0.006">
            <flakyFailure timestamp="2026-11-23T19:51:40.815+00:00" time="0.172" message="thread &apos;tests::flaky&apos; (21380) panicked at src/lib.rs:9:103" type="test failure with exit code 101">thread &apos;tests::flaky&apos; (21380) panicked at src/lib.rs:9:103:
first time fails
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
                <system-out>
running 1 test
test tests::flaky ... FAILED

failures:

failures:
    tests::flaky

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.16s

</system-out>
                <system-err>
thread &apos;tests::flaky&apos; (21380) panicked at src/lib.rs:9:103:
first time fails
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
</system-err>
            </flakyFailure>
        </testcase>
        <testcase name="tests::leaks" classname="nx" timestamp="2026-11-23T19:51:40.995+00:00" time="0.208"/>
        <testcase name="tests::hangs" classname="nx" timestamp="2026-11-23T19:51:40.828+00:00" time="2.007">
            <failure type="test timeout"/>
            <rerunFailure timestamp="2026-11-23T19:51:42.836+00:00" time="2.004" type="test timeout">
                <system-out>
running 1 test
</system-out>
                <system-err></system-err>
            </rerunFailure>
            <system-out>
running 1 test
</system-out>
            <system-err></system-err>
        </testcase>
    </testsuite>
</testsuites>
"#;

    const JUNIT_NEXTEST_WORKSPACE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="6" skipped="0" failures="1" errors="0" uuid="cb5530f7-e579-44a9-9756-5514938217fd" timestamp="2026-11-23T19:51:45.053+00:00" time="0.288">
    <testsuite name="alpha" tests="2" skipped="0" errors="0" failures="0">
        <testcase name="tests::two" classname="alpha" timestamp="2026-11-23T19:51:45.054+00:00" time="0.014"/>
        <testcase name="tests::also_two" classname="alpha" timestamp="2026-11-23T19:51:45.054+00:00" time="0.017"/>
    </testsuite>
    <testsuite name="alpha::it" tests="2" skipped="0" errors="0" failures="1">
        <testcase name="integration" classname="alpha::it" timestamp="2026-11-23T19:51:45.068+00:00" time="0.016"/>
        <testcase name="integration_bad" classname="alpha::it" timestamp="2026-11-23T19:51:45.071+00:00" time="0.144">
            <failure message="thread &apos;integration_bad&apos; (21433) panicked at alpha/tests/it.rs:3:32" type="test failure with exit code 101">thread &apos;integration_bad&apos; (21433) panicked at alpha/tests/it.rs:3:32:
assertion `left == right` failed
  left: 2
 right: 3
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.</failure>
            <rerunFailure timestamp="2026-11-23T19:51:45.218+00:00" time="0.123" message="thread &apos;integration_bad&apos; (21439) panicked at alpha/tests/it.rs:3:32" type="test failure with exit code 101">thread &apos;integration_bad&apos; (21439) panicked at alpha/tests/it.rs:3:32:
assertion `left == right` failed
  left: 2
 right: 3
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
                <system-out>
running 1 test
test integration_bad ... FAILED

failures:

failures:
    integration_bad

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.11s

</system-out>
                <system-err>
thread &apos;integration_bad&apos; (21439) panicked at alpha/tests/it.rs:3:32:
assertion `left == right` failed
  left: 2
 right: 3
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
</system-err>
            </rerunFailure>
            <system-out>
running 1 test
test integration_bad ... FAILED

failures:

failures:
    integration_bad

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.13s

</system-out>
            <system-err>
thread &apos;integration_bad&apos; (21433) panicked at alpha/tests/it.rs:3:32:
assertion `left == right` failed
  left: 2
 right: 3
stack backtrace:
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
</system-err>
        </testcase>
    </testsuite>
    <testsuite name="beta" tests="2" skipped="0" errors="0" failures="0">
        <testcase name="tests::filtered_me" classname="beta" timestamp="2026-11-23T19:51:45.084+00:00" time="0.020"/>
        <testcase name="tests::yes" classname="beta" timestamp="2026-11-23T19:51:45.104+00:00" time="0.016"/>
    </testsuite>
</testsuites>
"#;
}
