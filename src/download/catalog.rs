//! The official CycleGAN download catalog: which datasets and pretrained
//! generators exist, where they live on the server, and where they land on
//! disk.
//!
//! Mirrors upstream `datasets/download_cyclegan_dataset.sh` (zips under
//! `<base>/datasets/<name>.zip`, unzipped into `./datasets/<name>/`) and
//! `scripts/download_cyclegan_model.sh` (`<base>/pretrained_models/<name>.pth`
//! saved as `./checkpoints/<name>_pretrained/latest_net_G.pth`).

use std::fmt;
use std::str::FromStr;

/// Host prefix of the official scripts; `--base-url` replaces exactly this.
pub const DEFAULT_BASE_URL: &str = "http://efrosgans.eecs.berkeley.edu/cyclegan";

/// File name the upstream `test.py --model test` loads from a checkpoint folder.
pub const MODEL_FILE_NAME: &str = "latest_net_G.pth";

/// A name that is not in the catalog; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{name}'{}; valid names: {valid}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub valid: String,
    pub hint: Option<&'static str>,
}

/// Generates a catalog enum from one `Variant => "name"` table, so the names
/// are written once and `ALL`, `FromStr`, `Display` and clap's `ValueEnum`
/// cannot drift apart. `refused` lists names the upstream script knows but
/// will not serve, each with the explanation to show instead.
macro_rules! catalog {
    (
        $(#[$meta:meta])*
        enum $ty:ident ($kind:literal) { $($variant:ident => $name:literal,)+ }
        refused { $($refused:literal => $why:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty { $($variant,)+ }

        impl $ty {
            /// Every entry, in the order of the upstream script's help text.
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)+];

            /// The upstream name: used in the URL and the folder names.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name,)+ }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| UnknownName {
                    kind: $kind,
                    name: s.to_string(),
                    valid: Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                    hint: match s { $($refused => Some($why),)* _ => None },
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        // Hand-written so the CLI accepts the exact upstream spellings
        // (the derive would kebab-case `summer2winter_yosemite`).
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.name()))
            }
        }
    };
}

catalog! {
    /// Unpaired datasets served by `download_cyclegan_dataset.sh`.
    enum Dataset ("dataset") {
        Apple2orange => "apple2orange",
        Summer2winterYosemite => "summer2winter_yosemite",
        Horse2zebra => "horse2zebra",
        Monet2photo => "monet2photo",
        Cezanne2photo => "cezanne2photo",
        Ukiyoe2photo => "ukiyoe2photo",
        Vangogh2photo => "vangogh2photo",
        Maps => "maps",
        Facades => "facades",
        Iphone2dslrFlower => "iphone2dslr_flower",
        AePhotos => "ae_photos",
        Mini => "mini",
        MiniPix2pix => "mini_pix2pix",
        MiniColorization => "mini_colorization",
    }
    refused {
        // Upstream accepts the name only to print this and exit.
        "cityscapes" => "Cityscapes cannot be redistributed for license reasons: download \
            gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from \
            https://cityscapes-dataset.com and prepare them with upstream's \
            datasets/prepare_cityscapes_dataset.py",
    }
}

catalog! {
    /// Pretrained generators served by `download_cyclegan_model.sh`.
    enum Model ("model") {
        Apple2orange => "apple2orange",
        Orange2apple => "orange2apple",
        Summer2winterYosemite => "summer2winter_yosemite",
        Winter2summerYosemite => "winter2summer_yosemite",
        Horse2zebra => "horse2zebra",
        Zebra2horse => "zebra2horse",
        Monet2photo => "monet2photo",
        StyleMonet => "style_monet",
        StyleCezanne => "style_cezanne",
        StyleUkiyoe => "style_ukiyoe",
        StyleVangogh => "style_vangogh",
        Sat2map => "sat2map",
        Map2sat => "map2sat",
        CityscapesPhoto2label => "cityscapes_photo2label",
        CityscapesLabel2photo => "cityscapes_label2photo",
        FacadesPhoto2label => "facades_photo2label",
        FacadesLabel2photo => "facades_label2photo",
        Iphone2dslrFlower => "iphone2dslr_flower",
        Inception => "inception",
    }
    refused {}
}

/// Where pytorch-fid publishes its FID Inception weights (a GitHub release); `--base-url`
/// replaces exactly this for [`Model::Inception`].
pub const INCEPTION_BASE_URL: &str =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights";

/// pytorch-fid's weights file; it lands under this name in the checkpoints folder, where
/// `cyclegan eval` looks for it.
pub const INCEPTION_FILE_NAME: &str = "pt_inception-2015-12-05-6726825d.pth";

/// The start of the file's SHA-256, which pytorch-fid puts in the name (and torch.hub checks).
pub const INCEPTION_SHA256_PREFIX: &str = "6726825d";

/// Joins without doubling the slash when a mirror URL ends in `/`.
fn join(base: &str, rest: &str) -> String {
    format!("{}/{rest}", base.trim_end_matches('/'))
}

impl Dataset {
    /// `<base>/datasets/<name>.zip`.
    pub fn url(self, base: &str) -> String {
        join(base, &format!("datasets/{}", self.zip_file_name()))
    }

    /// Name of the downloaded archive, kept beside the dataset folder until
    /// extraction succeeds.
    pub fn zip_file_name(self) -> String {
        format!("{}.zip", self.name())
    }

    /// Folder under the datasets root (also the zip's top folder).
    pub fn dir_name(self) -> &'static str {
        self.name()
    }
}

impl Model {
    /// `<base>/pretrained_models/<name>.pth`; for the FID Inception, `<base>/<file>` under
    /// pytorch-fid's release ([`INCEPTION_BASE_URL`] by default).
    pub fn url(self, base: &str) -> String {
        if self == Model::Inception {
            return join(base, INCEPTION_FILE_NAME);
        }
        join(base, &format!("pretrained_models/{}.pth", self.name()))
    }

    /// The host prefix `--base-url` replaces for this model.
    pub fn default_base_url(self) -> &'static str {
        if self == Model::Inception {
            INCEPTION_BASE_URL
        } else {
            DEFAULT_BASE_URL
        }
    }

    /// Checkpoint folder under the checkpoints root: `<name>_pretrained`,
    /// the `--name` upstream's `test.py` is then run with; the FID Inception lies in the root
    /// itself.
    pub fn dir_name(self) -> String {
        if self == Model::Inception {
            return String::new();
        }
        format!("{}_pretrained", self.name())
    }

    /// File inside [`Model::dir_name`].
    pub fn file_name(self) -> &'static str {
        if self == Model::Inception {
            return INCEPTION_FILE_NAME;
        }
        MODEL_FILE_NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn urls_match_the_official_scripts() {
        assert_eq!(
            Dataset::Maps.url(DEFAULT_BASE_URL),
            "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/maps.zip"
        );
        assert_eq!(
            Model::StyleMonet.url(DEFAULT_BASE_URL),
            "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/style_monet.pth"
        );
        assert_eq!(
            Dataset::Summer2winterYosemite.url("https://mirror.example/cg//"),
            "https://mirror.example/cg/datasets/summer2winter_yosemite.zip"
        );
    }

    #[test]
    fn inception_comes_from_pytorch_fids_release() {
        let m = Model::Inception;
        assert_eq!(
            m.url(m.default_base_url()),
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
        );
        assert_eq!(m.file_name(), "pt_inception-2015-12-05-6726825d.pth");
        assert!(m.file_name().contains(INCEPTION_SHA256_PREFIX));
        assert_eq!(m.dir_name(), "");
    }

    #[test]
    fn disk_names_match_the_official_scripts() {
        assert_eq!(Dataset::Horse2zebra.zip_file_name(), "horse2zebra.zip");
        assert_eq!(Dataset::Iphone2dslrFlower.dir_name(), "iphone2dslr_flower");
        assert_eq!(Model::Zebra2horse.dir_name(), "zebra2horse_pretrained");
        assert_eq!(Model::Zebra2horse.file_name(), "latest_net_G.pth");
    }

    #[test]
    fn every_name_round_trips_and_is_unique() {
        for d in Dataset::ALL {
            assert_eq!(d.name().parse::<Dataset>(), Ok(*d));
            assert_eq!(d.to_string(), d.name());
        }
        for m in Model::ALL {
            assert_eq!(m.name().parse::<Model>(), Ok(*m));
        }
        let mut names: Vec<_> = Dataset::ALL.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Dataset::ALL.len());
        assert_eq!(Dataset::ALL.len(), 14);
        assert_eq!(Model::ALL.len(), 19);
    }

    #[test]
    fn unknown_name_lists_valid_names() {
        let err = "horse2zebr".parse::<Model>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("unknown model 'horse2zebr'; valid names: apple2orange, "));
        assert!(msg.ends_with("iphone2dslr_flower, inception"), "{msg}");
        assert!(msg.contains("style_vangogh"));
        // Case matters upstream (the name becomes a URL path), so it does here.
        assert!("Maps".parse::<Dataset>().is_err());
    }

    #[test]
    fn cityscapes_explains_why_it_is_missing() {
        let msg = "cityscapes".parse::<Dataset>().unwrap_err().to_string();
        assert!(msg.contains("license"), "{msg}");
        assert!(msg.contains("cityscapes-dataset.com"), "{msg}");
        assert!(msg.contains("valid names: apple2orange"), "{msg}");
    }

    #[test]
    fn clap_sees_the_upstream_spellings() {
        let v = Dataset::Summer2winterYosemite.to_possible_value();
        assert_eq!(
            v.map(|v| v.get_name().to_string()).as_deref(),
            Some("summer2winter_yosemite")
        );
        assert_eq!(
            <Model as ValueEnum>::from_str("map2sat", false),
            Ok(Model::Map2sat)
        );
        assert_eq!(Model::value_variants().len(), Model::ALL.len());
    }
}
