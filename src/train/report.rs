//! What a run shows and leaves behind besides checkpoints (upstream `util/visualizer.py`): the
//! options (`opt.json`), the loss log (`loss_log.csv`), the test-split scores of `--eval-freq`
//! (`metrics.csv`), progress on the terminal, sample grids under `web/`, and `web/index.html`
//! showing them with the loss and score plots ([`plot`]).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use super::TrainConfig;
use super::model::{Losses, ModelSpec, SampleRows, Trainee};
use super::networks::NamedNetworks;
use super::plot;
use super::quality::Columns;
use super::seed;
use super::state::Position;
use crate::atomic_write::write_atomic;
use crate::data::{ImageTensor, Loader};
use crate::model::Params;
use crate::tensors::unstack;

const LOG_FILE: &str = "loss_log.csv";
const METRICS_FILE: &str = "metrics.csv";
/// One colour per loss, in the model's loss order (the first eight of matplotlib's tab10).
const COLORS: [[u8; 3]; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
];

/// The run's outputs besides checkpoints.
pub struct Report {
    dir: PathBuf,
    quiet: bool,
    /// Bars and notes are for people; logs (stderr not a terminal) get upstream's printed lines.
    interactive: bool,
    log: File,
    /// The logged losses' names: the model's, or the seed's five with `--recipe seed`.
    names: &'static [&'static str],
    legend: &'static str,
    /// `--recipe seed`: the seed's log line and sample grids.
    seed: bool,
    /// For the seed's line: its epoch and batch counts.
    batches_per_epoch: usize,
    last_epoch: usize,
    history: Vec<(u64, Vec<f64>)>,
    samples: Vec<(String, String)>,
    /// `--eval-freq`'s scores.
    quality: Option<QualityLog>,
}

/// `metrics.csv` and its rows: (epoch, iteration, the scores in [`Columns`] order).
struct QualityLog {
    file: File,
    columns: Columns,
    rows: Vec<(usize, u64, Vec<f64>)>,
}

impl QualityLog {
    /// As the loss log: a fresh run starts the file anew, a resumed one keeps the rows up to
    /// the resumed iteration.
    fn open(path: &Path, columns: Columns, position: Position, fresh: bool) -> io::Result<Self> {
        let header = format!("epoch,total_iters,steps,{}\n", columns.names.join(","));
        let (file, kept) = reopen_log(path, &header, position, fresh, |fields| {
            let epoch: usize = fields.first()?.parse().ok()?;
            let values: Vec<f64> = fields
                .iter()
                .skip(3)
                .filter_map(|s| s.parse().ok())
                .collect();
            (values.len() == columns.names.len()).then_some((epoch, values))
        })?;
        let rows = kept
            .into_iter()
            .map(|(steps, (epoch, values))| (epoch, steps, values))
            .collect();
        Ok(Self {
            file,
            columns,
            rows,
        })
    }
}

impl Report {
    /// Opens the run's report files. A fresh run starts them anew; a resumed one keeps the log
    /// rows up to the resumed iteration, dropping those logged after the state was saved.
    pub fn open(
        dir: &Path,
        config: &TrainConfig,
        position: Position,
        fresh: bool,
        batches_per_epoch: usize,
    ) -> io::Result<Self> {
        fs::create_dir_all(dir.join("web").join("images"))?;
        let json = serde_json::to_string_pretty(config).map_err(io::Error::other)?;
        write_atomic(&dir.join("opt.json"), json.as_bytes())?;
        let names = config.spec.loss_names();
        let seed = config.spec.seed_loss().is_some();
        let (log, history) = reopen_log(
            &dir.join(LOG_FILE),
            &header(names),
            position,
            fresh,
            |fields| {
                let losses: Vec<f64> = fields
                    .iter()
                    .skip(5)
                    .filter_map(|s| s.parse().ok())
                    .collect();
                (losses.len() == names.len()).then_some(losses)
            },
        )?;
        let mut samples = Vec::new();
        if !fresh && let Ok(entries) = fs::read_dir(dir.join("web").join("images")) {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            samples = names.into_iter().map(|n| (n.clone(), n)).collect();
        }
        let quality = match &config.quality {
            Some(_) => Some(QualityLog::open(
                &dir.join(METRICS_FILE),
                Columns::of(&config.spec),
                position,
                fresh,
            )?),
            None => None,
        };
        Ok(Self {
            quality,
            dir: dir.to_path_buf(),
            quiet: config.output.quiet,
            interactive: io::stderr().is_terminal(),
            log,
            names,
            legend: config.spec.sample_legend(),
            seed,
            batches_per_epoch,
            last_epoch: config.schedule.last_epoch(),
            history,
            samples,
        })
    }

    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    pub fn print_start(
        &self,
        config: &TrainConfig,
        loader: &Loader,
        nets: &mut Trainee,
        device: &Device,
        position: Position,
    ) {
        if self.quiet {
            return;
        }
        eprintln!(
            "cyclegan train --model {}: {}",
            config.spec.name(),
            self.dir.display()
        );
        eprintln!(
            "  data     {} A and {} B images ({} per epoch, batch {}), {} loader thread(s)",
            loader.dataset().paths_a().len(),
            loader.dataset().paths_b().len(),
            loader.len(),
            config.loader.batch_size,
            config.loader.num_threads
        );
        let mut params: Vec<f64> = Vec::new();
        for (_, mut net) in nets.named_mut() {
            params.push(net.num_params() as f64 / 1e6);
        }
        match &config.spec {
            ModelSpec::CycleGan { model: m, .. } => eprintln!(
                "  networks G_A/G_B {} ({:.3} M params each); D_A/D_B {} ({:.3} M)",
                m.g_a.describe(),
                params[0],
                m.d_a.describe(),
                params[2]
            ),
            ModelSpec::Pix2Pix { pix2pix: m } => eprintln!(
                "  networks G {} ({:.3} M params); D {} ({:.3} M)",
                m.g.describe(),
                params[0],
                m.d.describe(),
                params[1]
            ),
        }
        match config.engine {
            None => eprintln!(
                "  device   {device:?}, {} compute thread(s)",
                rayon::current_num_threads()
            ),
            Some(kind) => eprintln!(
                "  device   {kind} (its record on {device:?}), {} CPU thread(s)",
                rayon::current_num_threads()
            ),
        }
        eprintln!(
            "  schedule epochs {}..={} ({:?}, lr {}), starting at epoch {} batch {} (iteration {})",
            config.schedule.epoch_count,
            config.schedule.last_epoch(),
            config.schedule.policy,
            config.schedule.lr,
            position.epoch,
            position.next_batch,
            position.steps
        );
    }

    /// A progress bar for one epoch with it/s, ETA and the current losses.
    pub fn epoch_bar(&self, epoch: usize, last: usize, len: usize, done: usize) -> ProgressBar {
        if self.quiet || !self.interactive {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64).with_style(
            ProgressStyle::with_template(
                "epoch {prefix} {bar:30} {pos}/{len} {per_sec} eta {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("{epoch}/{last}"));
        bar.set_position(done as u64);
        bar
    }

    /// Appends a row to the loss log (and prints upstream's line when not on a terminal).
    pub fn log(&mut self, p: Position, lr: f64, seconds: f64, losses: &Losses) -> io::Result<()> {
        let mut row = format!(
            "{},{},{},{lr:e},{seconds:.4}",
            p.epoch, p.total_iters, p.steps
        );
        let values = losses.values.clone();
        for v in &values {
            let _ = write!(row, ",{v:.6}");
        }
        writeln!(self.log, "{row}")?;
        self.log.flush()?;
        if self.seed && !self.quiet && !self.interactive {
            // The seed's line, with its 0-based epoch and batch and its ETA (this iteration's
            // time for each one left).
            let batches = self.batches_per_epoch;
            let left = (self.last_epoch.saturating_sub(p.epoch) * batches
                + batches.saturating_sub(p.next_batch)) as f64;
            let figures: [f64; 5] = values.clone().try_into().unwrap_or([f64::NAN; 5]);
            eprintln!(
                "{}",
                seed::log_line(
                    p.epoch.saturating_sub(1),
                    self.last_epoch,
                    p.next_batch.saturating_sub(1),
                    batches,
                    &figures,
                    seconds * left
                )
            );
        }
        self.history.push((p.steps, values));
        if self.seed {
            return Ok(());
        }
        if !self.quiet && !self.interactive {
            eprintln!(
                "(epoch: {}, iters: {}, time: {seconds:.3}) {}",
                p.epoch,
                p.total_iters,
                self.short_losses(losses)
            );
        }
        Ok(())
    }

    /// Saves the sample grid of an iteration and refreshes the web page.
    pub fn samples(&mut self, p: Position, SampleRows(rows): SampleRows) -> io::Result<()> {
        let name = format!("epoch{:03}_iter{:08}.png", p.epoch, p.steps);
        let first = |t: burn::tensor::Tensor<4>| unstack(t.narrow(0, 0, 1)).remove(0);
        let tiles: Vec<Vec<Option<ImageTensor>>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|t| t.map(first)).collect())
            .collect();
        let grid = grid(&tiles);
        let path = self.dir.join("web").join("images").join(&name);
        crate::data::save_png(&path, &grid).map_err(io::Error::other)?;
        self.samples
            .push((name, format!("epoch {}, iteration {}", p.epoch, p.steps)));
        self.write_web()
    }

    /// Whether `metrics.csv` has the scores of `epoch`.
    pub fn has_quality(&self, epoch: usize) -> bool {
        self.quality
            .as_ref()
            .is_some_and(|q| q.rows.iter().any(|r| r.0 == epoch))
    }

    /// Records the test-split scores measured after `epoch` (at `p`), prints them and
    /// refreshes the page.
    pub fn quality(
        &mut self,
        epoch: usize,
        p: Position,
        values: &[f64],
        images: usize,
        seconds: f64,
    ) -> io::Result<()> {
        let Some(q) = &mut self.quality else {
            return Ok(());
        };
        let mut row = format!("{epoch},{},{}", p.total_iters, p.steps);
        for v in values {
            // Shortest round-trip form: the file holds the exact scores.
            let _ = write!(row, ",{v}");
        }
        writeln!(q.file, "{row}")?;
        q.file.flush()?;
        q.rows.push((epoch, p.steps, values.to_vec()));
        if !self.quiet {
            let scores: Vec<String> = q
                .columns
                .names
                .iter()
                .zip(values)
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect();
            eprintln!(
                "(epoch: {epoch}, iters: {}) test split, {images} image(s) in {seconds:.1} s: {}",
                p.total_iters,
                scores.join(" ")
            );
        }
        self.write_web()
    }

    /// Writes the loss curve and the page.
    pub fn finish(&mut self) -> io::Result<()> {
        self.write_web()
    }

    fn write_web(&self) -> io::Result<()> {
        let web = self.dir.join("web");
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cyclegan training</title>\n\
             <style>body{font-family:sans-serif;margin:2em} img{image-rendering:pixelated;max-width:100%}\
             svg.loss-plot,svg.metric-plot{max-width:100%;height:auto}\
             table.metrics td,table.metrics th{padding:2px 10px;text-align:right}</style>\n\
             </head><body>\n",
        );
        let _ = writeln!(html, "<h1>{}</h1>", escape(&self.dir.display().to_string()));
        if !self.history.is_empty() {
            html.push_str("<h2>Losses</h2>\n");
            html.push_str(&plot::loss_svg(&self.history, self.names, &COLORS));
        }
        if let Some(q) = self.quality.as_ref().filter(|q| !q.rows.is_empty()) {
            html.push_str(&quality_section(q));
        }
        if self.seed {
            // --recipe seed writes the seed's grids instead (train::seed::Samples).
            html.push_str("<h2>Samples</h2>\n<p>The seed's sample grids (rows real_A, fake_B, real_B, fake_A) are in <code>../images/</code>, one per <code>--sample_interval</code> batches.</p>\n");
        } else {
            let _ = writeln!(html, "<h2>Samples</h2>\n<p>{}</p>", escape(self.legend));
        }
        for (file, caption) in self.samples.iter().rev() {
            let _ = writeln!(
                html,
                "<figure><img src=\"images/{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                escape(file),
                escape(caption),
                escape(caption)
            );
        }
        html.push_str("</body></html>\n");
        write_atomic(&web.join("index.html"), html.as_bytes())
    }
}

/// The scores' plots (one per [`Columns`] plot, against the iteration) and their table.
fn quality_section(q: &QualityLog) -> String {
    let names = q.columns.names;
    let mut html = String::from("<h2>Test-split scores</h2>\n");
    for (i, (label, columns)) in q.columns.plots.iter().enumerate() {
        let history: Vec<(u64, Vec<f64>)> = q
            .rows
            .iter()
            .map(|(_, steps, v)| (*steps, columns.iter().map(|&c| v[c]).collect()))
            .collect();
        let series: Vec<&str> = columns.iter().map(|&c| names[c]).collect();
        let colors: Vec<[u8; 3]> = columns.iter().map(|&c| COLORS[c % COLORS.len()]).collect();
        let id = format!("metric-plot-{i}");
        let description = format!("{label} of the test split against iteration");
        let axes = plot::Axes {
            id: &id,
            class: "metric-plot",
            y_label: label,
            description: &description,
            smooth: false,
        };
        html.push_str(&plot::line_svg(&history, &series, &colors, &axes));
    }
    html.push_str("<table class=\"metrics\">\n<tr><th>epoch</th><th>iteration</th>");
    for n in names {
        let _ = write!(html, "<th>{}</th>", escape(n));
    }
    html.push_str("</tr>\n");
    for (epoch, steps, values) in &q.rows {
        let _ = write!(html, "<tr><td>{epoch}</td><td>{steps}</td>");
        for v in values {
            let _ = write!(html, "<td>{v:.4}</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// Reopens a CSV log for appending. A fresh run starts it anew with `header`; a resumed one
/// keeps the rows logged up to the resumed iteration (the `steps` column, the third) that
/// `parse` reads, dropping those logged after the state was saved. Returns the file and, for
/// each kept row, its iteration and what `parse` made of its fields.
fn reopen_log<R>(
    path: &Path,
    header: &str,
    position: Position,
    fresh: bool,
    parse: impl Fn(&[&str]) -> Option<R>,
) -> io::Result<(File, Vec<(u64, R)>)> {
    let mut kept = header.to_string();
    let mut rows = Vec::new();
    if !fresh && let Ok(file) = File::open(path) {
        for line in BufReader::new(file).lines().skip(1) {
            let line = line?;
            let fields: Vec<&str> = line.split(',').collect();
            let steps: Option<u64> = fields.get(2).and_then(|s| s.parse().ok());
            if let Some(steps) = steps
                && steps <= position.steps
                && let Some(row) = parse(&fields)
            {
                rows.push((steps, row));
                kept.push_str(&line);
                kept.push('\n');
            }
        }
    }
    write_atomic(path, kept.as_bytes())?;
    Ok((OpenOptions::new().append(true).open(path)?, rows))
}

fn header(names: &[&str]) -> String {
    let mut h = "epoch,total_iters,steps,lr,time_s".to_string();
    for n in names {
        h.push(',');
        h.push_str(n);
    }
    h.push('\n');
    h
}

impl Report {
    /// The logged losses, short enough for a progress bar.
    pub fn short_losses(&self, losses: &Losses) -> String {
        losses
            .names
            .iter()
            .zip(&losses.values)
            .map(|(n, v)| format!("{n} {v:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Lays out tiles (RGB or gray, [-1, 1]) in rows; a missing tile (identity off) stays mid-gray.
fn grid(rows: &[Vec<Option<ImageTensor>>]) -> ImageTensor {
    let tile = rows.iter().flatten().flatten().next();
    let (h, w) = tile.map_or((1, 1), |t| (t.height, t.width));
    let (n_rows, n_cols) = (rows.len(), rows.iter().map(Vec::len).max().unwrap_or(0));
    let (gh, gw) = (n_rows * h, n_cols * w);
    let mut data = vec![0.0f32; 3 * gh * gw];
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            let Some(t) = tile else { continue };
            for ch in 0..3 {
                let src = if t.channels == 1 { 0 } else { ch };
                for y in 0..h.min(t.height) {
                    for x in 0..w.min(t.width) {
                        data[(ch * gh + r * h + y) * gw + c * w + x] =
                            t.data[(src * t.height + y) * t.width + x];
                    }
                }
            }
        }
    }
    ImageTensor {
        channels: 3,
        height: gh,
        width: gw,
        data,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loss_has_its_own_colour() {
        for (i, a) in COLORS.iter().enumerate() {
            assert!(COLORS[i + 1..].iter().all(|b| a != b), "{a:?} twice");
        }
    }

    #[test]
    fn grid_places_tiles_and_gray_for_missing() {
        let tile = |v: f32, c: usize| ImageTensor {
            channels: c,
            height: 2,
            width: 2,
            data: vec![v; c * 4],
        };
        let g = grid(&[
            vec![Some(tile(1.0, 3)), None],
            vec![Some(tile(-1.0, 1)), Some(tile(0.5, 3))],
        ]);
        assert_eq!((g.channels, g.height, g.width), (3, 4, 4));
        let at = |ch: usize, y: usize, x: usize| g.data[(ch * 4 + y) * 4 + x];
        assert_eq!(at(0, 0, 0), 1.0);
        assert_eq!(at(2, 1, 3), 0.0); // missing tile: mid-gray
        assert_eq!(at(1, 3, 0), -1.0); // gray tile repeated on every channel
        assert_eq!(at(2, 3, 3), 0.5);
    }
}
