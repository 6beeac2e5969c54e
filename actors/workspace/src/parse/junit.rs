//! JUnit XML reports (pytest's `--junit-xml`, nextest's JUnit output, Ant / Maven Surefire
//! style nested suites), read back as [`Counts`].
//!
//! [`parse_junit`] scans the document tag by tag, without an XML parser: every `<testcase>` in
//! every (possibly nested) `<testsuite>` counts once, by the `<failure>`, `<error>` or
//! `<skipped>` it holds ([`OpenCase::count_into`]). Comments, CDATA sections, declarations and
//! quoted attribute values holding `>` are stepped over; a document cut short is counted as
//! far as it goes.

use super::{Counts, bump, round_ms};

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
    //! JUnit XML reports with the exact counts expected from each (how they were captured:
    //! `parse::testing`).

    use super::parse_junit;
    use crate::parse::testing::{Row, check, no_tests, timed};
    use crate::parse::{Counts, Runner};

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

    // ---- Written by hand ---------------------------------------------------------------------

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
