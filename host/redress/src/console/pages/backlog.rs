//! The backlog by age on the supervisor's board: the age buckets (0–7, 8–15, 16–30, 31–60,
//! over 60 days since received) and the bar chart drawn on the server as SVG, its words for
//! screen readers (`<title>`, `<desc>`) from the catalogue, its colours from CSS classes.

use jiff::Timestamp;

use crate::console::Texts;

/// The age buckets of the backlog, in days since the case was received (inclusive bounds).
pub(super) const BUCKETS: [(i64, Option<i64>); 5] = [
    (0, Some(7)),
    (8, Some(15)),
    (16, Some(30)),
    (31, Some(60)),
    (61, None),
];

/// The bucket of a case received `days` days ago.
pub(super) fn bucket(days: i64) -> usize {
    BUCKETS
        .iter()
        .position(|(from, to)| days >= *from && to.is_none_or(|to| days <= to))
        .unwrap_or(0)
}

pub(super) fn age_days(received: Timestamp, now: Timestamp) -> i64 {
    (now.as_second() - received.as_second()).max(0) / 86_400
}

#[derive(Debug, Clone)]
pub(super) struct Bar {
    pub(super) label: String,
    pub(super) count: usize,
    /// The bar's length in the chart's units, and where its count is written.
    pub(super) width: usize,
    pub(super) y: usize,
    pub(super) text_x: usize,
    pub(super) label_y: usize,
    pub(super) class: String,
}

#[derive(Debug, Clone)]
pub(super) struct Chart {
    pub(super) title: String,
    pub(super) desc: String,
    pub(super) height: usize,
    pub(super) bars: Vec<Bar>,
}

/// The chart: a bar per bucket, the longest 440 units wide.
pub(super) fn chart(t: Texts, counts: &[usize; 5], office: &str) -> Chart {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let (from, to) = BUCKETS[i];
            let label = match to {
                Some(to) => t.fill(
                    "board.age_range",
                    &[("from", &from.to_string()), ("to", &to.to_string())],
                ),
                None => t.fill("board.age_over", &[("from", &(from - 1).to_string())]),
            };
            let width = count * 440 / max;
            Bar {
                label,
                count,
                width,
                y: 10 + i * 36,
                text_x: 130 + width + 8,
                label_y: 10 + i * 36 + 19,
                class: format!("bar age-{i}"),
            }
        })
        .collect();
    let desc = bars
        .iter()
        .map(|bar| {
            t.fill(
                "board.chart_item",
                &[("label", &bar.label), ("count", &bar.count.to_string())],
            )
        })
        .collect::<Vec<_>>()
        .join(t.t("board.chart_sep"));
    Chart {
        title: t.fill("board.chart_title", &[("office", office)]),
        desc,
        height: 20 + bars.len() * 36,
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_in_their_buckets() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(7), 0);
        assert_eq!(bucket(8), 1);
        assert_eq!(bucket(15), 1);
        assert_eq!(bucket(16), 2);
        assert_eq!(bucket(30), 2);
        assert_eq!(bucket(31), 3);
        assert_eq!(bucket(60), 3);
        assert_eq!(bucket(61), 4);
        assert_eq!(bucket(4000), 4);
    }

    #[test]
    fn the_chart_says_in_words_what_it_draws() {
        let t = Texts::new(crate::console::Lang::En);
        let chart = chart(t, &[4, 2, 0, 1, 0], "xihu");
        assert_eq!(chart.bars.len(), 5);
        assert_eq!(chart.bars[0].width, 440);
        assert_eq!(chart.bars[1].width, 220);
        assert_eq!(chart.bars[2].width, 0);
        assert!(chart.title.contains("xihu"), "{}", chart.title);
        assert!(
            chart.desc.contains('4') && chart.desc.contains("60"),
            "{}",
            chart.desc
        );
        assert!(!chart.desc.contains("board."), "{}", chart.desc);
        let empty = super::chart(t, &[0; 5], "xihu");
        assert!(empty.bars.iter().all(|b| b.width == 0));
    }
}
