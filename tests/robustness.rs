//! Real-world use: nothing lost to bad input or a crash (issue 5, items 1, 2, 4, 5 and 6).
//!
//! - Bad files among real ones: training skips exactly the unreadable ones (corrupt,
//!   truncated, empty, text, decompression bomb), uses the odd-but-good ones (CMYK JPEG, 16-bit,
//!   palette, grayscale, RGBA, tiny) and says how many it skipped; `translate` writes every
//!   good image at its size and exits 1.
//! - `kill -9` at seeded random moments of a run saving every iteration: the folder always holds
//!   a loadable latest checkpoint, and `--continue-train` ends bit-identical to a run never
//!   killed (and changes nothing when the run it resumes had already finished).
//! - A loss that turns NaN/Inf stops the run, naming the iteration, and keeps the last good
//!   checkpoint (finite, and from the iteration before).
//! - An unwritable checkpoint folder is an error at start; no temporary file of the atomic
//!   writes is ever left by a run that ends (well or not).
//! - CLI misuse exits 2 with one `error:` line that names the fix (crops too small for the
//!   networks included: they used to panic inside a layer).
//!
//! Everything runs the built binary on small copies of `samples/maps` (copies live in
//! temporary folders only) with small networks, so the file takes seconds per test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::{SMALL_RUN, assert_success, bomb_png, copy_images, cyclegan, read_tensors};
use cyclegan::checkpoint::safetensors_io::read_safetensors;
use cyclegan::data::image_io::{DEFAULT_MAX_PIXELS, decode_rgb8};

const NETS: [&str; 4] = ["G_A", "G_B", "D_A", "D_B"];

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `cyclegan train --dataroot D --name N --checkpoints-dir C <SMALL_RUN> <extra>`.
fn train_args(data: &Path, checkpoints: &Path, name: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "train",
        "--dataroot",
        &s(data),
        "--name",
        name,
        "--checkpoints-dir",
        &s(checkpoints),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    v.extend(SMALL_RUN.iter().map(|a| a.to_string()));
    v.extend(extra.iter().map(|a| a.to_string()));
    v
}

fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cyclegan(&args)
}

/// trainA/ and trainB/ with `n` real images each.
fn tiny_dataset(root: &Path, n: usize) -> PathBuf {
    let data = root.join("data");
    copy_images("trainA", &data.join("trainA"), n);
    copy_images("trainB", &data.join("trainB"), n);
    data
}

/// Every file under `dir` whose name has the atomic writes' `.tmp` marker.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(temporaries(&p));
        } else if p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
        {
            out.push(p);
        }
    }
    out
}

fn assert_no_temporaries(dir: &Path) {
    let left = temporaries(dir);
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// 1. Bad files among good ones.
// ---------------------------------------------------------------------------------------------

fn encoded(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), format)
        .expect("encode");
    out
}

/// A training folder of real images salted with unreadable files and with odd-but-good ones.
struct Salted {
    bad: Vec<PathBuf>,
    odd: Vec<PathBuf>,
    real: Vec<PathBuf>,
}

/// Names sort bad (`00_`) < odd (`05_`) < real (digits ≥ 1) < bad in B (`zz_`).
fn salt_a(dir: &Path) -> Salted {
    let real = copy_images("trainA", dir, 4);
    let jpeg = std::fs::read(&real[0]).expect("read");
    let photo = image::open(&real[1]).expect("a real image").resize_exact(
        48,
        40,
        image::imageops::FilterType::Triangle,
    );
    let mut corrupt = jpeg.clone();
    // Past the start-of-image marker, the marker structure is scrambled.
    for b in corrupt.iter_mut().skip(2).take(600) {
        *b ^= 0x5a;
    }
    let png = encoded(photo.clone(), image::ImageFormat::Png);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("00_corrupt.jpg", corrupt),
        ("00_truncated.png", png[..png.len() / 2].to_vec()),
        ("00_zero_bytes.jpg", Vec::new()),
        (
            "00_not_an_image.jpg",
            b"this is a text file, not a JPEG\n".to_vec(),
        ),
        ("00_bomb.png", bomb_png(30000, 30000)),
    ];
    let rgba = {
        let mut px = photo.to_rgba8();
        for (x, _, p) in px.enumerate_pixels_mut() {
            p.0[3] = (x * 5) as u8;
        }
        image::DynamicImage::ImageRgba8(px)
    };
    let odd: Vec<(&str, Vec<u8>)> = vec![
        // Made by PIL: a real CMYK (Adobe) JPEG, and a 4-bit palette PNG of 6×4 pixels.
        (
            "05_cmyk.jpg",
            std::fs::read(common_repo("tests/fixtures/pillow/conv_cmyk.jpg")).expect("fixture"),
        ),
        (
            "05_palette.png",
            std::fs::read(common_repo("tests/fixtures/pillow/conv_palette.png")).expect("fixture"),
        ),
        (
            "05_rgb16.png",
            encoded(
                image::DynamicImage::ImageRgb16(photo.to_rgb16()),
                image::ImageFormat::Png,
            ),
        ),
        (
            "05_gray.jpg",
            encoded(
                image::DynamicImage::ImageLuma8(photo.to_luma8()),
                image::ImageFormat::Jpeg,
            ),
        ),
        ("05_rgba.png", encoded(rgba, image::ImageFormat::Png)),
    ];
    let write = |files: Vec<(&str, Vec<u8>)>| -> Vec<PathBuf> {
        files
            .into_iter()
            .map(|(name, bytes)| {
                let p = dir.join(name);
                std::fs::write(&p, bytes).expect("write");
                p
            })
            .collect()
    };
    let salted = Salted {
        bad: write(bad),
        odd: write(odd),
        real,
    };
    // The premise, checked with the decoder itself: the bad ones fail, the odd ones decode.
    for p in &salted.bad {
        let bytes = std::fs::read(p).expect("read");
        assert!(
            decode_rgb8(&bytes, p, DEFAULT_MAX_PIXELS).is_err(),
            "{} decodes",
            p.display()
        );
    }
    for p in &salted.odd {
        let bytes = std::fs::read(p).expect("read");
        decode_rgb8(&bytes, p, DEFAULT_MAX_PIXELS).unwrap_or_else(|e| panic!("{e}"));
    }
    salted
}

fn common_repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

/// The `N` of the summary line `skipped N unreadable image file(s)`, if printed.
fn skipped_count(err: &str) -> Option<usize> {
    let at = err.find("skipped ")?;
    let rest = &err[at + 8..];
    let n = rest.split(' ').next()?.parse().ok()?;
    rest.contains("unreadable image file(s)").then_some(n)
}

#[test]
fn training_skips_exactly_the_unreadable_files_and_uses_the_odd_ones() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let a = salt_a(&data.join("trainA"));
    copy_images("trainB", &data.join("trainB"), 4);
    let bad_b = [
        data.join("trainB/zz_zero_bytes.jpg"),
        data.join("trainB/zz_text.jpg"),
    ];
    std::fs::write(&bad_b[0], b"").expect("write");
    std::fs::write(&bad_b[1], b"GIF89a? no, just text\n").expect("write");
    let all_bad: Vec<PathBuf> = a.bad.iter().chain(&bad_b).cloned().collect();
    let checkpoints = tmp.path().join("checkpoints");

    // One whole epoch in file order visits every file of both folders (len = the larger
    // folder, B cycled), so every bad file is met and the count is exact.
    let out = run(&train_args(
        &data,
        &checkpoints,
        "epoch",
        &[
            "--serial-batches",
            "--n-epochs",
            "1",
            "--n-epochs-decay",
            "0",
        ],
    ));
    assert_success(&out);
    let err = stderr(&out);
    assert_eq!(skipped_count(&err), Some(all_bad.len()), "{err}");
    for p in &all_bad {
        assert!(
            err.contains(&file_name(p)),
            "{} not reported:\n{err}",
            p.display()
        );
    }
    for p in &a.odd {
        assert!(
            !err.contains(&file_name(p)),
            "{} was refused:\n{err}",
            p.display()
        );
    }
    assert_no_temporaries(&checkpoints);

    // The short run of the issue (shuffled, 3 steps): it meets some of the bad files; the
    // count it prints is the number of distinct files it warned about.
    let out = run(&train_args(
        &data,
        &checkpoints,
        "short",
        &["--max-steps", "3"],
    ));
    assert_success(&out);
    let err = stderr(&out);
    let warned = all_bad
        .iter()
        .filter(|p| err.contains(&file_name(p)))
        .count();
    assert_eq!(skipped_count(&err).unwrap_or(0), warned, "{err}");
    for p in &a.odd {
        assert!(
            !err.contains(&file_name(p)),
            "{} was refused:\n{err}",
            p.display()
        );
    }

    // A folder with nothing readable is an error, not an endless search.
    let only_bad = tmp.path().join("only_bad");
    copy_images("trainA", &only_bad.join("trainA"), 2);
    std::fs::create_dir_all(only_bad.join("trainB")).expect("mkdir");
    for p in &bad_b {
        std::fs::copy(p, only_bad.join("trainB").join(file_name(p))).expect("copy");
    }
    let out = run(&train_args(
        &only_bad,
        &checkpoints,
        "none",
        &["--max-steps", "3"],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let last = stderr(&out)
        .trim_end()
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    assert!(
        last.starts_with("error: ") && last.contains("trainB"),
        "{last}"
    );
}

#[test]
fn translate_writes_every_good_image_and_exits_1() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 2);
    let checkpoints = tmp.path().join("checkpoints");
    assert_success(&run(&train_args(
        &data,
        &checkpoints,
        "m",
        &["--max-steps", "1", "-q"],
    )));
    let salted_dir = tmp.path().join("salted");
    let salted = salt_a(&salted_dir);
    let out_dir = tmp.path().join("out");
    let out = cyclegan(&[
        "translate",
        &s(&salted_dir),
        "--weights",
        &s(&checkpoints.join("m/latest_net_G_A.safetensors")),
        "--out",
        &s(&out_dir),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let good: Vec<&PathBuf> = salted.odd.iter().chain(&salted.real).collect();
    let mut written: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("output folder")
        .map(|e| file_name(&e.expect("entry").path()))
        .collect();
    written.sort();
    let mut expected: Vec<String> = good
        .iter()
        .map(|p| format!("{}.png", p.file_stem().expect("stem").to_string_lossy()))
        .collect();
    expected.sort();
    assert_eq!(written, expected, "{err}");
    // Each output has its input's size, tiny ones (6×4) included.
    for p in good {
        let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
        let (w, h) = image::image_dimensions(out_dir.join(format!("{stem}.png"))).expect("png");
        let bytes = std::fs::read(p).expect("read");
        let input = decode_rgb8(&bytes, p, DEFAULT_MAX_PIXELS).expect("decodes");
        assert_eq!(
            (w as usize, h as usize),
            (input.width, input.height),
            "{stem}"
        );
    }
    for p in &salted.bad {
        assert!(
            err.contains(&file_name(p)),
            "{} not reported:\n{err}",
            p.display()
        );
    }
    assert!(
        err.contains(&format!("{} file(s) failed", salted.bad.len())),
        "{err}"
    );
    assert_no_temporaries(&out_dir);
}

// ---------------------------------------------------------------------------------------------
// 2. kill -9 at random moments.
// ---------------------------------------------------------------------------------------------

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cyclegan"))
        .args(args)
        .env("CYCLEGAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cyclegan starts")
}

fn wait_for(path: &Path, child: &mut Child, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        if child.try_wait().expect("try_wait").is_some() {
            return;
        }
        assert!(start.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Tensors of two files, equal bit for bit (NaN-safe, and -0.0 ≠ 0.0).
fn assert_same_tensors(a: &Path, b: &Path) {
    let (ta, tb) = (read_tensors(a), read_tensors(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{}",
        a.display()
    );
    for (k, x) in &ta {
        let y = &tb[k];
        assert_eq!(x.shape, y.shape, "{k}");
        let differing = x
            .data
            .iter()
            .zip(&y.data)
            .filter(|(p, q)| p.to_bits() != q.to_bits())
            .count();
        assert_eq!(
            differing,
            0,
            "{}: {k}: {differing} values differ",
            a.display()
        );
    }
}

#[test]
fn kill_9_at_random_moments_keeps_a_loadable_checkpoint_and_resumes_exactly() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 4);
    let checkpoints = tmp.path().join("checkpoints");
    let steps = "12";
    // Saving every iteration puts many writes in the way of the kills.
    let common_flags = [
        "--max-steps",
        steps,
        "--save-latest-freq",
        "1",
        "--seed",
        "5",
        "-q",
    ];

    let started = Instant::now();
    let reference = run(&train_args(&data, &checkpoints, "whole", &common_flags));
    assert_success(&reference);
    // Kills land within the first third of a whole run's time, whatever this machine's
    // speed, so several land before the end.
    let span_ms = (started.elapsed().as_millis() as u64 / 3).max(30);
    assert_no_temporaries(&checkpoints.join("whole"));

    let dir = checkpoints.join("killed");
    let state = dir.join("train_state.safetensors");
    let mut rng = ChaCha8Rng::seed_from_u64(0x6b696c6c);
    let mut kills = 0;
    let mut finished = false;
    for round in 0..8 {
        let resuming = state.exists();
        let mut flags = common_flags.to_vec();
        if resuming {
            flags.push("--continue-train");
        }
        let mut child = spawn(&train_args(&data, &checkpoints, "killed", &flags));
        if !resuming {
            // A fresh run has nothing to keep before its first save (at step 0); the clock
            // starts once that save is complete.
            wait_for(
                &dir.join("latest_net_D_B.safetensors"),
                &mut child,
                Duration::from_secs(120),
            );
        }
        let delay = Duration::from_millis(rng.gen_range(0..span_ms));
        std::thread::sleep(delay);
        let already = child.try_wait().expect("try_wait");
        // std's Child::kill is SIGKILL on Unix.
        child.kill().expect("kill");
        let status = child.wait().expect("wait");
        println!(
            "round {round}: {} run, killed after {} ms ({})",
            if resuming { "resumed" } else { "fresh" },
            delay.as_millis(),
            match already {
                Some(s) => format!("it had already exited: {s}"),
                None => "killed mid-run".into(),
            }
        );
        if let Some(s) = already {
            assert!(s.success(), "the run failed by itself: {s}");
            finished = true;
            break;
        }
        assert!(!status.success());
        kills += 1;
        // After every kill: a complete, loadable latest checkpoint and resume state.
        let info = cyclegan(&["info", &s(&dir.join("latest_net_G_A.safetensors"))]);
        assert_success(&info);
        for net in NETS {
            read_safetensors(&dir.join(format!("latest_net_{net}.safetensors")))
                .unwrap_or_else(|e| panic!("round {round}: {net}: {e}"));
        }
        read_safetensors(&state).unwrap_or_else(|e| panic!("round {round}: state: {e}"));
    }
    assert!(kills >= 3, "only {kills} kills landed mid-run");
    if !finished {
        let mut flags = common_flags.to_vec();
        flags.push("--continue-train");
        assert_success(&run(&train_args(&data, &checkpoints, "killed", &flags)));
    }
    // The resumed run ends where the whole one did, to the bit.
    for net in NETS {
        let name = format!("latest_net_{net}.safetensors");
        assert_same_tensors(&checkpoints.join("whole").join(&name), &dir.join(&name));
    }
    assert_same_tensors(&checkpoints.join("whole/train_state.safetensors"), &state);
    // Temporaries of the killed writes may remain (a SIGKILL cannot clean up); they never
    // carry a checkpoint's own name, so nothing reads them.
    for t in temporaries(&dir) {
        println!("left by a kill: {}", t.display());
        assert!(file_name(&t).contains(".tmp-"), "{}", t.display());
    }
}

/// A run killed after its last save is resumed at `--max-steps`: the resume has nothing left
/// to do and must leave the weights as they are (it used to train one step more).
#[test]
fn continuing_a_finished_run_changes_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 2);
    let checkpoints = tmp.path().join("checkpoints");
    let flags = ["--max-steps", "2", "-q"];
    assert_success(&run(&train_args(&data, &checkpoints, "done", &flags)));
    let dir = checkpoints.join("done");
    let before = tmp.path().join("before");
    std::fs::create_dir_all(&before).expect("mkdir");
    for net in NETS {
        let name = format!("latest_net_{net}.safetensors");
        std::fs::copy(dir.join(&name), before.join(&name)).expect("copy");
    }
    let mut again = flags.to_vec();
    again.push("--continue-train");
    assert_success(&run(&train_args(&data, &checkpoints, "done", &again)));
    assert_eq!(saved_steps(&dir.join("train_state.safetensors")), 2);
    for net in NETS {
        let name = format!("latest_net_{net}.safetensors");
        assert_same_tensors(&before.join(&name), &dir.join(&name));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. SIGTERM and SIGHUP stop a run as Ctrl-C does; a failed epoch save keeps the latest state.
// ---------------------------------------------------------------------------------------------

#[test]
fn sigterm_and_sighup_save_then_exit_and_the_run_resumes_exactly() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 4);
    let checkpoints = tmp.path().join("checkpoints");
    // Long enough that a signal sent right after the first save lands mid-run; the default
    // --save-latest-freq never saves within it, so only the signal's save can record progress.
    let steps = "30";
    let common_flags = ["--max-steps", steps, "--seed", "5", "-q"];
    assert_success(&run(&train_args(
        &data,
        &checkpoints,
        "whole",
        &common_flags,
    )));

    for (name, signal) in [("term", libc::SIGTERM), ("hup", libc::SIGHUP)] {
        let dir = checkpoints.join(name);
        let mut child = spawn(&train_args(&data, &checkpoints, name, &common_flags));
        wait_for(
            &dir.join("latest_net_D_B.safetensors"),
            &mut child,
            Duration::from_secs(120),
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "{name}: the run ended before the signal"
        );
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) with a live child's pid and a valid signal number touches no memory.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "{name}: kill");
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {:?}\n{err}", out.status);
        assert!(err.contains("interrupted: saving"), "{name}: {err}");
        let saved = saved_steps(&dir.join("train_state.safetensors"));
        assert!(
            (1..30).contains(&saved),
            "{name}: the state saved on the signal is at step {saved}"
        );
        assert_no_temporaries(&dir);

        let mut again = common_flags.to_vec();
        again.push("--continue-train");
        assert_success(&run(&train_args(&data, &checkpoints, name, &again)));
        for net in NETS {
            let file = format!("latest_net_{net}.safetensors");
            assert_same_tensors(&checkpoints.join("whole").join(&file), &dir.join(&file));
        }
    }
}

#[test]
fn a_failed_epoch_save_still_saves_the_latest_state_and_says_so() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 2);
    let checkpoints = tmp.path().join("checkpoints");
    let flags = [
        "--n-epochs",
        "1",
        "--n-epochs-decay",
        "1",
        "--save-epoch-freq",
        "1",
        "--seed",
        "5",
        "-q",
    ];
    assert_success(&run(&train_args(&data, &checkpoints, "whole", &flags)));

    // A folder where epoch 1's G_A file goes makes that one write fail, as a full disk would,
    // while the other files can still be written.
    let dir = checkpoints.join("blocked");
    let blocker = dir.join("1_net_G_A.safetensors");
    std::fs::create_dir_all(blocker.join("x")).expect("mkdir");
    let out = run(&train_args(&data, &checkpoints, "blocked", &flags));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("1_net_G_A.safetensors"), "{err}");
    assert!(
        err.contains("the latest model and training state (epoch 1 done, iteration 2) were saved"),
        "{err}"
    );
    assert!(err.contains("--continue-train"), "{err}");
    assert_eq!(saved_steps(&dir.join("train_state.safetensors")), 2);

    // With the space back, the resume writes epoch 1's files and ends as the whole run did.
    std::fs::remove_dir_all(&blocker).expect("rm");
    let mut again = flags.to_vec();
    again.push("--continue-train");
    assert_success(&run(&train_args(&data, &checkpoints, "blocked", &again)));
    assert!(blocker.is_file());
    for net in NETS {
        for file in [
            format!("latest_net_{net}.safetensors"),
            format!("1_net_{net}.safetensors"),
        ] {
            assert_same_tensors(&checkpoints.join("whole").join(&file), &dir.join(&file));
        }
    }
}

/// `--max-pixels` reaches every command that reads images: a limit below the samples'
/// 128×128 pixels refuses them with an error or warning naming the flag, where the default
/// reads them.
#[test]
fn max_pixels_limits_train_test_and_the_loader_bench() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 2);
    copy_images("testA", &data.join("testA"), 1);
    copy_images("testB", &data.join("testB"), 1);
    let checkpoints = tmp.path().join("checkpoints");
    let refused = "over the limit of 1000 pixels";
    let low = ["--max-pixels", "1000"];

    let out = run(&train_args(
        &data,
        &checkpoints,
        "low",
        &["--max-steps", "1", "-q", low[0], low[1]],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(refused), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-pixels"), "{}", stderr(&out));
    let out = run(&train_args(
        &data,
        &checkpoints,
        "ok",
        &["--max-steps", "1", "-q"],
    ));
    assert_success(&out);
    assert!(!stderr(&out).contains("over the limit"), "{}", stderr(&out));

    let test = |extra: &[&str]| {
        let (data, checkpoints) = (s(&data), s(&checkpoints));
        let results = s(&tmp.path().join("results"));
        let mut args = vec!["test", "--dataroot", &data, "--name", "ok"];
        args.extend(["--checkpoints-dir", &checkpoints, "--results-dir", &results]);
        args.extend(extra);
        cyclegan(&args)
    };
    let out = test(&low);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(refused), "{}", stderr(&out));
    let out = test(&[]);
    assert_success(&out);
    assert!(!stderr(&out).contains("over the limit"), "{}", stderr(&out));

    let data = s(&data);
    let bench = [
        "bench",
        "--what",
        "loader",
        "--dataroot",
        &data,
        "--size",
        "32",
    ];
    let out = cyclegan(&[&bench[..], &["--load-size", "40", low[0], low[1]]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(refused), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// 4. NaN / Inf.
// ---------------------------------------------------------------------------------------------

/// The run position stored in a training state's metadata.
fn saved_steps(state: &Path) -> u64 {
    let (_, meta) = read_safetensors(state).expect("state loads");
    let json: serde_json::Value =
        serde_json::from_str(&meta["cyclegan.train_state"]).expect("metadata json");
    json["position"]["steps"].as_u64().expect("steps")
}

#[test]
fn non_finite_loss_stops_naming_the_iteration_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 2);
    let checkpoints = tmp.path().join("checkpoints");
    // A learning rate that throws the weights to 1e30 at the first step, and weights drawn
    // at 1e30 from the start: both overflow within a few iterations.
    for (name, flag, value) in [("lr", "--lr", "1e30"), ("gain", "--init-gain", "1e30")] {
        let out = run(&train_args(
            &data,
            &checkpoints,
            name,
            &[
                flag,
                value,
                "--max-steps",
                "20",
                "--save-latest-freq",
                "1",
                "-q",
            ],
        ));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        let line = err.trim_end().lines().last().unwrap_or("");
        assert!(line.starts_with("error: "), "{line}");
        let at = line.find("at iteration ").expect("names the iteration") + 13;
        let iteration: u64 = line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("an iteration number");
        assert!((1..=20).contains(&iteration), "{line}");
        let dir = checkpoints.join(name);
        // The last good state is the one from just before, saved at every iteration.
        assert_eq!(
            saved_steps(&dir.join("train_state.safetensors")),
            iteration - 1
        );
        assert_success(&cyclegan(&[
            "info",
            &s(&dir.join("latest_net_G_A.safetensors")),
        ]));
        for net in NETS {
            let sd = read_tensors(&dir.join(format!("latest_net_{net}.safetensors")));
            for (k, t) in &sd {
                assert!(t.data.iter().all(|v| v.is_finite()), "{name}: {net}.{k}");
            }
        }
        assert_no_temporaries(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Unwritable checkpoint folder.
// ---------------------------------------------------------------------------------------------

#[test]
fn unwritable_checkpoint_folder_fails_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 2);
    // Tests run as root, where permissions do not stop writes: a folder under a regular file
    // and one in /proc cannot be made by anyone.
    let file = tmp.path().join("a_file");
    std::fs::write(&file, b"not a folder").expect("write");
    for checkpoints in [
        file.join("sub"),
        PathBuf::from("/proc/cyclegan-test-checkpoints"),
    ] {
        let started = Instant::now();
        let out = run(&train_args(
            &data,
            &checkpoints,
            "x",
            &["--max-steps", "50"],
        ));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(&s(&checkpoints)), "names the folder: {err}");
        assert!(err.contains("writable"), "says what to check: {err}");
        // At start: before any image is read or any step run (50 steps take seconds).
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(!checkpoints.exists());
    }
    assert_eq!(std::fs::read(&file).expect("read"), b"not a folder");

    // translate's output folder, likewise.
    let out = cyclegan(&[
        "translate",
        &s(&data.join("trainA")),
        "--weights",
        &s(&common::fixture("resnet_official_tiny.pth")),
        "--out",
        &s(&file.join("out")),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("a_file/out"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. CLI misuse.
// ---------------------------------------------------------------------------------------------

/// Exit code 2 and exactly one line, `error: …`, containing every one of `hints`.
fn assert_usage_error(out: &Output, hints: &[&str], case: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{case}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{case}: more than one line:\n{err}"
    );
    assert!(err.starts_with("error: "), "{case}: {err}");
    for h in hints {
        assert!(err.contains(h), "{case}: `{h}` missing from: {err}");
    }
}

#[test]
fn cli_misuse_exits_2_with_one_line_naming_the_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_dataset(tmp.path(), 1);
    let ck = tmp.path().join("checkpoints");
    // Small networks, and only the flags each case is about (clap refuses repeated flags).
    let with = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--dataroot",
            &s(&data),
            "--checkpoints-dir",
            &s(&ck),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(SMALL_RUN[2..6].iter().map(|a| a.to_string()));
        args.extend(extra.iter().map(|a| a.to_string()));
        for (flag, value) in [("--name", "misuse"), ("--netG", "resnet_2blocks")] {
            if !extra.contains(&flag) {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        run(&args)
    };

    // clap's own error for a missing required flag: several lines, exit 2, naming the flag.
    let out = cyclegan(&["train", "--name", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: ") && stderr(&out).contains("--dataroot"));

    let empty = tmp.path().join("empty");
    copy_images("trainA", &empty.join("trainA"), 1);
    std::fs::create_dir_all(empty.join("trainB")).expect("mkdir");
    assert_usage_error(
        &run(&train_args(&empty, &ck, "misuse", &[])),
        &["no images in", "trainB", "--dataroot"],
        "empty domain folder",
    );
    assert_usage_error(
        &run(&train_args(&tmp.path().join("nowhere"), &ck, "misuse", &[])),
        &["nowhere", "trainA"],
        "missing dataroot folder",
    );
    assert_usage_error(
        &with(&["--load-size", "30", "--crop-size", "32"]),
        &["--crop-size", "--load-size"],
        "crop larger than load",
    );
    assert_usage_error(
        &with(&["--netG", "resnet_fancy"]),
        &["resnet_fancy", "resnet_9blocks"],
        "unknown --netG",
    );
    // Crops the networks cannot run on (they used to panic inside a layer).
    assert_usage_error(
        &with(&["--load-size", "16", "--crop-size", "16"]),
        &["--crop-size", "24"],
        "crop too small for the PatchGAN",
    );
    assert_usage_error(
        &with(&["--load-size", "40", "--crop-size", "30"]),
        &["--crop-size", "multiple of 4"],
        "crop no multiple of 4 for a ResNet",
    );
    // 3-channel checkpoints (official layout, made by PyTorch) into 1-channel networks.
    let init = common::fixture("cyclegan_step_tiny.init");
    assert_usage_error(
        &with(&[
            "--init-from",
            &s(&init),
            "--input-nc",
            "1",
            "--max-steps",
            "1",
        ]),
        &["latest_net_G_A", "--input-nc", "[8, 3, 7, 7]"],
        "channels disagree with --input-nc",
    );
    assert_usage_error(
        &with(&["--continue-train", "--name", "never_trained"]),
        &["--continue-train", "start without"],
        "nothing to resume",
    );
    assert_usage_error(
        &cyclegan(&[
            "translate",
            &s(&tmp.path().join("no_such.png")),
            "--weights",
            &s(&common::fixture("resnet_official_tiny.pth")),
        ]),
        &["no_such.png", "does not exist"],
        "translate of a missing input",
    );
    assert_usage_error(
        &cyclegan(&[
            "translate",
            &s(&data.join("trainA")),
            "--weights",
            &s(&common::fixture("resnet_official_tiny.pth")),
            "--netG",
            "unet_256",
        ]),
        &["--netG", "auto"],
        "translate with the wrong --netG",
    );
    assert_no_temporaries(&ck);
}

/// With `--preprocess none` the image sizes come from the files; an image too small for the
/// networks is an error naming it (it used to panic inside a layer), found at the first batch.
#[test]
fn preprocess_none_refuses_images_too_small_for_the_networks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    for domain in ["trainA", "trainB"] {
        std::fs::create_dir_all(data.join(domain)).expect("create folder");
        image::RgbImage::from_pixel(8, 4, image::Rgb([10, 200, 30]))
            .save(data.join(domain).join("tiny.png"))
            .expect("write png");
    }
    let out = run(&train_args(
        &data,
        &dir.path().join("c"),
        "tiny",
        &["--preprocess", "none", "--max-steps", "1", "--quiet"],
    ));
    assert_usage_error(
        &out,
        &["tiny.png", "at least"],
        "image too small for --preprocess none",
    );
}

/// `cyclegan info x | head -3`: a reader that goes away ends the command quietly, with no
/// panic or backtrace (Rust ignores SIGPIPE, so a plain `println!` panics there).
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) writes two descriptors into the two-element array it is given.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both descriptors were just opened by pipe(2) and are owned nowhere else.
    let (read, write) = unsafe {
        use std::os::fd::{FromRawFd, OwnedFd};
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    // The read end is closed before the command starts, so its first write fails for sure.
    drop(read);
    let fixture = common::fixture("resnet_official_tiny.pth");
    let out = Command::new(env!("CARGO_BIN_EXE_cyclegan"))
        .args(["info", "--keys", &s(&fixture)])
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("cyclegan runs");
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_eq!(stderr(&out), "", "nothing on stderr");
}
