//! A run's build output on its page (`/releases/runs/{id}`), streamed while it builds.
//!
//! The build reports its newest output lines as `bootstrap.build_output` events (each a tail
//! of the log, sent when the tail changed; `att_release::build`); the run page is a live
//! region that re-renders on every `bootstrap.*` event, so each new tail shows as it comes.
//! Here the newest [`EVENTS`] tails are read back and joined into one text by [`merge`]:
//! a tail that overlaps the text so far adds only its new lines. Lines written faster than
//! the build reports them may be missing between two tails (the full output is in the
//! build's log file, `builds/<target>.log` under the data directory). At most [`LINES`]
//! lines are shown, the newest.

use att_runtime::events::EventQuery;
use maud::{Markup, html};

use crate::http::AppState;

/// Build-output events read per render.
pub const EVENTS: u32 = 200;
/// Lines shown at most (the newest).
pub const LINES: usize = 500;

/// `tails` (each a run of consecutive output lines, oldest tail first) as one text: each
/// tail adds the lines after its longest overlap with the end of the text so far.
pub fn merge<S: AsRef<str>>(tails: &[Vec<S>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tail in tails {
        let tail: Vec<&str> = tail.iter().map(AsRef::as_ref).collect();
        let overlap = (0..=tail.len().min(out.len()))
            .rev()
            .find(|&k| {
                out[out.len() - k..]
                    .iter()
                    .map(String::as_str)
                    .eq(tail[..k].iter().copied())
            })
            .unwrap_or(0);
        out.extend(tail[overlap..].iter().map(|l| (*l).to_owned()));
    }
    let skip = out.len().saturating_sub(LINES);
    out.split_off(skip)
}

/// The build output of run `id` so far (empty when it has none, or the log failed).
pub async fn lines(state: &AppState, id: &str) -> Vec<String> {
    let query = EventQuery {
        kind: Some("bootstrap.build_output".into()),
        correlation_id: Some(id.to_owned()),
        limit: EVENTS,
        ..EventQuery::default()
    };
    let Ok(mut events) = state.events.query(query).await else {
        return Vec::new();
    };
    events.sort_by_key(|e| e.id);
    let tails: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            e.data["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    merge(&tails)
}

/// The panel (nothing when the run has not built).
pub fn panel(lines: &[String], running: bool) -> Markup {
    if lines.is_empty() {
        return html! {};
    }
    html! {
        section.panel aria-labelledby="build-h" {
            h2 #build-h { "Build output" @if running { " " span.muted { "(live)" } } }
            pre #build-output .logs { @for l in lines { (l) "\n" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_tails_join_into_the_output() {
        let cases: [(Vec<Vec<&str>>, Vec<&str>); 6] = [
            (vec![], vec![]),
            (vec![vec!["a", "b"]], vec!["a", "b"]),
            // Sliding tails of a growing log.
            (
                vec![
                    vec!["a", "b", "c"],
                    vec!["b", "c", "d"],
                    vec!["c", "d", "e"],
                ],
                vec!["a", "b", "c", "d", "e"],
            ),
            // A tail that did not change adds nothing.
            (vec![vec!["a", "b"], vec!["a", "b"]], vec!["a", "b"]),
            // Lines lost between two reports: the next tail follows on.
            (
                vec![vec!["a", "b"], vec!["x", "y"]],
                vec!["a", "b", "x", "y"],
            ),
            // The longest overlap wins over a shorter one.
            (
                vec![vec!["x", "x"], vec!["x", "x", "y"]],
                vec!["x", "x", "y"],
            ),
        ];
        for (tails, expected) in cases {
            assert_eq!(merge(&tails), expected, "{tails:?}");
        }
    }

    #[test]
    fn only_the_newest_lines_are_kept() {
        let tails: Vec<Vec<String>> = (0..LINES + 10).map(|i| vec![format!("l{i}")]).collect();
        let out = merge(&tails);
        assert_eq!(out.len(), LINES);
        assert_eq!(out[0], "l10");
    }
}
