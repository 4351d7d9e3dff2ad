//! The two repairs upstream's loader makes to a state dict before loading it, done here in
//! the open and reported (`models/base_model.py`, `load_networks`): a `module.` prefix left by
//! `DataParallel` is stripped, and the stale statistics of InstanceNorm layers
//! (`__patch_instance_norm_state_dict`) are dropped. Both [`super::load`] (architecture
//! detected from the file) and [`super::load_into`] (a network already built) go through these,
//! so a file loads the same way either way.

use crate::model::{RawTensor, StateDict};

/// Strips `module.` prefixes (DataParallel) from every key.
pub fn strip_module_prefix(sd: StateDict) -> StateDict {
    sd.into_iter()
        .map(|(k, v)| match k.strip_prefix("module.") {
            Some(rest) => (rest.to_string(), v),
            None => (k, v),
        })
        .collect()
}

/// Drops the norm statistics a network of this crate never reads, and returns the dropped keys:
/// when the network is not batch-normed (`batch_norm` false), every `running_mean`,
/// `running_var` and `num_batches_tracked`: pre-0.4 PyTorch saved them for InstanceNorm
/// layers, which never use them; upstream's `__patch_instance_norm_state_dict` pops them the
/// same way. A batch-normed network keeps them all: they are its statistics, and any that fit
/// no layer fail the strict load. A batch norm's `num_batches_tracked` missing beside its
/// `running_mean` (files of PyTorch before 0.4.1, which had none) is filled in as 0, as
/// PyTorch's own `BatchNorm._load_from_state_dict` does.
pub fn drop_stale_norm_stats(sd: StateDict, batch_norm: bool) -> (StateDict, Vec<String>) {
    let (dropped, mut kept): (StateDict, StateDict) = sd.into_iter().partition(|(k, _)| {
        let stats = k.ends_with(".running_mean")
            || k.ends_with(".running_var")
            || k.ends_with(".num_batches_tracked");
        !batch_norm && stats
    });
    if batch_norm {
        let layers: Vec<String> = kept
            .keys()
            .filter_map(|k| k.strip_suffix(".running_mean"))
            .map(str::to_string)
            .collect();
        for layer in layers {
            kept.entry(format!("{layer}.num_batches_tracked"))
                .or_insert_with(|| RawTensor {
                    shape: Vec::new(),
                    data: vec![0.0],
                });
        }
    }
    (kept, dropped.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RawTensor;

    fn sd(keys: &[&str]) -> StateDict {
        let t = RawTensor {
            shape: vec![1],
            data: vec![0.0],
        };
        keys.iter().map(|k| (k.to_string(), t.clone())).collect()
    }

    const KEYS: [&str; 5] = [
        "model.1.weight",
        "model.2.running_mean",
        "model.2.running_var",
        "model.2.num_batches_tracked",
        "module.model.3.weight",
    ];

    #[test]
    fn instance_norm_statistics_go_batch_norm_statistics_stay() {
        let (kept, dropped) = drop_stale_norm_stats(sd(&KEYS), false);
        assert_eq!(
            dropped,
            [
                "model.2.num_batches_tracked",
                "model.2.running_mean",
                "model.2.running_var"
            ]
        );
        assert_eq!(
            kept.keys().collect::<Vec<_>>(),
            ["model.1.weight", "module.model.3.weight"]
        );
        let (kept, dropped) = drop_stale_norm_stats(sd(&KEYS), true);
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(kept, sd(&KEYS));
    }

    /// A batch norm saved before PyTorch 0.4.1 has no counter: it gets PyTorch's 0, not a
    /// failed strict load.
    #[test]
    fn a_missing_batch_norm_counter_is_filled_in_as_zero() {
        let old = sd(&[
            "model.1.weight",
            "model.2.running_mean",
            "model.2.running_var",
        ]);
        let (kept, dropped) = drop_stale_norm_stats(old, true);
        assert!(dropped.is_empty());
        let counter = &kept["model.2.num_batches_tracked"];
        assert_eq!(
            (counter.shape.len(), counter.data.as_slice()),
            (0, &[0.0][..])
        );
        assert_eq!(kept.len(), 4);
    }

    #[test]
    fn strips_data_parallel_prefixes() {
        let stripped = strip_module_prefix(sd(&KEYS));
        assert!(stripped.contains_key("model.3.weight"));
        assert!(stripped.contains_key("model.1.weight"));
    }
}
