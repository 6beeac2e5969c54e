//! `cargo nextest run`: a status line per test, then one `Summary [...]` line, read back as
//! [`Counts`].
//!
//! [`parse_nextest`] reads the last `Summary [...]` line ([`nextest_summary`]). Without one
//! (the run was killed), it counts the final per-test status lines ([`nextest_status`]:
//! `PASS [   0.017s] (1/3) mixed tests::adds`, retries and notices left out) plus the
//! `Starting` line's skipped count. `error: no tests to run` or `Starting 0 tests` is a run
//! that collected nothing; a build failure before any test is 1 error.

use super::{
    Counts, Verdict, bump, count_and_label, is_build_error, round_ms, screen_lines, seconds,
};

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
pub(super) fn parse_nextest(output: &str) -> Counts {
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

#[cfg(test)]
mod tests {
    //! `cargo nextest run` outputs with the exact counts expected from each (how they were
    //! captured: `parse::testing`).

    use crate::parse::testing::{Row, check, found, no_tests, timed};
    use crate::parse::{Counts, Runner};

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
}
