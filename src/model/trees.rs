//! The bundle's optional `trees` member: gradient-boosted regression trees for the median
//! (absolute loss) of a target's offset from the last observed value, read from the run summary
//! of `inference::summary`. Where a bundle has them, the engine moves the network's quantiles so
//! that their median is the trees' (the network keeps the band shapes). Fitting them is the
//! job of `adapt::trees`; this module is their stored form, the checks a bundle's trees
//! pass at load, and the walk that evaluates them.

use crate::error::BundleError;
use serde::{Deserialize, Serialize};

/// The summary layout of trees stored before the layout was recorded (every such bundle was
/// fitted on it).
fn first_layout() -> String {
    "run-summary-v1".into()
}

/// Stored compactly (a leaf is a number, a split an array): the default model's 300 trees take
/// about 400 KB of JSON this way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Node {
    Leaf(f64),
    /// (feature, threshold, left, right): rows with `x[feature] <= threshold` go to `left`.
    Split(usize, f64, usize, usize),
}

/// A trained ensemble: `base` plus the sum of its trees' leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booster {
    /// The width of the rows it reads.
    pub(crate) features: usize,
    /// The summary layout the rows were made with (`inference::summary::SUMMARY_LAYOUT` when
    /// fitted by this library).
    #[serde(default = "first_layout")]
    pub(crate) summary: String,
    pub(crate) base: f64,
    pub(crate) trees: Vec<Vec<Node>>,
}

impl Booster {
    /// The bundle member's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("trees serialise")
    }

    /// Reads a bundle member, checking that it reads `layout` rows of `features` values and
    /// that every tree is well formed: finite numbers, features within `features`, children
    /// after their parent and inside the tree (so every walk ends).
    pub fn from_json(
        bytes: &[u8],
        member: &str,
        layout: &str,
        features: usize,
    ) -> Result<Booster, BundleError> {
        let bad = |reason: String| BundleError::Member {
            member: member.into(),
            reason,
        };
        let b: Booster =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not trees: {e}")))?;
        if b.summary != layout {
            return Err(bad(format!(
                "fitted on the run summary {:?}; this library computes {layout:?}",
                b.summary
            )));
        }
        if b.features != features {
            return Err(bad(format!(
                "trees read {} features, not {features}",
                b.features
            )));
        }
        if !b.base.is_finite() {
            return Err(bad("a non-finite base".into()));
        }
        for (t, tree) in b.trees.iter().enumerate() {
            if tree.is_empty() {
                return Err(bad(format!("tree {t} is empty")));
            }
            for (i, node) in tree.iter().enumerate() {
                let ok = match *node {
                    Node::Leaf(v) => v.is_finite(),
                    Node::Split(feature, threshold, left, right) => {
                        feature < features
                            && !threshold.is_nan()
                            && left > i
                            && right > i
                            && left < tree.len()
                            && right < tree.len()
                    }
                };
                if !ok {
                    return Err(bad(format!("tree {t}, node {i} is malformed")));
                }
            }
        }
        Ok(b)
    }

    /// The summary layout a bundle member's trees were fitted on, to choose how to read them.
    pub fn layout_of(bytes: &[u8], member: &str) -> Result<String, BundleError> {
        #[derive(Deserialize)]
        struct Layout {
            #[serde(default = "first_layout")]
            summary: String,
        }
        serde_json::from_slice::<Layout>(bytes)
            .map(|l| l.summary)
            .map_err(|e| BundleError::Member {
                member: member.into(),
                reason: format!("not trees: {e}"),
            })
    }

    /// The fitted median for one row of the training width.
    pub fn predict(&self, row: &[f64]) -> f64 {
        debug_assert_eq!(row.len(), self.features);
        self.base
            + self
                .trees
                .iter()
                .map(|t| leaf_of(t, |f| row[f]))
                .sum::<f64>()
    }
}

/// The value of the leaf a row falls in.
pub(crate) fn leaf_of(tree: &[Node], value: impl Fn(usize) -> f64) -> f64 {
    let mut i = 0;
    loop {
        match tree[i] {
            Node::Leaf(v) => return v,
            Node::Split(feature, threshold, left, right) => {
                i = if value(feature) <= threshold {
                    left
                } else {
                    right
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: &str = "run-summary-v1";

    /// One tree of one split on a one-feature row: 0.5 below 0.3, 1.5 above.
    fn small_booster() -> Booster {
        Booster {
            features: 1,
            summary: LAYOUT.into(),
            base: 0.25,
            trees: vec![vec![
                Node::Split(0, 0.3, 1, 2),
                Node::Leaf(0.25),
                Node::Leaf(1.25),
            ]],
        }
    }

    #[test]
    fn a_walk_adds_the_leaves_to_the_base() {
        let b = small_booster();
        assert_eq!(b.predict(&[0.1]), 0.5);
        assert_eq!(b.predict(&[0.3]), 0.5);
        assert_eq!(b.predict(&[0.9]), 1.5);
    }

    #[test]
    fn trees_round_trip_and_malformed_ones_are_refused() {
        let b = small_booster();
        let bytes = b.to_json();
        assert_eq!(Booster::from_json(&bytes, "trees", LAYOUT, 1).unwrap(), b);
        let err = |bytes: &[u8], layout: &str, width: usize| {
            Booster::from_json(bytes, "trees", layout, width)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&bytes, LAYOUT, 2).contains("features"));
        assert!(err(b"{", LAYOUT, 1).contains("not trees"));
        let other = err(&bytes, "run-summary-v2", 1);
        assert!(
            other.contains("run-summary-v1") && other.contains("run-summary-v2"),
            "{other}"
        );
        // Trees stored before the layout was recorded were fitted on the first one.
        let old = String::from_utf8(bytes.clone())
            .unwrap()
            .replace(",\"summary\":\"run-summary-v1\"", "");
        assert!(!old.contains("summary"), "{old}");
        assert_eq!(
            Booster::from_json(old.as_bytes(), "trees", LAYOUT, 1).unwrap(),
            b
        );
        // A child pointing back at its parent would loop forever: refused.
        let mut cyclic = b.clone();
        if let Node::Split(_, _, left, _) = &mut cyclic.trees[0][0] {
            *left = 0;
        }
        let e = err(&cyclic.to_json(), LAYOUT, 1);
        assert!(e.contains("tree 0, node 0"), "{e}");
        let mut wide = b.clone();
        if let Node::Split(feature, _, _, _) = &mut wide.trees[0][0] {
            *feature = 1;
        }
        assert!(Booster::from_json(&wide.to_json(), "trees", LAYOUT, 1).is_err());
    }
}
