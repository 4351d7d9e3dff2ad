//! Where the unit tests find their data: inside the repository, so that a clone with nothing
//! beside it tests itself.

use std::path::{Path, PathBuf};

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

/// One f32 tensor of a safetensors fixture: its shape and values.
pub fn st_tensor(file: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::F32);
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), v)
}
