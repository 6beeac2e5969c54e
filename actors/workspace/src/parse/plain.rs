//! Any other runner: the last line saying `N passed` and/or `N failed`, read back as
//! [`Counts`].
//!
//! [`parse_plain`] reads each line word by word: a number followed by `passed`, `failed` or
//! `skipped` (in any case) is a count. The last line with a `passed` or `failed` count wins;
//! a line with only `N skipped` is no summary.

use super::{Counts, bump, screen_lines};

/// Any runner: the last line with `N passed` and/or `N failed` (`N skipped` read from the
/// same line), e.g. `Tests: 3 passed, 1 failed` or vitest's `Tests  1 failed | 4 passed`.
pub(super) fn parse_plain(output: &str) -> Counts {
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

#[cfg(test)]
mod tests {
    //! vitest's output, and cargo's and pytest's read as plain text, with the exact counts
    //! expected from each (how they were captured: `parse::testing`).

    use crate::parse::cargo::tests::CARGO_WORKSPACE;
    use crate::parse::pytest::tests::PYTEST_MIXED;
    use crate::parse::testing::{Row, check, found};
    use crate::parse::{Counts, Runner};

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
}
