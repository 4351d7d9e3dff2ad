//! Where the unit tests find their data: inside the repository, so that a clone with nothing
//! beside it tests itself.

use std::path::PathBuf;

/// `tests/fixtures/pytorch/<name>`: tensors and checkpoints made by real PyTorch (see the
/// README there). `CYCLEGAN_FIXTURES` names another folder, as for the integration tests.
pub fn pytorch_fixture(name: &str) -> PathBuf {
    match std::env::var_os("CYCLEGAN_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => repo("tests/fixtures/pytorch").join(name),
    }
}

/// A path under the checkout.
pub fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}
