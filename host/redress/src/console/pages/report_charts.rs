//! The report page's two charts, drawn on the server as SVG (no script): cases received per
//! week stacked by sector, and clocks met on time against clocks breached per month. Their
//! words for screen readers (`<title>`, `<desc>`) come from the catalogue, their colours from
//! CSS classes; the page's tables say the same numbers in full.

use crate::console::Texts;

/// The plot's bottom edge and height, in the charts' units.
const BASE: usize = 240;
const PLOT: usize = 210;

#[derive(Debug, Clone)]
pub(super) struct Rect {
    pub(super) x: usize,
    pub(super) y: usize,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) class: String,
}

#[derive(Debug, Clone)]
pub(super) struct Label {
    pub(super) x: usize,
    pub(super) y: usize,
    pub(super) text: String,
}

#[derive(Debug, Clone)]
pub(super) struct Svg {
    pub(super) title: String,
    pub(super) desc: String,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) rects: Vec<Rect>,
    /// Under each column.
    pub(super) axis: Vec<Label>,
    /// Above each bar or stack: its count.
    pub(super) counts: Vec<Label>,
    /// The key: a swatch and a name per series.
    pub(super) legend: Vec<(Rect, Label)>,
}

fn scaled(count: usize, max: usize) -> usize {
    count * PLOT / max.max(1)
}

fn legend(names: &[(String, String)], y: usize) -> Vec<(Rect, Label)> {
    names
        .iter()
        .enumerate()
        .map(|(i, (name, class))| {
            let x = 40 + i * 120;
            (
                Rect {
                    x,
                    y,
                    width: 14,
                    height: 14,
                    class: class.clone(),
                },
                Label {
                    x: x + 20,
                    y: y + 12,
                    text: name.clone(),
                },
            )
        })
        .collect()
}

/// Weekly volumes: one column per week (`weeks`: its label and its count per series),
/// stacked by series (`series`: name and CSS class).
pub(super) fn stacked(
    title: String,
    desc: String,
    weeks: &[(String, Vec<usize>)],
    series: &[(String, String)],
) -> Svg {
    let max = weeks
        .iter()
        .map(|(_, counts)| counts.iter().sum::<usize>())
        .max()
        .unwrap_or(0);
    let slot = 580 / weeks.len().max(1);
    let mut rects = Vec::new();
    let mut axis = Vec::new();
    let mut counts = Vec::new();
    for (i, (label, values)) in weeks.iter().enumerate() {
        let x = 40 + i * slot + slot / 8;
        let width = slot * 3 / 4;
        let mut top = BASE;
        for (s, &value) in values.iter().enumerate() {
            let height = scaled(value, max);
            if height == 0 {
                continue;
            }
            top -= height;
            rects.push(Rect {
                x,
                y: top,
                width,
                height,
                class: series.get(s).map_or_else(String::new, |(_, c)| c.clone()),
            });
        }
        axis.push(Label {
            x: x + width / 2,
            y: BASE + 18,
            text: label.clone(),
        });
        counts.push(Label {
            x: x + width / 2,
            y: top.saturating_sub(4),
            text: values.iter().sum::<usize>().to_string(),
        });
    }
    Svg {
        title,
        desc,
        width: 640,
        height: BASE + 60,
        rects,
        axis,
        counts,
        legend: legend(series, BASE + 34),
    }
}

/// Per month, two bars side by side: met on time and breached.
pub(super) fn paired(
    t: Texts,
    title: String,
    desc: String,
    months: &[(String, usize, usize)],
) -> Svg {
    let max = months
        .iter()
        .map(|(_, met, breached)| (*met).max(*breached))
        .max()
        .unwrap_or(0);
    let slot = 580 / months.len().max(1);
    let mut rects = Vec::new();
    let mut axis = Vec::new();
    let mut counts = Vec::new();
    for (i, (label, met, breached)) in months.iter().enumerate() {
        let x = 40 + i * slot + slot / 8;
        let width = slot * 3 / 8;
        for (j, (value, class)) in [(*met, "bar met"), (*breached, "bar breached")]
            .into_iter()
            .enumerate()
        {
            let height = scaled(value, max);
            let bar_x = x + j * width;
            rects.push(Rect {
                x: bar_x,
                y: BASE - height,
                width: width.saturating_sub(2),
                height,
                class: class.to_owned(),
            });
            counts.push(Label {
                x: bar_x + width / 2,
                y: (BASE - height).saturating_sub(4),
                text: value.to_string(),
            });
        }
        axis.push(Label {
            x: x + width,
            y: BASE + 18,
            text: label.clone(),
        });
    }
    let series = [
        (t.t("reports.met").to_owned(), "bar met".to_owned()),
        (
            t.t("reports.breached").to_owned(),
            "bar breached".to_owned(),
        ),
    ];
    Svg {
        title,
        desc,
        width: 640,
        height: BASE + 60,
        rects,
        axis,
        counts,
        legend: legend(&series, BASE + 34),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_tallest_and_stacks_sum_up() {
        let series = vec![
            ("a".to_owned(), "bar sector-0".to_owned()),
            ("b".to_owned(), "bar sector-1".to_owned()),
        ];
        let svg = stacked(
            "t".into(),
            "d".into(),
            &[("w1".into(), vec![2, 2]), ("w2".into(), vec![1, 0])],
            &series,
        );
        assert_eq!(svg.rects.len(), 3, "an empty segment is not drawn");
        assert_eq!(svg.rects[0].height + svg.rects[1].height, PLOT);
        assert_eq!(svg.rects[2].height, PLOT / 4);
        assert_eq!(svg.counts[0].text, "4");
        let t = Texts::new(crate::console::Lang::En);
        let paired = paired(t, "t".into(), "d".into(), &[("m".into(), 3, 1)]);
        assert_eq!(paired.rects[0].height, PLOT);
        assert_eq!(paired.rects[1].height, PLOT / 3);
        assert_eq!(paired.legend.len(), 2);
        assert!(!paired.legend[0].1.text.starts_with("reports."));
    }
}
