//! End-to-end tests of `cyclegan::download` against a loopback HTTP/1.1
//! server written here with `std::net` (CI has no other network): dataset
//! and model downloads of both catalogs, resume after cut connections, HTTP
//! errors, an unreachable host, hostile zips and tar.gz archives (escaping,
//! linking, special or expanding past the size limit), and skipping what is
//! already there.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cyclegan::download::http::part_path;
use cyclegan::download::{
    AnyDataset, Dataset, DownloadError, DownloadOptions, Model, Pix2pixDataset, Pix2pixModel,
    download_dataset, download_model,
};
use cyclegan::model::{GeneratorConfig, NetworkConfig};
use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};
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
            ..Default::default()
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

/// Checks that `<root>/<name>/<dir>/1.*` of each of `dirs` holds its own
/// path, as [`official_zip`] and [`official_tar_gz`] write them; that the
/// archive is gone and no staging or `.part` file is left behind; and that
/// the archive was requested once.
fn assert_official_layout(server: &Server, root: &Path, archive: &str, dirs: &[&str]) {
    let (name, ext) = archive.split_once('.').unwrap();
    let file = if ext == "zip" { "1.png" } else { "1.jpg" };
    let mut sorted = dirs.to_vec();
    sorted.sort_unstable();
    assert_eq!(names_in(&root.join(name)), sorted);
    for d in dirs {
        let path = format!("{name}/{d}/{file}");
        assert_eq!(fs::read(root.join(&path)).unwrap(), path.as_bytes());
    }
    assert_eq!(names_in(root), [name]);
    let url = format!("/datasets/{archive}");
    assert_eq!(server.requests(), [(url, None)]);
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
        ..Default::default()
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

/// Serves `zip` as the `mini` dataset and, with `max_bytes` as the limit,
/// checks it is refused as expanding too far at `entry`, with nothing
/// extracted.
fn assert_zip_too_large(zip: Vec<u8>, max_bytes: u64, entry: &str) {
    let server = Server::start();
    server.serve("/datasets/mini.zip", zip);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    let opts = DownloadOptions {
        max_unpacked_bytes: Some(max_bytes),
        ..server.opts()
    };

    let err = download_dataset(Dataset::Mini, &root, &opts).unwrap_err();

    let msg = err.to_string();
    assert!(matches!(err, DownloadError::TooLarge { .. }), "{msg}");
    assert!(msg.contains(&format!("entry '{entry}'")), "{msg}");
    assert!(
        msg.contains(&format!("limit of {max_bytes} bytes")),
        "{msg}"
    );
    assert!(msg.contains("--max-unpacked-gib"), "{msg}");
    assert_eq!(names_in(&root), ["mini.zip"]);
}

#[test]
fn zip_expanding_past_the_limit_is_refused() {
    // 1 MiB of zeros deflates to about 1 KiB: small to download, not to unpack.
    let zeros = vec![0u8; 1 << 20];
    let zip = build_zip(&[
        ZipEntry::File("mini/trainA/1.png", b"ok"),
        ZipEntry::File("mini/trainA/bomb.png", &zeros),
    ]);
    assert!(zip.len() < 64 << 10, "{}", zip.len());
    assert_zip_too_large(zip, 256 << 10, "mini/trainA/bomb.png");
}

#[test]
fn zip_within_the_limit_is_extracted() {
    let server = Server::start();
    server.serve("/datasets/mini.zip", official_zip("mini"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    // Each file holds its own name: the limit is exactly their total.
    let total: usize = ["trainA", "trainB", "testA", "testB"]
        .iter()
        .map(|d| format!("mini/{d}/1.png").len())
        .sum();
    let opts = DownloadOptions {
        max_unpacked_bytes: Some(total as u64),
        ..server.opts()
    };
    download_dataset(Dataset::Mini, &root, &opts).unwrap();
    assert!(root.join("mini/testB/1.png").is_file());

    // One byte less is refused at the last file.
    assert_zip_too_large(official_zip("mini"), total as u64 - 1, "mini/testB/1.png");
}

/// Overwrites the uncompressed size of every local and central header of
/// `zip` with `size`, as a hostile archive might.
fn understate_zip_sizes(zip: &mut [u8], size: u32) {
    for i in 0..zip.len().saturating_sub(4) {
        let at = match &zip[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => i + 22, // local file header
            [0x50, 0x4b, 0x01, 0x02] => i + 24, // central directory header
            _ => continue,
        };
        zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
}

#[test]
fn zip_whose_header_understates_its_size_is_refused() {
    let zeros = vec![0u8; 1 << 20];
    let mut zip = build_zip(&[ZipEntry::File("mini/trainA/liar.png", &zeros)]);
    understate_zip_sizes(&mut zip, 10);
    let tmp = tempfile::tempdir().unwrap();
    // The header's 10 bytes are far below the default limit: only reading
    // the data shows what it expands to.
    assert_refused(zip, "mini/trainA/liar.png", tmp.path());
}

/// One tar entry, written with raw header fields so that hostile names and
/// types the `tar` crate's own builder would refuse can be made.
#[derive(Clone, Copy)]
enum TarEntry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Link(EntryType, &'a str, &'a str),
    /// A GNU sparse file storing `data` at `offset` of a `real_size` file.
    Sparse(&'a str, &'a [u8], u64, u64),
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

fn raw_header(name: &str, kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_size(size);
    h
}

fn build_tar_gz(entries: &[TarEntry]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for entry in entries {
        let (mut h, data): (Header, &[u8]) = match *entry {
            TarEntry::Dir(name) => (raw_header(name, EntryType::Directory, 0), b""),
            TarEntry::File(name, data) => (
                raw_header(name, EntryType::Regular, data.len() as u64),
                data,
            ),
            TarEntry::Link(kind, name, target) => {
                let mut h = raw_header(name, kind, 0);
                h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                (h, b"")
            }
            TarEntry::Sparse(name, data, offset, real_size) => {
                let mut h = raw_header(name, EntryType::GNUSparse, data.len() as u64);
                let gnu = h.as_gnu_mut().unwrap();
                octal(&mut gnu.realsize, real_size);
                octal(&mut gnu.sparse[0].offset, offset);
                octal(&mut gnu.sparse[0].numbytes, data.len() as u64);
                (h, data)
            }
        };
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A pix2pix archive as upstream packs it: `<name>/{train,val,test}/` of
/// aligned A|B images.
fn official_tar_gz(name: &str) -> Vec<u8> {
    let top = format!("{name}/");
    let dirs: Vec<String> = ["train", "val", "test"]
        .iter()
        .map(|d| format!("{name}/{d}/"))
        .collect();
    let files: Vec<String> = ["train", "val", "test"]
        .iter()
        .map(|d| format!("{name}/{d}/1.jpg"))
        .collect();
    let mut entries = vec![TarEntry::Dir(&top)];
    for (dir, file) in dirs.iter().zip(&files) {
        entries.push(TarEntry::Dir(dir));
        entries.push(TarEntry::File(file, file.as_bytes()));
    }
    build_tar_gz(&entries)
}

#[test]
fn datasets_are_downloaded_and_extracted_like_the_official_scripts() {
    let cases: [(AnyDataset, _, Vec<u8>, &[&str]); 2] = [
        (
            Dataset::Mini.into(),
            "mini.zip",
            official_zip("mini"),
            &["trainA", "trainB", "testA", "testB"],
        ),
        (
            Pix2pixDataset::Facades.into(),
            "facades.tar.gz",
            official_tar_gz("facades"),
            &["train", "val", "test"],
        ),
    ];
    for (dataset, archive, data, dirs) in cases {
        let server = Server::start();
        server.serve(&format!("/datasets/{archive}"), data);
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("datasets");

        let out = download_dataset(dataset, &root, &server.opts()).unwrap();

        assert_eq!(out, root.join(dataset.name()));
        assert_official_layout(&server, &root, archive, dirs);
    }
}

#[test]
fn pix2pix_models_come_from_models_pytorch_and_land_where_detection_looks() {
    let server = Server::start();
    let unet = pattern(70_000);
    let resnet = pattern(30_000);
    server.serve("/models-pytorch/sat2map.pth", unet.clone());
    server.serve("/pretrained_models/sat2map.pth", resnet.clone());
    server.serve("/models-pytorch/day2night.pth", pattern(5));
    let tmp = tempfile::tempdir().unwrap();
    let (p2p, cg) = (tmp.path().join("p2p"), tmp.path().join("cg"));

    let out = download_model(Pix2pixModel::Sat2map, &p2p, &server.opts()).unwrap();
    assert_eq!(out, p2p.join("sat2map_pretrained/latest_net_G.pth"));
    assert_eq!(fs::read(&out).unwrap(), unet);

    // The CycleGAN model of the same name is another file from another path.
    let out = download_model(Model::Sat2map, &cg, &server.opts()).unwrap();
    assert_eq!(out, cg.join("sat2map_pretrained/latest_net_G.pth"));
    assert_eq!(fs::read(&out).unwrap(), resnet);

    let out = download_model(Pix2pixModel::Day2night, &p2p, &server.opts()).unwrap();
    assert_eq!(out, p2p.join("day2night_pretrained/latest_net_G.pth"));
    assert_eq!(
        server.requests(),
        [
            ("/models-pytorch/sat2map.pth".to_string(), None),
            ("/pretrained_models/sat2map.pth".to_string(), None),
            ("/models-pytorch/day2night.pth".to_string(), None),
        ]
    );
}

/// Serves `tgz` as the pix2pix `facades` dataset with `max_bytes` as the
/// limit and returns the error, after checking that nothing was extracted
/// anywhere: only the downloaded archive remains, even though a valid entry
/// came before the bad one.
fn refuse_tar_gz(tgz: Vec<u8>, max_bytes: Option<u64>, tmp: &Path) -> DownloadError {
    let server = Server::start();
    server.serve("/datasets/facades.tar.gz", tgz);
    let root = tmp.join("datasets");
    let opts = DownloadOptions {
        max_unpacked_bytes: max_bytes,
        ..server.opts()
    };

    let err = download_dataset(Pix2pixDataset::Facades, &root, &opts).unwrap_err();

    assert_eq!(names_in(&root), ["facades.tar.gz"], "{err}");
    assert_eq!(names_in(tmp), ["datasets"], "{err}");
    err
}

/// As [`refuse_tar_gz`], and the error is an unsafe `entry` for `why`.
fn assert_tar_refused(entries: &[TarEntry], entry: &str, why: &str) {
    let tmp = tempfile::tempdir().unwrap();
    assert_tar_refused_in(entries, entry, why, tmp.path());
}

fn assert_tar_refused_in(entries: &[TarEntry], entry: &str, why: &str, tmp: &Path) {
    let mut all = vec![TarEntry::File("facades/train/1.jpg", b"ok")];
    all.extend(entries.iter().copied());
    let err = refuse_tar_gz(build_tar_gz(&all), None, tmp);
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::UnsafeEntry { .. }), "{msg}");
    assert!(msg.contains(&format!("entry '{entry}' {why}")), "{msg}");
    assert!(msg.contains("nothing was extracted"), "{msg}");
}

#[test]
fn tar_entry_with_dot_dot_is_refused() {
    assert_tar_refused(
        &[TarEntry::File("../evil.txt", b"pwned")],
        "../evil.txt",
        "climbs out",
    );
    assert_tar_refused(
        &[TarEntry::File("facades/../../evil.txt", b"pwned")],
        "facades/../../evil.txt",
        "climbs out",
    );
}

#[test]
fn tar_entry_with_absolute_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("evil.txt");
    let name = target.to_str().unwrap();
    assert_tar_refused_in(
        &[TarEntry::File(name, b"pwned")],
        name,
        "is an absolute path",
        tmp.path(),
    );
    assert!(!target.exists());
}

#[test]
fn tar_symlink_is_refused() {
    assert_tar_refused(
        &[
            TarEntry::Link(EntryType::Symlink, "facades/val", "../../.."),
            TarEntry::File("facades/val/evil.txt", b"pwned"),
        ],
        "facades/val",
        "is a symbolic link",
    );
}

#[test]
fn tar_hardlink_is_refused() {
    assert_tar_refused(
        &[TarEntry::Link(
            EntryType::Link,
            "facades/train/2.jpg",
            "/etc/passwd",
        )],
        "facades/train/2.jpg",
        "is a hard link",
    );
}

#[test]
fn tar_device_and_fifo_entries_are_refused() {
    assert_tar_refused(
        &[TarEntry::Link(EntryType::Char, "facades/null", "")],
        "facades/null",
        "is a device file",
    );
    assert_tar_refused(
        &[TarEntry::Link(EntryType::Fifo, "facades/pipe", "")],
        "facades/pipe",
        "is a FIFO",
    );
}

#[test]
fn tar_sparse_entry_whose_header_understates_its_size_is_refused() {
    // Stores 512 bytes, unpacks to 1 GiB: the holes are nowhere in the stream.
    let data = [7u8; 512];
    assert_tar_refused(
        &[TarEntry::Sparse(
            "facades/train/2.jpg",
            &data,
            (1 << 30) - 512,
            1 << 30,
        )],
        "facades/train/2.jpg",
        "is a sparse file",
    );
}

#[test]
fn tar_entry_expanding_past_the_limit_is_refused() {
    let zeros = vec![0u8; 1 << 20];
    let tgz = build_tar_gz(&[
        TarEntry::File("facades/train/1.jpg", b"ok"),
        TarEntry::File("facades/train/bomb.jpg", &zeros),
        TarEntry::File("facades/train/3.jpg", b"ok"),
    ]);
    assert!(tgz.len() < 64 << 10, "{}", tgz.len());

    let tmp = tempfile::tempdir().unwrap();
    let err = refuse_tar_gz(tgz, Some(256 << 10), tmp.path());

    let msg = err.to_string();
    assert!(matches!(err, DownloadError::TooLarge { .. }), "{msg}");
    assert!(msg.contains("entry 'facades/train/bomb.jpg'"), "{msg}");
    assert!(msg.contains("limit of 262144 bytes"), "{msg}");
    assert!(msg.contains("--max-unpacked-gib"), "{msg}");
}

#[test]
fn tar_flood_of_empty_entries_counts_against_the_limit() {
    // No data at all, but each entry is a 512-byte header to decompress and
    // a file to create.
    let names: Vec<String> = (0..200).map(|i| format!("facades/train/{i}.jpg")).collect();
    let entries: Vec<TarEntry> = names.iter().map(|n| TarEntry::File(n, b"")).collect();

    let tmp = tempfile::tempdir().unwrap();
    let err = refuse_tar_gz(build_tar_gz(&entries), Some(64 << 10), tmp.path());

    assert!(matches!(err, DownloadError::TooLarge { .. }), "{err}");
}

#[test]
fn corrupt_tar_gz_names_the_file_and_leaves_nothing() {
    let mut tgz = official_tar_gz("facades");
    let mid = tgz.len() / 2;
    tgz.truncate(mid);

    let tmp = tempfile::tempdir().unwrap();
    let err = refuse_tar_gz(tgz, None, tmp.path());

    let msg = err.to_string();
    assert!(matches!(err, DownloadError::BadArchive { .. }), "{msg}");
    assert!(
        msg.contains("facades.tar.gz") && msg.contains("download again"),
        "{msg}"
    );
}

/// Runs the built `cyclegan` binary with `args`; returns (success, stderr).
fn cyclegan(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cyclegan"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_picks_the_catalog_and_passes_the_size_limit() {
    let server = Server::start();
    server.serve("/datasets/maps.zip", official_zip("maps"));
    server.serve("/datasets/maps.tar.gz", official_tar_gz("maps"));
    server.serve(
        "/datasets/edges2shoes.tar.gz",
        official_tar_gz("edges2shoes"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let base = server.base();
    let dir = |d: &str| tmp.path().join(d).to_str().unwrap().to_string();
    let run = |name: &str, root: &str, extra: &[&str]| {
        let mut args = vec![
            "download",
            "dataset",
            name,
            "--root",
            root,
            "--base-url",
            &base,
        ];
        args.extend(extra);
        cyclegan(&args)
    };

    // A name of both catalogs means CycleGAN's, and says so.
    let (ok, err) = run("maps", &dir("cg"), &[]);
    assert!(ok, "{err}");
    assert!(err.contains("add --model pix2pix"), "{err}");
    assert_eq!(
        names_in(&tmp.path().join("cg/maps")),
        ["testA", "testB", "trainA", "trainB"]
    );

    let (ok, err) = run("maps", &dir("p2p"), &["--model", "pix2pix"]);
    assert!(ok, "{err}");
    assert_eq!(
        names_in(&tmp.path().join("p2p/maps")),
        ["test", "train", "val"]
    );

    // A pix2pix-only name needs no flag, but --max-unpacked-gib reaches it:
    // 1e-6 GiB is 1074 bytes, less than the archive's headers.
    let (ok, err) = run(
        "edges2shoes",
        &dir("small"),
        &["--max-unpacked-gib", "0.000001"],
    );
    assert!(!ok);
    assert!(err.contains("limit of 1074 bytes"), "{err}");
    assert_eq!(names_in(&tmp.path().join("small")), ["edges2shoes.tar.gz"]);
    let (ok, err) = run("edges2shoes", &dir("small"), &[]);
    assert!(ok, "{err}");
    assert!(tmp.path().join("small/edges2shoes/val/1.jpg").is_file());

    let (ok, err) = run("edges2shoes", &dir("x"), &["--model", "cycle_gan"]);
    assert!(!ok);
    assert!(err.contains("use --model pix2pix"), "{err}");
}

#[test]
fn downloaded_pix2pix_model_is_detected_as_a_unet_with_no_flags() {
    // An official-format U-Net checkpoint (upstream's UnetGenerator, saved by
    // torch.save), served where upstream's pix2pix script fetches from.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/unet_official_tiny.pth");
    let server = Server::start();
    server.serve(
        "/models-pytorch/edges2shoes.pth",
        fs::read(&fixture).unwrap(),
    );
    let tmp = tempfile::tempdir().unwrap();

    let out = download_model(Pix2pixModel::Edges2shoes, tmp.path(), &server.opts()).unwrap();

    let loaded = cyclegan::checkpoint::load(&out).unwrap();
    assert!(
        matches!(
            loaded.config,
            NetworkConfig::Generator(GeneratorConfig::Unet(_))
        ),
        "{:?}",
        loaded.config
    );
}

#[test]
fn cyclegan_dataset_in_the_folder_does_not_pass_for_the_pix2pix_one() {
    let server = Server::start();
    server.serve("/datasets/maps.tar.gz", official_tar_gz("maps"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("datasets");
    fs::create_dir_all(root.join("maps/trainA")).unwrap();

    let err = download_dataset(Pix2pixDataset::Maps, &root, &server.opts()).unwrap_err();

    let msg = err.to_string();
    assert!(
        matches!(err, DownloadError::OtherCatalogThere { .. }),
        "{msg}"
    );
    assert!(msg.contains("--root"), "{msg}");
    assert!(server.requests().is_empty());
    assert_eq!(names_in(&root.join("maps")), ["trainA"]);

    // Given its own root, it is downloaded.
    let out = download_dataset(Pix2pixDataset::Maps, &root.join("pix2pix"), &server.opts());
    assert!(out.unwrap().join("val/1.jpg").is_file());
}
