//! A network's tensors as host data under upstream's `state_dict()` keys: what the networks save
//! and load ([`Params`](super::Params)), and what every checkpoint reader produces, whatever
//! element type or memory layout the file stored. It lives with the networks because they
//! define it; the `checkpoint` module reads and writes it from files, so its errors carry a path
//! and [`KeyMismatch`] here does not.

use std::collections::BTreeMap;
use std::fmt;

/// A dense tensor: `data` holds `shape.iter().product()` values in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl RawTensor {
    /// Number of elements the shape implies (1 for a 0-dim scalar, 0 if any dimension is 0).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Parameter name → tensor, sorted by name, keys exactly as stored in the file.
pub type StateDict = BTreeMap<String, RawTensor>;

/// Why a state dict does not fit a network under strict loading (PyTorch's
/// `load_state_dict(strict=True)` error: missing keys, unexpected keys, size mismatches). Each
/// entry is already phrased (`key [shape]`, or `key: checkpoint [..], network [..]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMismatch {
    /// Keys the network has and the state dict lacks, with the network's shapes.
    pub missing: Vec<String>,
    /// Keys the state dict has and the network lacks, with the state dict's shapes.
    pub unexpected: Vec<String>,
    /// Keys both have, with different shapes.
    pub mismatched: Vec<String>,
}

impl KeyMismatch {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the checkpoint does not fit the network: missing [{}]; unexpected [{}]; wrong shape [{}]",
            first_few(&self.missing),
            first_few(&self.unexpected),
            first_few(&self.mismatched)
        )
    }
}

impl std::error::Error for KeyMismatch {}

/// The first few items, and how many there are in all when some are left out: a full list of a
/// wrong architecture's keys runs to hundreds, one line is kept readable.
fn first_few(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … ({} in all)", items.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_of_scalar_empty_and_nd() {
        let t = |shape: &[usize]| RawTensor {
            shape: shape.to_vec(),
            data: vec![],
        };
        assert_eq!(t(&[]).numel(), 1);
        assert_eq!(t(&[0, 3]).numel(), 0);
        assert_eq!(t(&[8, 3, 7, 7]).numel(), 1176);
    }

    #[test]
    fn mismatch_lists_the_first_five_of_each_kind() {
        let keys = |n: usize| (0..n).map(|i| format!("k{i} [1]")).collect::<Vec<_>>();
        let e = KeyMismatch {
            missing: keys(7),
            unexpected: keys(1),
            mismatched: vec![],
        };
        assert_eq!(
            e.to_string(),
            "the checkpoint does not fit the network: missing [k0 [1], k1 [1], k2 [1], k3 [1], \
             k4 [1], … (7 in all)]; unexpected [k0 [1]]; wrong shape []"
        );
        assert!(!e.is_empty());
    }
}
