//! What a bundle's graphs and trees read, with the names that bundles record, so that a bundle
//! made for other inputs is refused at load instead of read wrongly. The numbers themselves are
//! computed in `inference::features` (the graphs') and `inference::summary` (the trees').

/// Width of one context point's feature vector in the forecaster graph.
pub const CONTEXT_FEATURES: usize = 8;
/// Identifies the forecaster's feature preparation in bundle manifests; a change of any feature
/// bumps it.
pub const FEATURE_SET: &str = "log-ratio-powerlaw-v2";
/// Summary numbers of one (context, target) pair: the width of the trees' rows.
pub const SUMMARY_FEATURES: usize = 8;
/// Identifies the run summary the trees read, recorded in the trees; a change of any number or
/// of their order bumps it.
pub const SUMMARY_LAYOUT: &str = "run-summary-v1";

/// What the bundle's loss trees (`model::bundle::TREES_LOSSES`) read of a run's token losses,
/// beside the run summary: numbers of the probabilities `p = exp(-loss)` of its last
/// checkpoint. The two representations of the paper that trees can use without the target's
/// own losses: its AVERAGE (the mean probability) and the histogram behind its HISTDIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossSummary {
    /// The mean of `p`: one number.
    MeanP,
    /// The share of tokens in each of [`P_HISTOGRAM_BINS`] equal bins of `p` over (0, 1].
    PHistogram,
}

/// Bins of [`LossSummary::PHistogram`].
pub const P_HISTOGRAM_BINS: usize = 5;
/// The widest loss summary ([`LossSummary::width`] of any kind).
pub const MAX_LOSS_SUMMARY: usize = P_HISTOGRAM_BINS;

impl LossSummary {
    pub const ALL: [LossSummary; 2] = [LossSummary::MeanP, LossSummary::PHistogram];

    /// The name users give (`neuneu adapt --loss-summary`) and manifests record.
    pub fn name(self) -> &'static str {
        match self {
            LossSummary::MeanP => "mean-p",
            LossSummary::PHistogram => "p-histogram",
        }
    }

    pub fn from_name(name: &str) -> Option<LossSummary> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How many numbers it adds to the run summary (at most [`MAX_LOSS_SUMMARY`]).
    pub fn width(self) -> usize {
        match self {
            LossSummary::MeanP => 1,
            LossSummary::PHistogram => P_HISTOGRAM_BINS,
        }
    }

    /// The layout loss trees record: the run summary's, then this summary's (versioned with
    /// it, so that trees fitted on another definition are refused at load).
    pub fn layout(self) -> String {
        format!("{SUMMARY_LAYOUT}+{}-v1", self.name())
    }

    pub fn from_layout(layout: &str) -> Option<LossSummary> {
        Self::ALL.into_iter().find(|k| k.layout() == layout)
    }
}
