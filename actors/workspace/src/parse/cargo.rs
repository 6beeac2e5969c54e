//! `cargo test`: libtest's human output, read back as [`Counts`].
//!
//! cargo runs one test binary after another (unit tests, each integration test, the doc
//! tests). Each prints `running N tests`, a `test name ... ok` / `FAILED` / `ignored` line per
//! test, then its `test result:` line. [`parse_cargo_test`] sums the `test result:` lines, and
//! counts a binary that never printed one from its per-test lines ([`OpenBinary`]).

use super::{
    Counts, Verdict, bump, count_and_label, is_build_error, round_ms, screen_lines, seconds,
};

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
pub(super) fn parse_cargo_test(output: &str) -> Counts {
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

#[cfg(test)]
pub(super) mod tests {
    //! `cargo test` outputs with the exact counts expected from each (how they were captured:
    //! `parse::testing`).

    use crate::parse::testing::{Row, check, found, no_tests, timed};
    use crate::parse::{Counts, Runner};

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

    pub(crate) const CARGO_WORKSPACE: &str = r#"   Compiling alpha v0.1.0 (/tmp/cap/ws/alpha)
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
}
