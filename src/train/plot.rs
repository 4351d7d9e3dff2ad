//! The training page's loss plot: an SVG of every loss against the iteration, with "nice"
//! ticks, a legend, and (once a run has logged more than a few dozen points) each curve
//! smoothed by an exponential moving average drawn over its faint raw values, since the
//! per-iteration GAN losses are too noisy to read trends from.

use std::fmt::Write as _;

/// Logged points from which the curves are smoothed: below this each point is worth seeing.
const SMOOTH_FROM: usize = 40;

/// The canvas and the plot area inside it (left, top, right, bottom), in SVG pixels; the
/// legend takes the right-hand strip.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 420.0;
const AREA: (f64, f64, f64, f64) = (70.0, 20.0, 770.0, 360.0);

/// Evenly spaced axis ticks: a step of 1, 2 or 5 × 10^k and the multiples of it that cover
/// the range.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticks {
    /// The step's leading digit (1, 2 or 5) and power of ten.
    pub mantissa: i64,
    pub exponent: i32,
    pub values: Vec<f64>,
}

impl Ticks {
    #[cfg(test)]
    fn step(&self) -> f64 {
        scaled(self.mantissa, self.exponent)
    }

    fn first(&self) -> f64 {
        self.values[0]
    }

    fn last(&self) -> f64 {
        self.values[self.values.len() - 1]
    }

    /// A tick's label, with as many decimals as the step has.
    pub fn label(&self, v: f64) -> String {
        let decimals = (-self.exponent).max(0) as usize;
        // + 0.0 turns a -0.0 into 0.0.
        format!("{:.*}", decimals, v + 0.0)
    }
}

/// `m × 10^e`, exactly rounded: dividing by an exact power of ten keeps 0.3 as the literal
/// 0.3 where multiplying 3 by 0.1 would not.
fn scaled(m: i64, e: i32) -> f64 {
    if e >= 0 {
        m as f64 * 10f64.powi(e)
    } else {
        m as f64 / 10f64.powi(-e)
    }
}

/// About `target` ticks covering `[lo, hi]` (the first at or below `lo`, the last at or
/// above `hi`), their step the smallest 1, 2 or 5 × 10^k of at least `(hi − lo) / target`
/// and `min_step`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Ticks {
    assert!(lo.is_finite() && hi.is_finite() && lo <= hi && target > 0);
    let raw = ((hi - lo) / target as f64).max(min_step);
    let (mantissa, exponent) = if raw > 0.0 {
        let mut e = raw.log10().floor() as i32;
        let f = raw / 10f64.powi(e);
        let m = match f {
            f if f <= 1.0 => 1,
            f if f <= 2.0 => 2,
            f if f <= 5.0 => 5,
            _ => {
                e += 1;
                1
            }
        };
        (m, e)
    } else {
        // A single value: ticks one apart around it.
        (1, 0)
    };
    let step = scaled(mantissa, exponent);
    let at = |i: i64| scaled(i * mantissa, exponent);
    // The divisions may land a hair off an integer: nudge, then make sure of the cover.
    let mut first = (lo / step + 1e-9).floor() as i64;
    if at(first) > lo {
        first -= 1;
    }
    let mut last = (hi / step - 1e-9).ceil() as i64;
    if at(last) < hi {
        last += 1;
    }
    if last == first {
        last += 1;
    }
    Ticks {
        mantissa,
        exponent,
        values: (first..=last).map(at).collect(),
    }
}

/// The exponential moving average of `values` with weight `alpha` for each new value,
/// starting from the first: `s += alpha · (v − s)`. Non-finite values are skipped (the
/// average carries on). Written as a step towards `v`, so a constant series stays exactly
/// itself and a rising one never falls.
pub fn ema(values: &[f64], alpha: f64) -> Vec<f64> {
    let mut s: Option<f64> = None;
    values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                s = Some(match s {
                    Some(s) => s + alpha * (v - s),
                    None => v,
                });
            }
            s.unwrap_or(f64::NAN)
        })
        .collect()
}

/// The average's span in logged points for a run of `n`: about a tenth of the run, so
/// the curves keep their shape at any length.
fn span(n: usize) -> usize {
    (n / 10).clamp(5, 200)
}

/// SVG path data through the points, a new subpath after each non-finite value.
fn path(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (x, y) in points {
        if !y.is_finite() {
            pen_down = false;
            continue;
        }
        let _ = write!(d, "{}{x:.1},{y:.1}", if pen_down { 'L' } else { 'M' });
        pen_down = true;
    }
    d
}

/// The loss plot of `history` (iteration, the losses in `names` order), loss `k` in
/// `colors[k]`.
pub fn loss_svg(history: &[(u64, Vec<f64>)], names: &[&str], colors: &[[u8; 3]]) -> String {
    line_svg(
        history,
        names,
        colors,
        &Axes {
            id: "loss-plot",
            class: "loss-plot",
            y_label: "loss",
            description: "training losses against iteration",
            smooth: true,
        },
    )
}

/// What tells one plot from another on the page.
pub struct Axes<'a> {
    /// Unique on the page (the clipping path's id is derived from it).
    pub id: &'a str,
    pub class: &'a str,
    pub y_label: &'a str,
    /// For screen readers (`aria-label`).
    pub description: &'a str,
    /// Long series get moving averages over faint raw values (noisy per-iteration losses);
    /// without it every point is drawn as it is.
    pub smooth: bool,
}

/// The plot of `history` (iteration, the values in `names` order) as an SVG element, series
/// `k` in `colors[k]` (the colours repeat past their count).
pub fn line_svg(
    history: &[(u64, Vec<f64>)],
    names: &[&str],
    colors: &[[u8; 3]],
    axes: &Axes<'_>,
) -> String {
    let colors: Vec<[u8; 3]> = (0..names.len())
        .map(|k| colors[k % colors.len().max(1)])
        .collect();
    let (left, top, right, bottom) = AREA;
    let n = history.len();
    let x_lo = history.first().map_or(0.0, |h| h.0 as f64);
    let x_hi = history.last().map_or(1.0, |h| h.0 as f64);
    let finite = || {
        history
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite())
    };
    // Losses and scores are mostly non-negative: the axis starts at zero unless a value is
    // below it.
    let y_lo = finite().fold(0.0, f64::min);
    let y_hi = finite().fold(y_lo, f64::max);
    let xt = nice_ticks(x_lo, x_hi.max(x_lo + 1.0), 8, 1.0);
    let yt = nice_ticks(y_lo, y_hi, 6, 0.0);
    let (x0, x1, y0, y1) = (xt.first(), xt.last(), yt.first(), yt.last());
    let px = |s: f64| left + (s - x0) / (x1 - x0) * (right - left);
    let py = |v: f64| bottom - (v - y0) / (y1 - y0) * (bottom - top);
    let rgb = |c: [u8; 3]| format!("rgb({},{},{})", c[0], c[1], c[2]);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{}\" class=\"{}\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" \
         font-size=\"12\" role=\"img\" aria-label=\"{}\">",
        axes.id, axes.class, axes.description
    );
    let _ = writeln!(
        svg,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n\
         <defs><clipPath id=\"{}-area\"><rect x=\"{left}\" y=\"{top}\" width=\"{}\" \
         height=\"{}\"/></clipPath></defs>",
        axes.id,
        right - left,
        bottom - top
    );
    // Grid lines and tick labels.
    for &v in &yt.values {
        let y = py(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 4.0,
            yt.label(v)
        );
    }
    for &v in &xt.values {
        let x = px(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            bottom + 16.0,
            xt.label(v)
        );
    }
    // Axes and their labels.
    let _ = writeln!(
        svg,
        "<path d=\"M{left},{top}V{bottom}H{right}\" fill=\"none\" stroke=\"black\"/>\n\
         <text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">iteration</text>\n\
         <text class=\"axis-label\" transform=\"translate(18 {}) rotate(-90)\" \
         text-anchor=\"middle\">{}</text>",
        (left + right) / 2.0,
        bottom + 40.0,
        (top + bottom) / 2.0,
        axes.y_label
    );
    // The curves: raw values faint under their averages on long runs, else lines and dots.
    let smooth = axes.smooth && n > SMOOTH_FROM;
    let alpha = 2.0 / (span(n) as f64 + 1.0);
    let _ = writeln!(
        svg,
        "<g clip-path=\"url(#{}-area)\" fill=\"none\">",
        axes.id
    );
    for (k, &c) in colors.iter().enumerate() {
        let values: Vec<f64> = history
            .iter()
            .map(|h| h.1.get(k).copied().unwrap_or(f64::NAN))
            .collect();
        let xs = history.iter().map(|h| px(h.0 as f64));
        let raw = path(xs.clone().zip(values.iter().map(|&v| py(v))));
        if smooth {
            let avg = path(xs.zip(ema(&values, alpha).into_iter().map(py)));
            let _ = writeln!(
                svg,
                "<path d=\"{raw}\" stroke=\"{0}\" stroke-opacity=\"0.2\" stroke-width=\"1\"/>\n\
                 <path d=\"{avg}\" stroke=\"{0}\" stroke-width=\"2\"/>",
                rgb(c)
            );
        } else {
            let _ = writeln!(
                svg,
                "<path d=\"{raw}\" stroke=\"{}\" stroke-width=\"1.5\"/>",
                rgb(c)
            );
            for (x, v) in history.iter().map(|h| px(h.0 as f64)).zip(&values) {
                if v.is_finite() {
                    let _ = writeln!(
                        svg,
                        "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"/>",
                        py(*v),
                        rgb(c)
                    );
                }
            }
        }
    }
    svg.push_str("</g>\n");
    // The legend, then what the lines are.
    let lx = right + 24.0;
    for (k, (name, &c)) in names.iter().zip(&colors).enumerate() {
        let y = top + 10.0 + 20.0 * k as f64;
        let _ = writeln!(
            svg,
            "<g class=\"legend-entry\"><line x1=\"{lx}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" \
             stroke=\"{}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{name}</text></g>",
            lx + 24.0,
            rgb(c),
            lx + 32.0,
            y + 4.0
        );
    }
    let caption: Vec<String> = if smooth {
        vec![
            "Bold: exponential moving".into(),
            format!("average over ~{} points", span(n)),
            format!("(α = 2/({} + 1) = {alpha:.3}).", span(n)),
            "Faint: each logged value.".into(),
        ]
    } else if axes.smooth {
        vec![
            "Each logged value, unsmoothed".into(),
            format!("(averaged from {} points on).", SMOOTH_FROM + 1),
        ]
    } else {
        vec!["Each measured value.".into()]
    };
    for (i, line) in caption.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text class=\"caption\" x=\"{lx}\" y=\"{}\" fill=\"#555\">{line}</text>",
            top + 190.0 + 16.0 * i as f64
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 8] = [
        "D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B",
    ];
    const COLORS: [[u8; 3]; 8] = [
        [0; 3], [1; 3], [2; 3], [3; 3], [4; 3], [5; 3], [6; 3], [7; 3],
    ];

    /// The expected ticks, worked out by hand: the step is the first of 1, 2, 5 × 10^k at or
    /// above (hi − lo) / target (and the minimum step), the ticks its multiples from the one
    /// at or below lo to the one at or above hi.
    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        let cases: &[(f64, f64, usize, f64, &[f64])] = &[
            // 1/5 = 0.2.
            (0.0, 1.0, 5, 0.0, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
            // 7.3/5 = 1.46 → 2.
            (0.0, 7.3, 5, 0.0, &[0.0, 2.0, 4.0, 6.0, 8.0]),
            // 2.55/5 = 0.51 → 1; 0.25 rounds down to 0, 2.8 up to 3.
            (0.25, 2.8, 5, 0.0, &[0.0, 1.0, 2.0, 3.0]),
            // 999/8 = 124.9 → 200.
            (
                1.0,
                1000.0,
                8,
                1.0,
                &[0.0, 200.0, 400.0, 600.0, 800.0, 1000.0],
            ),
            // 6/6 = 1: exactly a nice step.
            (-3.0, 3.0, 6, 0.0, &[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]),
            // 0.0035/4 = 0.000875 → 0.001.
            (0.0012, 0.0047, 4, 0.0, &[0.001, 0.002, 0.003, 0.004, 0.005]),
            // 2/8 = 0.25 → 0.5, but iterations step by at least 1.
            (1.0, 3.0, 8, 1.0, &[1.0, 2.0, 3.0]),
            // 0.3/3 = 0.1 with 0.3 exactly on a tick.
            (0.3, 0.6, 3, 0.0, &[0.3, 0.4, 0.5, 0.6]),
            // 45000/5 = 9000 → 10000.
            (
                5000.0,
                50000.0,
                5,
                1.0,
                &[0.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0],
            ),
        ];
        for &(lo, hi, target, min_step, want) in cases {
            let t = nice_ticks(lo, hi, target, min_step);
            assert_eq!(t.values, want, "[{lo}, {hi}] in {target}");
            assert!([1, 2, 5].contains(&t.mantissa));
            assert!(t.values[0] <= lo && *t.values.last().unwrap() >= hi);
            for v in &t.values {
                let steps = v / t.step();
                assert!((steps - steps.round()).abs() < 1e-9, "{v} on the step");
            }
        }
        // A single value gets ticks around it.
        let t = nice_ticks(2.0, 2.0, 5, 0.0);
        assert!(t.values.len() >= 2 && t.values[0] <= 2.0 && *t.values.last().unwrap() >= 2.0);
    }

    #[test]
    fn tick_labels_have_the_steps_decimals() {
        let t = nice_ticks(0.0, 1.0, 5, 0.0);
        assert_eq!(t.label(0.6000000000000001), "0.6");
        assert_eq!(t.label(-0.0), "0.0");
        let t = nice_ticks(0.0, 1000.0, 5, 1.0);
        assert_eq!(t.label(400.0), "400");
    }

    #[test]
    fn smoothing_keeps_a_constant_and_a_step_monotone() {
        for c in [0.1, 0.7, 3.0, 1e-3] {
            let values = vec![c; 100];
            for alpha in [0.05, 2.0 / 11.0, 0.5] {
                assert!(ema(&values, alpha).iter().all(|&s| s == c), "{c}, {alpha}");
            }
        }
        let step: Vec<f64> = (0..120).map(|i| if i < 60 { 0.4 } else { 2.5 }).collect();
        let s = ema(&step, 2.0 / 7.0);
        assert!(s.windows(2).all(|w| w[0] <= w[1]), "monotone");
        assert_eq!(s[59], 0.4);
        assert!(s[60] > 0.4 && s[119] <= 2.5 && s[119] > 2.49);
        // Falling too, and gaps carried over.
        let down: Vec<f64> = (0..50).map(|i| if i < 10 { 5.0 } else { 1.0 }).collect();
        assert!(ema(&down, 0.1).windows(2).all(|w| w[0] >= w[1]));
        let gap = ema(&[1.0, f64::NAN, 1.0], 0.5);
        assert_eq!(gap, [1.0, 1.0, 1.0]);
    }

    fn history(n: u64) -> Vec<(u64, Vec<f64>)> {
        (1..=n)
            .map(|i| {
                (
                    i * 10,
                    (0..8).map(|k| k as f64 * 0.3 + 1.0 / i as f64).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn svg_has_axis_labels_and_a_legend_entry_per_loss() {
        for n in [1, 12, 300] {
            let svg = loss_svg(&history(n), &NAMES, &COLORS);
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains(">iteration</text>") && svg.contains(">loss</text>"));
            // One entry per loss, in order, each with its name and its colour.
            let entries: Vec<&str> = svg
                .split("<g class=\"legend-entry\">")
                .skip(1)
                .map(|e| &e[..e.find("</g>").unwrap()])
                .collect();
            assert_eq!(entries.len(), 8);
            for ((entry, name), c) in entries.iter().zip(NAMES).zip(COLORS) {
                assert!(entry.ends_with(&format!(">{name}</text>")), "{entry}");
                assert!(entry.contains(&format!("stroke=\"rgb({},{},{})\"", c[0], c[1], c[2])));
            }
            let smoothed = svg.contains("exponential moving");
            assert_eq!(smoothed, n as usize > SMOOTH_FROM, "{n} points");
        }
    }

    #[test]
    fn unsmoothed_plots_draw_every_point_under_their_own_label_and_clip() {
        let axes = Axes {
            id: "metric-plot-0",
            class: "metric-plot",
            y_label: "FID",
            description: "FID against iteration",
            smooth: false,
        };
        let h = history(300);
        let svg = line_svg(&h, &NAMES[..2], &COLORS, &axes);
        assert_eq!(svg.matches("<circle").count(), 2 * 300);
        assert!(!svg.contains("exponential moving"));
        assert!(svg.contains(">FID</text>") && !svg.contains(">loss</text>"));
        assert!(svg.contains("<clipPath id=\"metric-plot-0-area\">"));
        assert!(svg.contains("clip-path=\"url(#metric-plot-0-area)\""));
        assert!(!loss_svg(&h, &NAMES, &COLORS).contains("metric-plot-0-area"));
    }

    #[test]
    fn svg_survives_non_finite_losses() {
        let mut h = history(5);
        h[2].1[3] = f64::NAN;
        h[3].1[0] = f64::INFINITY;
        let svg = loss_svg(&h, &NAMES, &COLORS);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
