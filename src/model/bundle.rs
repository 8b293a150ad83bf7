//! The model bundle: one file holding a JSON manifest, the ONNX graphs and, optionally, the
//! boosted trees for the median (`TREES`, JSON; stored and checked like a graph) and trees that
//! also read the run's token losses (`TREES_LOSSES`).
//!
//! ```text
//! offset  size  content
//! 0       8     magic  \x89 N N B \r \n \x1a \n
//! 8       4     format version, u32 little-endian
//! 12      8     manifest length M, u64 little-endian
//! 20      32    SHA-256 of the manifest bytes
//! 52      M     manifest, UTF-8 JSON (`Manifest`)
//! 52 + M  ...   graphs, back to back, in the manifest's order; each has its SHA-256 there
//! ```
//! Every byte is covered by a check: the magic, the version, the lengths (the file must end
//! exactly after the last graph), the manifest's hash and each graph's hash. A flipped or missing
//! byte anywhere is an error, never a silently different model.

use crate::error::{BundleError, Result};
use crate::model::architecture::Architecture;
use crate::model::inputs::{FEATURE_SET, LossSummary, SUMMARY_FEATURES, SUMMARY_LAYOUT};
use crate::model::trees::Booster;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const MAGIC: [u8; 8] = *b"\x89NNB\r\n\x1a\n";
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 32;
/// Graph names in a bundle.
pub const FORECASTER: &str = "forecaster";
pub const ENCODER: &str = "loss_encoder";
/// Optional member: boosted trees for the median (`model::trees`), JSON.
pub const TREES: &str = "trees";
/// Optional member beside `TREES`: trees for the median that read the run summary and a
/// summary of the last checkpoint's token losses (`inputs::LossSummary`, named in their
/// layout); the engine uses them for runs given token losses, `TREES` for the others.
pub const TREES_LOSSES: &str = "trees_losses";

/// Everything about a model that is not its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// A short name for the model ("neuneu-default-v1").
    pub name: String,
    pub architecture: Architecture,
    pub preparation: Preparation,
    pub training: TrainingRecord,
    /// Held-out scores: forecaster name -> metric name -> value (e.g. "neuneu" -> "mae").
    pub validation: BTreeMap<String, BTreeMap<String, f64>>,
    /// How the validation scores were obtained (split, context fraction, curves counted).
    pub validation_protocol: String,
    pub graphs: Vec<GraphEntry>,
}

impl Manifest {
    /// The SHA-256 (hex) of the members' names and checksums: two bundles with the same weights
    /// and trees have the same one whatever their names and records say, and two models adapted
    /// from one base to different runs, which share a name, do not.
    pub fn weights_sha256(&self) -> String {
        let mut entries: Vec<&GraphEntry> = self.graphs.iter().collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let text: String = entries
            .iter()
            .map(|g| format!("{} {}\n", g.name, g.sha256))
            .collect();
        sha256_hex(text.as_bytes())
    }
}

/// How requests are turned into graph inputs; the engine refuses bundles it cannot honour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preparation {
    /// Fewest context points a request may have.
    pub min_context: usize,
    /// The feature set's identifier; this library prepares `features::FEATURE_SET`.
    pub feature_set: String,
    /// Human-readable account of the step, accuracy and loss preparation.
    pub description: String,
}

/// What a model learned from and how to reproduce it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The exact command that produced this bundle.
    pub command: String,
    /// Training data: file names, what they hold, their licences.
    pub data: Vec<String>,
    /// What the loss encoder was trained on (real or generated token losses).
    pub loss_inputs: String,
    pub seed: u64,
    /// Free-form facts: epochs, samples, parameter count, seconds, ...
    pub facts: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphEntry {
    pub name: String,
    pub length: u64,
    /// Lower-case hex SHA-256 of the graph's bytes.
    pub sha256: String,
}

/// A decoded, checked bundle: the manifest and each graph's bytes.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    pub graphs: BTreeMap<String, Vec<u8>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Bundle {
    /// Builds a bundle, filling in the graph entries of the manifest.
    pub fn new(mut manifest: Manifest, graphs: Vec<(String, Vec<u8>)>) -> Self {
        manifest.format_version = FORMAT_VERSION;
        manifest.graphs = graphs
            .iter()
            .map(|(n, b)| GraphEntry {
                name: n.clone(),
                length: b.len() as u64,
                sha256: sha256_hex(b),
            })
            .collect();
        Bundle {
            manifest,
            graphs: graphs.into_iter().collect(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let manifest = serde_json::to_vec_pretty(&self.manifest).expect("manifest serialises");
        let mut out = Vec::with_capacity(HEADER_LEN + manifest.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&manifest));
        out.extend_from_slice(&manifest);
        for g in &self.manifest.graphs {
            out.extend_from_slice(&self.graphs[&g.name]);
        }
        out
    }

    /// Decodes and checks a bundle: structure, hashes, and that the manifest holds together.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            return Err(BundleError::BadMagic.into());
        }
        if bytes.len() < HEADER_LEN {
            return Err(BundleError::Truncated(format!(
                "{} bytes, header needs {HEADER_LEN}",
                bytes.len()
            ))
            .into());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            }
            .into());
        }
        let mlen = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let rest = (bytes.len() - HEADER_LEN) as u64;
        if mlen > rest {
            return Err(
                BundleError::Truncated(format!("manifest of {mlen} bytes, {rest} left")).into(),
            );
        }
        let mend = HEADER_LEN + mlen as usize;
        let manifest_bytes = &bytes[HEADER_LEN..mend];
        if Sha256::digest(manifest_bytes).as_slice() != &bytes[20..52] {
            return Err(BundleError::Checksum("manifest".into()).into());
        }
        let manifest: Manifest = serde_json::from_slice(manifest_bytes)
            .map_err(|e| BundleError::Manifest(format!("not a valid manifest: {e}")))?;
        if manifest.format_version != version {
            return Err(
                BundleError::Manifest("format version disagrees with the header".into()).into(),
            );
        }
        let mut graphs = BTreeMap::new();
        let mut at = mend;
        for g in &manifest.graphs {
            let left = (bytes.len() - at) as u64;
            if g.length > left {
                return Err(BundleError::Truncated(format!(
                    "graph {} needs {} bytes, {left} left",
                    g.name, g.length
                ))
                .into());
            }
            let body = &bytes[at..at + g.length as usize];
            if sha256_hex(body) != g.sha256 {
                return Err(BundleError::Checksum(format!("graph {}", g.name)).into());
            }
            if graphs.insert(g.name.clone(), body.to_vec()).is_some() {
                return Err(BundleError::Manifest(format!("graph {} listed twice", g.name)).into());
            }
            at += g.length as usize;
        }
        if at != bytes.len() {
            return Err(BundleError::Manifest(format!(
                "{} unexpected bytes after the last graph",
                bytes.len() - at
            ))
            .into());
        }
        let bundle = Bundle { manifest, graphs };
        bundle.check_consistency()?;
        Ok(bundle)
    }

    /// The trees member, read and checked (`Booster::from_json`), if there is one.
    pub fn trees(&self) -> Result<Option<Booster>> {
        self.graphs
            .get(TREES)
            .map(|t| {
                Ok(Booster::from_json(
                    t,
                    TREES,
                    SUMMARY_LAYOUT,
                    SUMMARY_FEATURES,
                )?)
            })
            .transpose()
    }

    /// The loss trees member, read and checked, with the loss summary its layout names, if
    /// there is one.
    pub fn loss_trees(&self) -> Result<Option<(Booster, LossSummary)>> {
        let Some(bytes) = self.graphs.get(TREES_LOSSES) else {
            return Ok(None);
        };
        let layout = Booster::layout_of(bytes, TREES_LOSSES)?;
        let kind = LossSummary::from_layout(&layout).ok_or_else(|| BundleError::Member {
            member: TREES_LOSSES.into(),
            reason: format!(
                "fitted on the layout {layout:?}; this library computes {}",
                LossSummary::ALL
                    .map(|k| format!("{:?}", k.layout()))
                    .join(" or ")
            ),
        })?;
        let trees = Booster::from_json(
            bytes,
            TREES_LOSSES,
            &kind.layout(),
            SUMMARY_FEATURES + kind.width(),
        )?;
        Ok(Some((trees, kind)))
    }

    fn check_consistency(&self) -> Result<()> {
        let m = &self.manifest;
        m.architecture
            .validate()
            .map_err(|e| BundleError::Manifest(e.to_string()))?;
        if m.preparation.feature_set != FEATURE_SET {
            return Err(BundleError::Manifest(format!(
                "feature set `{}` (this library prepares `{}`)",
                m.preparation.feature_set, FEATURE_SET
            ))
            .into());
        }
        if m.preparation.min_context == 0 || m.preparation.min_context > m.architecture.max_context
        {
            return Err(
                BundleError::Manifest("min_context must lie in 1..=max_context".into()).into(),
            );
        }
        if !self.graphs.contains_key(FORECASTER) {
            return Err(BundleError::Manifest("no forecaster graph".into()).into());
        }
        let has_encoder = self.graphs.contains_key(ENCODER);
        if has_encoder != m.architecture.encoder.is_some() {
            return Err(
                BundleError::Manifest("encoder graph and architecture disagree".into()).into(),
            );
        }
        // Runs without token losses need the plain trees beside the loss trees.
        if self.loss_trees()?.is_some() && self.trees()?.is_none() {
            return Err(BundleError::Manifest(format!("{TREES_LOSSES} without {TREES}")).into());
        }
        self.trees()?;
        if let Some(other) = self
            .graphs
            .keys()
            .find(|k| ![FORECASTER, ENCODER, TREES, TREES_LOSSES].contains(&k.as_str()))
        {
            return Err(BundleError::Manifest(format!("unknown graph {other}")).into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tiny_manifest() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            name: "t".into(),
            architecture: Architecture {
                encoder: None,
                ..Architecture::small()
            },
            preparation: Preparation {
                min_context: 2,
                feature_set: FEATURE_SET.into(),
                description: String::new(),
            },
            training: TrainingRecord::default(),
            validation: BTreeMap::new(),
            validation_protocol: String::new(),
            graphs: vec![],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_flipped_or_missing_byte() {
        let b = Bundle::new(
            tiny_manifest(),
            vec![(FORECASTER.into(), b"graph-bytes".to_vec())],
        );
        let bytes = b.to_bytes();
        let back = Bundle::from_bytes(&bytes).unwrap();
        assert_eq!(back.manifest, b.manifest);
        assert_eq!(back.graphs, b.graphs);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(Bundle::from_bytes(&bad).is_err(), "flip at {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(
                Bundle::from_bytes(&bytes[..n]).is_err(),
                "truncation to {n} accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Bundle::from_bytes(&longer).is_err());
    }

    #[test]
    fn loss_trees_need_plain_trees_and_a_known_layout() {
        use crate::model::trees::Node;
        let trees = |layout: &str, features: usize| Booster {
            features,
            summary: layout.into(),
            base: 0.0,
            trees: vec![vec![Node::Leaf(0.1)]],
        };
        let plain = (
            TREES.to_string(),
            trees(SUMMARY_LAYOUT, SUMMARY_FEATURES).to_json(),
        );
        let forecaster = (FORECASTER.to_string(), b"graph".to_vec());
        let read = |members: Vec<(String, Vec<u8>)>| {
            Bundle::from_bytes(&Bundle::new(tiny_manifest(), members).to_bytes())
        };
        for kind in LossSummary::ALL {
            let loss = (
                TREES_LOSSES.to_string(),
                trees(&kind.layout(), SUMMARY_FEATURES + kind.width()).to_json(),
            );
            let b = read(vec![forecaster.clone(), plain.clone(), loss.clone()]).unwrap();
            assert_eq!(b.loss_trees().unwrap().unwrap().1, kind);
            let alone = read(vec![forecaster.clone(), loss])
                .unwrap_err()
                .to_string();
            assert!(alone.contains("trees_losses without trees"), "{alone}");
        }
        for (layout, width, want) in [
            (
                "run-summary-v1+mean-p-v9",
                9,
                "fitted on the layout \"run-summary-v1+mean-p-v9\"",
            ),
            (
                &LossSummary::MeanP.layout(),
                13,
                "trees read 13 features, not 9",
            ),
        ] {
            let loss = (TREES_LOSSES.to_string(), trees(layout, width).to_json());
            let e = read(vec![forecaster.clone(), plain.clone(), loss])
                .unwrap_err()
                .to_string();
            assert!(e.contains("trees_losses") && e.contains(want), "{e}");
        }
    }

    #[test]
    fn errors_are_typed() {
        use crate::Error;
        let b = Bundle::new(tiny_manifest(), vec![(FORECASTER.into(), vec![1, 2, 3])]).to_bytes();
        let mut v = b.clone();
        v[8] = 9;
        assert!(matches!(
            Bundle::from_bytes(&v),
            Err(Error::Bundle(BundleError::UnsupportedVersion {
                found: 9,
                ..
            }))
        ));
        assert!(matches!(
            Bundle::from_bytes(b"nope"),
            Err(Error::Bundle(BundleError::BadMagic))
        ));
        let mut g = b.clone();
        *g.last_mut().unwrap() ^= 1;
        assert!(matches!(
            Bundle::from_bytes(&g),
            Err(Error::Bundle(BundleError::Checksum(_)))
        ));
    }
}
