//! The official CycleGAN and pix2pix download catalogs: which datasets and
//! pretrained generators exist, where they live on the server, and where they
//! land on disk.
//!
//! Mirrors upstream `datasets/download_cyclegan_dataset.sh` (zips under
//! `<base>/datasets/<name>.zip`, unzipped into `./datasets/<name>/`),
//! `scripts/download_cyclegan_model.sh` (`<base>/pretrained_models/<name>.pth`
//! saved as `./checkpoints/<name>_pretrained/latest_net_G.pth`), and their
//! pix2pix twins `datasets/download_pix2pix_dataset.sh` (`.tar.gz` archives)
//! and `scripts/download_pix2pix_model.sh` (`<base>/models-pytorch/<name>.pth`,
//! saved to the same place).
//!
//! `maps` and `facades` are datasets of both catalogs (unpaired for CycleGAN,
//! aligned A|B pairs for pix2pix), and `facades_label2photo`, `sat2map` and
//! `map2sat` models of both (a ResNet and a U-Net generator). [`Pick::resolve`]
//! settles which one a name means.

use std::fmt;
use std::str::FromStr;

use super::extract::ArchiveFormat;

/// Host prefix of the official CycleGAN scripts; `--base-url` replaces exactly this.
pub const DEFAULT_BASE_URL: &str = "http://efrosgans.eecs.berkeley.edu/cyclegan";

/// Host prefix of the official pix2pix scripts; `--base-url` replaces exactly this.
pub const PIX2PIX_BASE_URL: &str = "http://efrosgans.eecs.berkeley.edu/pix2pix";

/// File name the upstream `test.py --model test` loads from a checkpoint folder.
pub const MODEL_FILE_NAME: &str = "latest_net_G.pth";

/// A name that is not in the catalog; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{name}'{}; valid names: {valid}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub valid: String,
    pub hint: Option<String>,
}

/// What [`Pick`] needs of an entry of either catalog.
pub trait CatalogEntry: Copy + FromStr<Err = UnknownName> {
    /// The upstream name: used in the URL and the folder names.
    fn name(self) -> &'static str;
    /// Where the file is on the server below `base`.
    fn url(self, base: &str) -> String;
}

/// Generates a catalog enum from one `Variant => "name"` table, so the names
/// are written once and `ALL`, `FromStr`, `Display` and clap's `ValueEnum`
/// cannot drift apart. `$path` is the file's path below the base URL, with
/// `{}` for the name. `refused` lists names the upstream script knows but
/// will not serve, each with the explanation to show instead.
macro_rules! catalog {
    (
        $(#[$meta:meta])*
        enum $ty:ident ($kind:literal, $path:literal) { $($variant:ident => $name:literal,)+ }
        refused { $($refused:literal => $why:expr,)* }
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
                    hint: match s { $($refused => Some($why.to_string()),)* _ => None },
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl CatalogEntry for $ty {
            fn name(self) -> &'static str {
                $ty::name(self)
            }

            fn url(self, base: &str) -> String {
                join(base, &format!($path, self.name()))
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
    enum Dataset ("dataset", "datasets/{}.zip") {
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
        "cityscapes" => CITYSCAPES,
    }
}

/// Both upstream dataset scripts accept `cityscapes` only to print this and exit.
const CITYSCAPES: &str = "Cityscapes cannot be redistributed for license reasons: download \
    gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from \
    https://cityscapes-dataset.com and prepare them with upstream's \
    datasets/prepare_cityscapes_dataset.py";

catalog! {
    /// Pretrained generators served by `download_cyclegan_model.sh`.
    enum Model ("model", "pretrained_models/{}.pth") {
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

catalog! {
    /// Aligned (A|B side by side) datasets served by `download_pix2pix_dataset.sh`.
    enum Pix2pixDataset ("pix2pix dataset", "datasets/{}.tar.gz") {
        Night2day => "night2day",
        Edges2handbags => "edges2handbags",
        Edges2shoes => "edges2shoes",
        Facades => "facades",
        Maps => "maps",
    }
    refused {
        "cityscapes" => CITYSCAPES,
    }
}

catalog! {
    /// Pretrained U-Net generators served by `download_pix2pix_model.sh`.
    enum Pix2pixModel ("pix2pix model", "models-pytorch/{}.pth") {
        Edges2shoes => "edges2shoes",
        Sat2map => "sat2map",
        Map2sat => "map2sat",
        FacadesLabel2photo => "facades_label2photo",
        Day2night => "day2night",
    }
    refused {}
}

/// Upstream's `--model` names for the two catalogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Family {
    /// `download_cyclegan_*.sh`: unpaired datasets, ResNet generators.
    #[value(name = "cycle_gan")]
    CycleGan,
    /// `download_pix2pix_*.sh`: aligned datasets, U-Net generators.
    #[value(name = "pix2pix")]
    Pix2pix,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::CycleGan => "cycle_gan",
            Family::Pix2pix => "pix2pix",
        })
    }
}

/// An entry of the CycleGAN catalog `C` or of the pix2pix catalog `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pick<C, P> {
    CycleGan(C),
    Pix2pix(P),
}

/// A dataset of either catalog.
pub type AnyDataset = Pick<Dataset, Pix2pixDataset>;
/// A pretrained generator of either catalog.
pub type AnyModel = Pick<Model, Pix2pixModel>;

impl From<Dataset> for AnyDataset {
    fn from(d: Dataset) -> Self {
        Pick::CycleGan(d)
    }
}

impl From<Pix2pixDataset> for AnyDataset {
    fn from(d: Pix2pixDataset) -> Self {
        Pick::Pix2pix(d)
    }
}

impl From<Model> for AnyModel {
    fn from(m: Model) -> Self {
        Pick::CycleGan(m)
    }
}

impl From<Pix2pixModel> for AnyModel {
    fn from(m: Pix2pixModel) -> Self {
        Pick::Pix2pix(m)
    }
}

impl<C: CatalogEntry, P: CatalogEntry> Pick<C, P> {
    /// The upstream name.
    pub fn name(self) -> &'static str {
        match self {
            Pick::CycleGan(c) => c.name(),
            Pick::Pix2pix(p) => p.name(),
        }
    }

    /// The official host prefix of this entry's catalog (pytorch-fid's release for the FID
    /// Inception, which sits in CycleGAN's model list for `download model inception`).
    pub fn default_base_url(self) -> &'static str {
        match self {
            Pick::CycleGan(c) if c.name() == INCEPTION_NAME => INCEPTION_BASE_URL,
            Pick::CycleGan(_) => DEFAULT_BASE_URL,
            Pick::Pix2pix(_) => PIX2PIX_BASE_URL,
        }
    }

    /// Where the file is on the server below `base`: the catalog's path
    /// (`datasets/<name>.zip`, `pretrained_models/<name>.pth`,
    /// `datasets/<name>.tar.gz` or `models-pytorch/<name>.pth`).
    pub fn url(self, base: &str) -> String {
        match self {
            Pick::CycleGan(c) if c.name() == INCEPTION_NAME => join(base, INCEPTION_FILE_NAME),
            Pick::CycleGan(c) => c.url(base),
            Pick::Pix2pix(p) => p.url(base),
        }
    }

    /// The entry `name` means in `family`'s catalog. Without a family, a name
    /// of both catalogs means the CycleGAN one (what it meant before pix2pix
    /// was added, so existing command lines keep their meaning; see
    /// [`Pick::in_both`]) and any other name the catalog that has it.
    pub fn resolve(name: &str, family: Option<Family>) -> Result<Self, UnknownName> {
        match (family, name.parse::<C>(), name.parse::<P>()) {
            (None | Some(Family::CycleGan), Ok(c), _) => Ok(Pick::CycleGan(c)),
            (None | Some(Family::Pix2pix), _, Ok(p)) => Ok(Pick::Pix2pix(p)),
            (Some(Family::CycleGan), Err(e), Ok(_)) => Err(UnknownName {
                hint: Some(format!("'{name}' is a pix2pix name: use --model pix2pix")),
                ..e
            }),
            (Some(Family::Pix2pix), Ok(_), Err(e)) => Err(UnknownName {
                hint: Some(format!("'{name}' is a CycleGAN name: drop --model pix2pix")),
                ..e
            }),
            (Some(_), Err(e), Err(_)) => Err(e),
            // Neither: list both catalogs, each under its --model value.
            (None, Err(c), Err(p)) => Err(UnknownName {
                kind: c.kind,
                name: c.name,
                valid: format!("{} (cycle_gan); {} (--model pix2pix)", c.valid, p.valid),
                hint: c.hint.or(p.hint),
            }),
        }
    }

    /// Whether `name` is in both catalogs, so that [`Pick::resolve`] without
    /// a family chose the CycleGAN entry over a pix2pix one.
    pub fn in_both(name: &str) -> bool {
        name.parse::<C>().is_ok() && name.parse::<P>().is_ok()
    }
}

/// Every name of two catalogs, CycleGAN's first, each once: what the CLI accepts.
fn union(a: &[&'static str], b: &[&'static str]) -> Vec<&'static str> {
    let mut names = a.to_vec();
    names.extend(b.iter().filter(|n| !a.contains(n)));
    names
}

/// Every dataset name of either catalog.
pub fn dataset_names() -> Vec<&'static str> {
    let c: Vec<_> = Dataset::ALL.iter().map(|d| d.name()).collect();
    let p: Vec<_> = Pix2pixDataset::ALL.iter().map(|d| d.name()).collect();
    union(&c, &p)
}

/// Every model name of either catalog.
pub fn model_names() -> Vec<&'static str> {
    let c: Vec<_> = Model::ALL.iter().map(|m| m.name()).collect();
    let p: Vec<_> = Pix2pixModel::ALL.iter().map(|m| m.name()).collect();
    union(&c, &p)
}
/// Where pytorch-fid publishes its FID Inception weights (a GitHub release); `--base-url`
/// replaces exactly this for [`Model::Inception`].
pub const INCEPTION_BASE_URL: &str =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights";

/// The FID Inception's name in the model list.
const INCEPTION_NAME: &str = "inception";

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

impl Pix2pixDataset {
    /// Name of the downloaded archive, kept beside the dataset folder until
    /// extraction succeeds.
    pub fn archive_file_name(self) -> String {
        format!("{}.tar.gz", self.name())
    }
}

impl AnyDataset {
    /// Name of the downloaded archive.
    pub fn archive_file_name(self) -> String {
        match self {
            Pick::CycleGan(d) => d.zip_file_name(),
            Pick::Pix2pix(d) => d.archive_file_name(),
        }
    }

    /// How the archive is packed.
    pub fn format(self) -> ArchiveFormat {
        match self {
            Pick::CycleGan(_) => ArchiveFormat::Zip,
            Pick::Pix2pix(_) => ArchiveFormat::TarGz,
        }
    }

    /// Folder under the datasets root (also the archive's top folder): the
    /// name, in both catalogs, as upstream's scripts unpack them.
    pub fn dir_name(self) -> &'static str {
        self.name()
    }
}

impl AnyModel {
    /// Checkpoint folder under the checkpoints root: `<name>_pretrained` in
    /// both upstream scripts, so a pix2pix and a CycleGAN model of the same
    /// name share it (the one there first is kept). The FID Inception lies in the root itself.
    pub fn dir_name(self) -> String {
        if self == Pick::CycleGan(Model::Inception) {
            return String::new();
        }
        format!("{}_pretrained", self.name())
    }

    /// File inside [`AnyModel::dir_name`].
    pub fn file_name(self) -> &'static str {
        if self == Pick::CycleGan(Model::Inception) {
            return INCEPTION_FILE_NAME;
        }
        MODEL_FILE_NAME
    }
}

impl Model {
    /// Checkpoint folder under the checkpoints root: `<name>_pretrained`,
    /// the `--name` upstream's `test.py` is then run with.
    pub fn dir_name(self) -> String {
        AnyModel::from(self).dir_name()
    }

    /// File inside [`Model::dir_name`].
    pub fn file_name(self) -> &'static str {
        AnyModel::from(self).file_name()
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
        let m = AnyModel::from(Model::Inception);
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
        for d in Pix2pixDataset::ALL {
            assert_eq!(d.name().parse::<Pix2pixDataset>(), Ok(*d));
        }
        for m in Pix2pixModel::ALL {
            assert_eq!(m.name().parse::<Pix2pixModel>(), Ok(*m));
        }
        assert_eq!(Pix2pixDataset::ALL.len(), 5);
        assert_eq!(Pix2pixModel::ALL.len(), 5);
    }

    #[test]
    fn pix2pix_urls_and_paths_match_the_official_scripts() {
        let p2p = "http://efrosgans.eecs.berkeley.edu/pix2pix";
        for name in [
            "facades",
            "maps",
            "edges2shoes",
            "edges2handbags",
            "night2day",
        ] {
            let d = AnyDataset::resolve(name, Some(Family::Pix2pix)).unwrap();
            let got = (
                d.url(d.default_base_url()),
                d.archive_file_name(),
                d.format(),
            );
            let tgz = format!("{name}.tar.gz");
            assert_eq!(
                got,
                (format!("{p2p}/datasets/{tgz}"), tgz, ArchiveFormat::TarGz)
            );
            assert_eq!(d.dir_name(), name);
        }
        for name in [
            "facades_label2photo",
            "sat2map",
            "map2sat",
            "edges2shoes",
            "day2night",
        ] {
            let m = AnyModel::resolve(name, Some(Family::Pix2pix)).unwrap();
            let got = (m.url(m.default_base_url()), m.dir_name(), m.file_name());
            let dir = format!("{name}_pretrained");
            assert_eq!(
                got,
                (
                    format!("{p2p}/models-pytorch/{name}.pth"),
                    dir,
                    MODEL_FILE_NAME
                )
            );
        }
        // The CycleGAN entries of the shared names keep their own host and paths.
        let maps = AnyDataset::from(Dataset::Maps);
        assert_eq!(
            maps.url(maps.default_base_url()),
            "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/maps.zip"
        );
        assert_eq!(maps.format(), ArchiveFormat::Zip);
        let sat2map = AnyModel::from(Model::Sat2map);
        assert_eq!(
            sat2map.url(sat2map.default_base_url()),
            "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/sat2map.pth"
        );
    }

    #[test]
    fn shared_names_mean_cyclegan_unless_pix2pix_is_asked_for() {
        assert_eq!(
            AnyDataset::resolve("maps", None),
            Ok(Pick::CycleGan(Dataset::Maps))
        );
        assert!(AnyDataset::in_both("maps") && AnyDataset::in_both("facades"));
        assert_eq!(
            AnyDataset::resolve("maps", Some(Family::Pix2pix)),
            Ok(Pick::Pix2pix(Pix2pixDataset::Maps))
        );
        assert_eq!(
            AnyDataset::resolve("facades", Some(Family::CycleGan)),
            Ok(Pick::CycleGan(Dataset::Facades))
        );
        assert_eq!(
            AnyModel::resolve("sat2map", None),
            Ok(Pick::CycleGan(Model::Sat2map))
        );
        assert_eq!(
            AnyModel::resolve("facades_label2photo", Some(Family::Pix2pix)),
            Ok(Pick::Pix2pix(Pix2pixModel::FacadesLabel2photo))
        );
        let shared: Vec<_> = model_names()
            .into_iter()
            .filter(|n| AnyModel::in_both(n))
            .collect();
        assert_eq!(shared, ["sat2map", "map2sat", "facades_label2photo"]);
    }

    #[test]
    fn names_of_one_catalog_need_no_flag_and_refuse_the_other() {
        assert_eq!(
            AnyDataset::resolve("edges2shoes", None),
            Ok(Pick::Pix2pix(Pix2pixDataset::Edges2shoes))
        );
        assert!(!AnyDataset::in_both("edges2shoes"));
        assert_eq!(
            AnyModel::resolve("day2night", None),
            Ok(Pick::Pix2pix(Pix2pixModel::Day2night))
        );
        let msg = AnyDataset::resolve("night2day", Some(Family::CycleGan))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("use --model pix2pix"), "{msg}");
        let msg = AnyModel::resolve("horse2zebra", Some(Family::Pix2pix))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("unknown pix2pix model 'horse2zebra'"),
            "{msg}"
        );
        assert!(msg.contains("drop --model pix2pix"), "{msg}");
    }

    #[test]
    fn unknown_name_lists_both_catalogs() {
        let msg = AnyDataset::resolve("edges2cats", None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("apple2orange"), "{msg}");
        assert!(
            msg.ends_with(
                "night2day, edges2handbags, edges2shoes, facades, maps (--model pix2pix)"
            ),
            "{msg}"
        );
        let msg = AnyDataset::resolve("cityscapes", Some(Family::Pix2pix))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("cityscapes-dataset.com"), "{msg}");
        assert_eq!(dataset_names().len(), 14 + 3);
        // CycleGAN's 18 generators and the FID Inception, and pix2pix's two names of its own.
        assert_eq!(model_names().len(), 19 + 2);
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
