//! A manifest, readable by a person (`neuneu inspect`).

use crate::model::bundle::Manifest;
use std::fmt::Write;

pub fn describe_manifest(m: &Manifest) -> String {
    let a = &m.architecture;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "model        {}  (bundle format {})",
        m.name, m.format_version
    );
    let _ = writeln!(
        s,
        "forecaster   d_model {}, {} layers, {} heads, FF {}, context up to {} points{}",
        a.d_model,
        a.layers,
        a.heads,
        a.ff,
        a.max_context,
        if a.summary > 0 {
            format!(", summary path of {}", a.summary)
        } else {
            String::new()
        }
    );
    match &a.encoder {
        Some(e) => {
            let _ = writeln!(
                s,
                "loss encoder {:?} of {} values, channels {:?}, kernel {}, stride {}, padding {}, {} groups",
                e.representation, e.loss_len, e.channels, e.kernel, e.stride, e.padding, e.groups
            );
        }
        None => {
            let _ = writeln!(s, "loss encoder none (forecasts from curves only)");
        }
    }
    let _ = writeln!(s, "levels       {:?}", a.quantile_levels);
    let _ = writeln!(
        s,
        "min context  {} points; features {}",
        m.preparation.min_context, m.preparation.feature_set
    );
    let _ = writeln!(s, "trained by   {}", m.training.command);
    for d in &m.training.data {
        let _ = writeln!(s, "  data       {d}");
    }
    let _ = writeln!(s, "  losses     {}", m.training.loss_inputs);
    for (k, v) in &m.training.facts {
        let _ = writeln!(s, "  {k:<22} {v}");
    }
    if !m.validation.is_empty() {
        let _ = writeln!(s, "validation   {}", m.validation_protocol);
        for (who, metrics) in &m.validation {
            let row: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            let _ = writeln!(s, "  {who:<22} {}", row.join(", "));
        }
    }
    for g in &m.graphs {
        let _ = writeln!(
            s,
            "graph        {} ({} bytes, sha256 {})",
            g.name,
            g.length,
            &g.sha256[..16]
        );
    }
    s
}
