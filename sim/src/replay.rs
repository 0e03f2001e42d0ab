//! Replaying a run: where two traces of what should be the same run part ways.
//!
//! One seed must give one trace, byte for byte. When a replay's trace hash differs from the
//! original's, [`first_difference`] finds the first event (line of the text form) where the
//! two traces differ, with a few common lines before it for context; its `Display` is what
//! `exorun-sim replay` and `exorun-sim corpus check` print. Pure: it compares text only.

use std::fmt;

/// How many common events [`first_difference`] keeps before the one that differs.
pub const CONTEXT_LINES: usize = 5;

/// The first event where two traces differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The index of the first differing event (0-based, as `report::failure` numbers them).
    pub index: usize,
    /// Up to [`CONTEXT_LINES`] events both traces share just before `index`, oldest first.
    pub context: Vec<String>,
    /// The original's event at `index`; `None` if the original ends there.
    pub original: Option<String>,
    /// The replay's event at `index`; `None` if the replay ends there.
    pub replay: Option<String>,
}

/// The first event (line) where `original` and `replay` differ, or `None` if the texts are
/// the same line for line. A trace that stops early differs where it stops.
pub fn first_difference(original: &str, replay: &str) -> Option<Difference> {
    let mut left = original.lines();
    let mut right = replay.lines();
    let mut context: Vec<&str> = Vec::with_capacity(CONTEXT_LINES + 1);
    let mut index = 0;
    loop {
        let (a, b) = (left.next(), right.next());
        if a.is_none() && b.is_none() {
            return None;
        }
        if a != b {
            return Some(Difference {
                index,
                context: context.iter().map(|line| (*line).to_owned()).collect(),
                original: a.map(str::to_owned),
                replay: b.map(str::to_owned),
            });
        }
        if let Some(line) = a {
            if context.len() == CONTEXT_LINES {
                context.remove(0);
            }
            context.push(line);
        }
        index += 1;
    }
}

/// The difference as a terminal shows it: the shared events before it, then the two
/// diverging events, marked `-` (original) and `+` (replay), each with its index.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the traces differ first at event {}:", self.index)?;
        let first = self.index - self.context.len();
        for (i, line) in self.context.iter().enumerate() {
            writeln!(f, "     {:>6} {line}", first + i)?;
        }
        let end = "(the trace ends here)";
        let original = self.original.as_deref().unwrap_or(end);
        let replay = self.replay.as_deref().unwrap_or(end);
        writeln!(f, "  -  {:>6} {original}", self.index)?;
        writeln!(f, "  +  {:>6} {replay}", self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::Range<usize>) -> String {
        range.map(|i| format!("event {i}\n")).collect()
    }

    /// The one helper every case goes through: `(index, context, original, replay)`.
    fn check(original: &str, replay: &str, expected: Option<(usize, &[&str], &str, &str)>) {
        let found = first_difference(original, replay);
        let expected = expected.map(|(index, context, a, b)| Difference {
            index,
            context: context.iter().map(|line| (*line).to_owned()).collect(),
            original: Some(a.to_owned()).filter(|a| !a.is_empty()),
            replay: Some(b.to_owned()).filter(|b| !b.is_empty()),
        });
        assert_eq!(found, expected);
    }

    #[test]
    fn the_same_text_has_no_difference() {
        check("", "", None);
        check(&lines(0..20), &lines(0..20), None);
    }

    #[test]
    fn the_first_differing_line_is_found_with_its_context() {
        let original = lines(0..20);
        let replay = original.replace("event 12\n", "event twelve\n");
        let context = ["event 7", "event 8", "event 9", "event 10", "event 11"];
        check(
            &original,
            &replay,
            Some((12, &context, "event 12", "event twelve")),
        );
    }

    #[test]
    fn a_difference_at_the_start_has_no_context() {
        check("a\nb\n", "x\nb\n", Some((0, &[], "a", "x")));
    }

    #[test]
    fn a_trace_that_stops_early_differs_where_it_stops() {
        let context = ["event 0", "event 1", "event 2"];
        check(
            &lines(0..3),
            &lines(0..5),
            Some((3, &context[..], "", "event 3")),
        );
        check(
            &lines(0..5),
            &lines(0..3),
            Some((3, &context[..], "event 3", "")),
        );
        check("", "a\n", Some((0, &[], "", "a")));
    }

    #[test]
    fn only_the_first_difference_counts() {
        check("a\nb\nc\n", "a\nx\ny\n", Some((1, &["a"], "b", "x")));
    }

    #[test]
    fn the_display_marks_both_sides_with_their_index() {
        let original = lines(0..10);
        let replay = original.replace("event 8\n", "event eight\n");
        let shown = first_difference(&original, &replay)
            .map(|d| d.to_string())
            .unwrap_or_default();
        let expected = [
            "the traces differ first at event 8:",
            "          3 event 3",
            "          4 event 4",
            "          5 event 5",
            "          6 event 6",
            "          7 event 7",
            "  -       8 event 8",
            "  +       8 event eight",
            "",
        ]
        .join("\n");
        assert_eq!(shown, expected);
        let ended = first_difference("a\n", "a\nb\n")
            .map(|d| d.to_string())
            .unwrap_or_default();
        assert!(ended.contains("-       1 (the trace ends here)"), "{ended}");
    }
}
