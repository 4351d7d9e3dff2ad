//! Errors of the data layer. Every message names the file or folder at fault and the fix, because
//! the user who reads it is holding a dataset, not the code.

use std::path::PathBuf;

/// What can go wrong between `--dataroot` and a batch of float images.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read `{path}`: {source} (check that it exists and is readable)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "`{path}`: cannot decode image: {reason} (the file is empty, truncated, corrupt or not an \
         image; replace or remove it)"
    )]
    Decode { path: PathBuf, reason: String },

    #[error(
        "`{path}`: image is {width}×{height}, over the limit of {limit} pixels (a decompression \
         bomb?); raise --max-pixels only if you trust the file"
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: u64,
    },

    #[error("`{path}`: cannot write PNG: {reason}")]
    Save { path: PathBuf, reason: String },

    #[error(
        "{channels} image channels requested; only 1 (grayscale) and 3 (RGB) are supported \
         (--input-nc / --output-nc)"
    )]
    Channels { channels: usize },

    #[error(
        "no dataset for phase `{phase}` under `{dataroot}`: expected `{phase}A/` and `{phase}B/`, \
         or `{phase}/A` and `{phase}/B`, under --dataroot{found}"
    )]
    Layout {
        dataroot: PathBuf,
        phase: String,
        /// What was found instead, already phrased (e.g. "; found only `trainA/`"), or empty.
        found: String,
    },

    #[error(
        "no images in `{dir}` (expected `{phase}A/` and `{phase}B/`, or `{phase}/A` and \
         `{phase}/B`, under --dataroot, holding {} files)",
        super::image_io::extension_list()
    )]
    EmptyDomain { dir: PathBuf, phase: String },

    #[error(
        "no paired dataset for phase `{phase}` under `{dataroot}`: expected `{phase}/` holding \
         A|B images side by side (upstream's aligned format), or `{phase}/A/` and `{phase}/B/` \
         with matching file names"
    )]
    AlignedLayout { dataroot: PathBuf, phase: String },

    #[error(
        "no images in `{dir}` (the aligned format wants {} files holding A|B side by side)",
        super::image_io::extension_list()
    )]
    EmptyAligned { dir: PathBuf },

    #[error(
        "{count} file(s) of `{dir_a}` and `{dir_b}` have no partner of the same name in the other \
         folder: {files}; add or remove them so every A has its B"
    )]
    Unpaired {
        dir_a: PathBuf,
        dir_b: PathBuf,
        count: usize,
        files: String,
    },

    #[error(
        "`{path}`: --crop-size {} is larger than the image after preprocessing \
         ({width}×{height}); lower --crop-size or raise --load-size, or use --preprocess none",
        crop_width.map_or_else(|| crop_size.to_string(), |w| format!("{crop_size},{w}"))
    )]
    CropTooLarge {
        path: PathBuf,
        crop_size: usize,
        /// A rectangular crop's width.
        crop_width: Option<usize>,
        width: usize,
        height: usize,
    },

    #[error(
        "`{path}`: preprocessing `{preprocess}` would make the image {width}×{height}; \
         use a larger image or another --preprocess"
    )]
    Degenerate {
        path: PathBuf,
        preprocess: String,
        width: usize,
        height: usize,
    },

    #[error(
        "one batch mixes image sizes: `{first}` is {first_size} but `{other}` is {other_size}; \
         use a --preprocess with crop (all crops are --crop-size²) or --batch-size 1"
    )]
    MixedSizes {
        first: PathBuf,
        first_size: String,
        other: PathBuf,
        other_size: String,
    },

    #[error(
        "every image of `{dir}` failed to load (e.g. {example}); check the dataset under --dataroot"
    )]
    AllFailed { dir: PathBuf, example: String },

    #[error(
        "gave up after {tries} unreadable images in a row (the last: {example}); check the \
         dataset under --dataroot"
    )]
    TooManyFailures { tries: usize, example: String },

    #[error("invalid {what} `{value}`: expected one of {expected}")]
    Parse {
        what: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("invalid data option: {0}")]
    Config(String),

    #[error("data loader worker failed: {0} (this is a bug; please report it)")]
    Worker(String),
}

impl DataError {
    /// Whether the error belongs to one file (skip it and go on) rather than to the
    /// configuration or the whole dataset (stop).
    pub fn is_file_error(&self) -> bool {
        matches!(
            self,
            DataError::Io { .. } | DataError::Decode { .. } | DataError::TooLarge { .. }
        )
    }

    /// The file an error is about, if it is about one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            DataError::Io { path, .. }
            | DataError::Decode { path, .. }
            | DataError::TooLarge { path, .. }
            | DataError::Save { path, .. }
            | DataError::CropTooLarge { path, .. }
            | DataError::Degenerate { path, .. } => Some(path),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_and_the_fix() {
        let e = DataError::EmptyDomain {
            dir: PathBuf::from("/d/trainA"),
            phase: "train".into(),
        };
        let m = e.to_string();
        assert!(m.contains("no images in `/d/trainA`"), "{m}");
        assert!(
            m.contains("`trainA/` and `trainB/`, or `train/A` and `train/B`"),
            "{m}"
        );

        let e = DataError::TooLarge {
            path: PathBuf::from("x.jpg"),
            width: 30000,
            height: 30000,
            limit: 89_478_485,
        };
        let m = e.to_string();
        assert!(m.contains("`x.jpg`: image is 30000×30000, over the limit of 89478485 pixels"));
        // The limit's flag, which every command that reads images has.
        assert!(m.contains("raise --max-pixels"), "{m}");
        assert!(e.is_file_error());
        assert!(!DataError::Channels { channels: 4 }.is_file_error());
        assert!(
            DataError::Channels { channels: 4 }
                .to_string()
                .contains("only 1 (grayscale) and 3 (RGB)")
        );
    }
}
