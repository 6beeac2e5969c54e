//! Calls in flight against a maximum: a call enters if fewer than `max` are in flight and
//! leaves when it ends. A call over the maximum is refused at once, not queued: the caller
//! holds the request and decides whether to retry (the answer says when).

/// The count of a principal's calls in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight(u32);

impl InFlight {
    /// Enters a call if fewer than `max` are in flight (`None`: no maximum).
    pub fn enter(&mut self, max: Option<u32>) -> bool {
        if max.is_some_and(|m| self.0 >= m) {
            return false;
        }
        self.0 = self.0.saturating_add(1);
        true
    }

    /// A call ended.
    pub fn leave(&mut self) {
        self.0 = self.0.saturating_sub(1);
    }

    /// Calls in flight.
    pub fn count(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Enter(bool),
        Leave,
    }

    #[test]
    fn calls_enter_up_to_the_maximum_and_a_leave_frees_one_place() {
        use Step::{Enter, Leave};
        // (max, steps, calls in flight at the end)
        type Row = (Option<u32>, &'static [Step], u32);
        #[rustfmt::skip]
        let rows: &[Row] = &[
            (Some(1), &[Enter(true), Enter(false), Leave, Enter(true)], 1),
            (Some(2), &[Enter(true), Enter(true), Enter(false), Enter(false)], 2),
            (Some(2), &[Enter(true), Leave, Leave, Enter(true), Enter(true), Enter(false)], 2),
            (None, &[Enter(true), Enter(true), Enter(true)], 3),
            (Some(3), &[Leave, Enter(true)], 1),
        ];
        for (max, steps, end) in rows {
            let mut f = InFlight::default();
            for (i, step) in steps.iter().enumerate() {
                match step {
                    Enter(want) => assert_eq!(f.enter(*max), *want, "{max:?} {steps:?} step {i}"),
                    Leave => f.leave(),
                }
            }
            assert_eq!(f.count(), *end, "{max:?} {steps:?}");
        }
    }
}
