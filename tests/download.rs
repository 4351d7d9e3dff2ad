//! End-to-end tests of `cyclegan::download` against a loopback HTTP/1.1
//! server written here with `std::net` (CI has no other network): dataset
//! and model downloads, resume after cut connections, HTTP errors, an
//! unreachable host, hostile zips, and skipping what is already there.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cyclegan::download::http::part_path;
use cyclegan::download::{
    Dataset, DownloadError, DownloadOptions, Model, download_dataset, download_model,
};
use zip::write::SimpleFileOptions;

/// Handler threads alive at once; further connections are dropped.
const MAX_CONNECTIONS: usize = 8;

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// How many upcoming responses per path to cut after half their body.
    cuts: HashMap<String, usize>,
    /// Answer every request with the whole file, as servers without Range
    /// support do.
    ignore_range: bool,
    /// (path, Range header) of every request, in order.
    log: Vec<(String, Option<String>)>,
}

/// Serves in-memory files on 127.0.0.1; stops when dropped.
struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            let active = Arc::new(AtomicUsize::new(0));
            let mut handlers = Vec::new();
            for stream in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    continue; // dropped: the client sees a closed connection
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (st, active) = (st.clone(), active.clone());
                handlers.push(std::thread::spawn(move || {
                    handle(stream, &st);
                    active.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            // Handlers have socket timeouts, so this cannot hang.
            for h in handlers {
                let _ = h.join();
            }
        });
        Server {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn opts(&self) -> DownloadOptions {
        DownloadOptions {
            base_url: Some(self.base()),
            quiet: true,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn serve(&self, path: &str, data: Vec<u8>) {
        self.state().files.insert(path.to_string(), data);
    }

    fn cut(&self, path: &str, times: usize) {
        self.state().cuts.insert(path.to_string(), times);
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.state().log.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the loop sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One request per connection (`Connection: close`), which is all the
/// client under test needs.
fn handle(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }

    let (head, body, cut) = {
        let mut st = state.lock().unwrap();
        st.log.push((path.clone(), range.clone()));
        let cut = match st.cuts.get_mut(&path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let start = range.filter(|_| !st.ignore_range).and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        });
        match (st.files.get(&path), start) {
            (None, _) => ("404 Not Found".to_string(), b"not found".to_vec(), false),
            (Some(data), Some(start)) if start >= data.len() => (
                format!(
                    "416 Range Not Satisfiable\r\nContent-Range: bytes */{}",
                    data.len()
                ),
                Vec::new(),
                false,
            ),
            (Some(data), Some(start)) => (
                format!(
                    "206 Partial Content\r\nContent-Range: bytes {start}-{}/{}",
                    data.len() - 1,
                    data.len()
                ),
                data[start..].to_vec(),
                cut,
            ),
            (Some(data), None) => ("200 OK".to_string(), data.clone(), cut),
        }
    };
    let mut stream = stream;
    let sent = if cut { body.len() / 2 } else { body.len() };
    let _ = write!(
        stream,
        "HTTP/1.1 {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body[..sent]);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// Bytes that differ at every offset a resume could get wrong.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

enum ZipEntry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

fn build_zip(entries: &[ZipEntry]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for entry in entries {
        match entry {
            ZipEntry::Dir(name) => w.add_directory(*name, deflated).unwrap(),
            ZipEntry::File(name, data) => {
                w.start_file(*name, deflated).unwrap();
                w.write_all(data).unwrap();
            }
            ZipEntry::Symlink(name, target) => w.add_symlink(*name, *target, deflated).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// The four folders of an official CycleGAN zip, under its top folder.
fn official_zip(name: &str) -> Vec<u8> {
    let paths: Vec<String> = ["trainA", "trainB", "testA", "testB"]
        .iter()
        .map(|d| format!("{name}/{d}/1.png"))
        .collect();
    let top = format!("{name}/");
    let mut entries = vec![ZipEntry::Dir(&top)];
    entries.extend(paths.iter().map(|p| ZipEntry::File(p, p.as_bytes())));
    build_zip(&entries)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn dataset_is_downloaded_and_extracted_like_the_official_script() {
    let server = Server::start();
    server.serve("/datasets/mini.zip", official_zip("mini"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");

    let out = download_dataset(Dataset::Mini, &root, &server.opts()).unwrap();

    assert_eq!(out, root.join("mini"));
    for d in ["trainA", "trainB", "testA", "testB"] {
        let file = out.join(d).join("1.png");
        assert_eq!(
            fs::read(&file).unwrap(),
            format!("mini/{d}/1.png").as_bytes()
        );
    }
    // The zip is gone and no staging or .part file is left behind.
    assert_eq!(names_in(&root), ["mini"]);
    assert_eq!(
        server.requests(),
        [("/datasets/mini.zip".to_string(), None)]
    );
}

/// The FID Inception comes from `<base>/pt_inception-…pth` into the checkpoints root, and a
/// file whose SHA-256 does not start with the published prefix (6726825d) is deleted and
/// refused, naming both prefixes.
#[test]
fn inception_with_the_wrong_checksum_is_refused_and_deleted() {
    let server = Server::start();
    let file = "pt_inception-2015-12-05-6726825d.pth";
    server.serve(&format!("/{file}"), pattern(5_000));
    let tmp = tempfile::tempdir().unwrap();

    let err = download_model(Model::Inception, tmp.path(), &server.opts()).unwrap_err();

    let msg = err.to_string();
    assert!(msg.contains("6726825d") && msg.contains(file), "{msg}");
    assert!(!tmp.path().join(file).exists());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn model_lands_where_test_py_looks_for_it() {
    let server = Server::start();
    let weights = pattern(300_000);
    server.serve("/pretrained_models/horse2zebra.pth", weights.clone());
    let tmp = tempfile::tempdir().unwrap();

    let out = download_model(Model::Horse2zebra, tmp.path(), &server.opts()).unwrap();

    assert_eq!(
        out,
        tmp.path().join("horse2zebra_pretrained/latest_net_G.pth")
    );
    assert_eq!(fs::read(&out).unwrap(), weights);
    assert_eq!(names_in(out.parent().unwrap()), ["latest_net_G.pth"]);
}

#[test]
fn cut_connection_is_resumed_with_a_range_request() {
    let server = Server::start();
    let weights = pattern(1 << 20);
    let path = "/pretrained_models/style_monet.pth";
    server.serve(path, weights.clone());
    server.cut(path, 1);
    let tmp = tempfile::tempdir().unwrap();

    let out = download_model(Model::StyleMonet, tmp.path(), &server.opts()).unwrap();

    assert_eq!(fs::read(&out).unwrap(), weights);
    let half = weights.len() / 2;
    assert_eq!(
        server.requests(),
        [
            (path.to_string(), None),
            (path.to_string(), Some(format!("bytes={half}-")))
        ]
    );
    assert!(!part_path(&out).exists());
}

#[test]
fn repeated_cuts_fail_with_resume_advice_then_the_next_run_resumes() {
    let server = Server::start();
    let weights = pattern(1 << 20);
    let path = "/pretrained_models/sat2map.pth";
    server.serve(path, weights.clone());
    server.cut(path, 100);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("sat2map_pretrained/latest_net_G.pth");

    let err = download_model(Model::Sat2map, tmp.path(), &server.opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::Interrupted { .. }), "{msg}");
    assert!(msg.contains(&format!("{}{path}", server.base())), "{msg}");
    assert!(
        msg.contains("run the same command again to resume"),
        "{msg}"
    );
    assert!(!dest.exists());
    let kept = fs::metadata(part_path(&dest)).unwrap().len();
    assert!(kept > 0 && kept < weights.len() as u64, "{kept}");

    server.cut(path, 0);
    let before = server.requests().len();
    download_model(Model::Sat2map, tmp.path(), &server.opts()).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), weights);
    assert_eq!(server.requests()[before].1, Some(format!("bytes={kept}-")));
}

#[test]
fn server_without_range_support_restarts_from_zero() {
    let server = Server::start();
    server.state().ignore_range = true;
    let weights = pattern(100_000);
    server.serve("/pretrained_models/map2sat.pth", weights.clone());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("map2sat_pretrained/latest_net_G.pth");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(part_path(&dest), vec![b'x'; 1000]).unwrap();

    download_model(Model::Map2sat, tmp.path(), &server.opts()).unwrap();

    // Appending the 200 body to the old bytes would make this longer.
    assert_eq!(fs::read(&dest).unwrap(), weights);
    assert_eq!(server.requests()[0].1.as_deref(), Some("bytes=1000-"));
}

#[test]
fn complete_part_file_is_finished_without_downloading_again() {
    let server = Server::start();
    let weights = pattern(50_000);
    server.serve("/pretrained_models/zebra2horse.pth", weights.clone());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("zebra2horse_pretrained/latest_net_G.pth");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(part_path(&dest), &weights).unwrap();

    download_model(Model::Zebra2horse, tmp.path(), &server.opts()).unwrap();

    assert_eq!(fs::read(&dest).unwrap(), weights);
    // One Range request, answered 416 because nothing is missing.
    assert_eq!(
        server.requests(),
        [(
            "/pretrained_models/zebra2horse.pth".to_string(),
            Some("bytes=50000-".to_string())
        )]
    );
}

#[test]
fn not_found_names_the_url() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();

    let err = download_model(Model::Orange2apple, tmp.path(), &server.opts()).unwrap_err();

    let msg = err.to_string();
    let url = format!("{}/pretrained_models/orange2apple.pth", server.base());
    assert!(matches!(err, DownloadError::NotFound { .. }), "{msg}");
    assert!(msg.contains(&url) && msg.contains("HTTP 404"), "{msg}");
    // The empty checkpoint folder is not left behind.
    assert!(names_in(tmp.path()).is_empty());
}

#[test]
fn unreachable_host_fails_fast_and_names_the_url() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = DownloadOptions {
        base_url: Some(format!("http://127.0.0.1:{port}")),
        quiet: true,
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    let start = Instant::now();

    let err = download_dataset(Dataset::Maps, &root, &opts).unwrap_err();

    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "could not reach http://127.0.0.1:{port}/datasets/maps.zip"
        )),
        "{msg}"
    );
    assert!(msg.contains("--base-url"), "{msg}");
    assert!(
        names_in(&root).is_empty(),
        "no zip, .part or dataset folder"
    );
}

/// Serves `zip` as the `mini` dataset and checks it is refused naming
/// `entry`, with nothing extracted anywhere.
fn assert_refused(zip: Vec<u8>, entry: &str, tmp: &Path) {
    let server = Server::start();
    server.serve("/datasets/mini.zip", zip);
    let root = tmp.join("datasets");

    let err = download_dataset(Dataset::Mini, &root, &server.opts()).unwrap_err();

    let msg = err.to_string();
    assert!(matches!(err, DownloadError::UnsafeEntry { .. }), "{msg}");
    assert!(msg.contains(&format!("entry '{entry}'")), "{msg}");
    // Only the downloaded zip remains: no dataset, no staging folder, even
    // though the valid first entry came before the bad one.
    assert_eq!(names_in(&root), ["mini.zip"]);
    assert!(!tmp.join("evil.txt").exists());
}

#[test]
fn zip_entry_with_dot_dot_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = build_zip(&[
        ZipEntry::File("mini/trainA/1.png", b"ok"),
        ZipEntry::File("../evil.txt", b"pwned"),
    ]);
    assert_refused(zip, "../evil.txt", tmp.path());
}

#[test]
fn zip_entry_with_absolute_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("evil.txt");
    let name = target.to_str().unwrap();
    let zip = build_zip(&[
        ZipEntry::File("mini/trainA/1.png", b"ok"),
        ZipEntry::File(name, b"pwned"),
    ]);
    assert_refused(zip, name, tmp.path());
}

#[test]
fn zip_symlink_entry_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = build_zip(&[
        ZipEntry::File("mini/trainA/1.png", b"ok"),
        ZipEntry::Symlink("mini/trainB", "../../.."),
        ZipEntry::File("mini/trainB/evil.txt", b"pwned"),
    ]);
    assert_refused(zip, "mini/trainB", tmp.path());
}

#[test]
fn existing_dataset_and_model_are_not_downloaded_again() {
    let server = Server::start();
    server.serve("/datasets/mini.zip", official_zip("mini"));
    server.serve("/pretrained_models/style_cezanne.pth", pattern(10));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    fs::create_dir_all(root.join("mini/trainA")).unwrap();
    let model = tmp.path().join("style_cezanne_pretrained/latest_net_G.pth");
    fs::create_dir_all(model.parent().unwrap()).unwrap();
    fs::write(&model, b"mine").unwrap();

    assert_eq!(
        download_dataset(Dataset::Mini, &root, &server.opts()).unwrap(),
        root.join("mini")
    );
    assert_eq!(
        download_model(Model::StyleCezanne, tmp.path(), &server.opts()).unwrap(),
        model
    );

    assert!(server.requests().is_empty());
    assert_eq!(names_in(&root.join("mini")), ["trainA"]);
    assert_eq!(fs::read(&model).unwrap(), b"mine");
}

#[test]
fn zip_left_by_a_failed_extraction_is_reused() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("facades.zip"), official_zip("facades")).unwrap();

    let out = download_dataset(Dataset::Facades, &root, &server.opts()).unwrap();

    assert!(out.join("testB/1.png").is_file());
    assert!(server.requests().is_empty());
    assert_eq!(names_in(&root), ["facades"]);
}
