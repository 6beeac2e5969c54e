//! `pytest` (plain, `-v` or `-q`): the `N passed, N failed ... in Xs` summary line, read back
//! as [`Counts`].
//!
//! [`parse_pytest`] reads the last summary line ([`pytest_summary`]). Without one (the run was
//! killed), it counts what was printed so far: the progress characters
//! (`test_mixed.py ...FssE`, [`pytest_progress`]) or the `-v` per-test lines
//! (`test_slow.py::test_a PASSED`, [`pytest_verbose`]). A session that failed to start (a
//! broken `conftest.py`, a usage error, an internal error) is 1 error.

use super::{Counts, bump, count_and_label, round_ms, screen_lines, seconds};

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
pub(super) fn parse_pytest(output: &str) -> Counts {
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

#[cfg(test)]
pub(super) mod tests {
    //! `pytest` outputs with the exact counts expected from each (how they were captured:
    //! `parse::testing`).

    use crate::parse::testing::{Row, check, found, no_tests, timed};
    use crate::parse::{Counts, Runner};

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

    /// Captured with colours on (escape codes written as `\x1b`).
    const PYTEST_COLOURED_QUIET: &str = concat!(
        "\x1b[33mx\x1b[0m\x1b[33mX\x1b[0m\x1b[32m.\x1b[0m\x1b[33m                                                                      [100%]\x1b[0m\n",
        "\x1b[33m\x1b[32m1 passed\x1b[0m, \x1b[33m\x1b[1m1 xfailed\x1b[0m, \x1b[33m\x1b[1m1 xpassed\x1b[0m\x1b[33m in 0.03s\x1b[0m\x1b[0m\n",
    );

    pub(crate) const PYTEST_MIXED: &str = r#"============================= test session starts ==============================
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
}
