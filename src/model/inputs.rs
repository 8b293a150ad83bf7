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
