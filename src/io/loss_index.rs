//! Index files naming the token-loss `.npy` file of each checkpoint, in two layouts:
//!
//! - CSV, `suite,run,step,path` with a header line (what `neuneu-train --losses` has read since
//!   its first version): `step` on the curves' compute axis;
//! - JSON, `{run: {compute: file}}`, as `shakespeare-lm-dev/losses/index.json` ships: no suite,
//!   so an entry applies to the run of that name in any suite.
//!
//! Paths are relative to the index file's folder. A JSON index is recognised by its first
//! non-blank character, `{`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One checkpoint's losses file.
#[derive(Debug, Clone, PartialEq)]
pub struct LossFile {
    /// The suite, where the index names one (CSV); `None` matches any suite (JSON).
    pub suite: Option<String>,
    pub run: String,
    /// The checkpoint on the curves' compute axis.
    pub compute: f64,
    /// The `.npy` file, joined to the index's folder.
    pub path: PathBuf,
}

impl LossFile {
    /// Whether this entry can be a checkpoint of `suite` (a JSON entry names no suite: any).
    pub fn in_suite(&self, suite: &str) -> bool {
        self.suite.as_deref().is_none_or(|s| s == suite)
    }
}

/// Reads an index (either layout); files are named, not read. Entries come in the file's order
/// (JSON: by run, then by compute).
pub fn read_loss_index(path: impl AsRef<Path>) -> Result<Vec<LossFile>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let bad =
        |line: usize, what: String| Error::Parse(format!("{}:{line}: {what}", path.display()));
    if text.trim_start().starts_with('{') {
        return parse_json(&text, dir)
            .map_err(|what| Error::Parse(format!("{}: {what}", path.display())));
    }
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 4 {
            return Err(bad(i + 1, "expected suite,run,step,path".into()));
        }
        let compute = number(f[2]).ok_or_else(|| bad(i + 1, format!("bad step {:?}", f[2])))?;
        entries.push(LossFile {
            suite: Some(f[0].to_string()),
            run: f[1].to_string(),
            compute,
            path: dir.join(f[3]),
        });
    }
    Ok(entries)
}

/// A finite, non-negative compute value.
fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

fn parse_json(text: &str, dir: &Path) -> std::result::Result<Vec<LossFile>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON loss index: {e}"))?;
    let runs = value
        .as_object()
        .ok_or("a JSON loss index is an object {run: {compute: file}}")?;
    let mut entries = Vec::new();
    for (run, checkpoints) in runs {
        let checkpoints = checkpoints
            .as_object()
            .ok_or_else(|| format!("run {run:?}: expected an object {{compute: file}}"))?;
        let mut sorted: Vec<(f64, &str)> = Vec::with_capacity(checkpoints.len());
        for (compute, file) in checkpoints {
            let c =
                number(compute).ok_or_else(|| format!("run {run:?}: bad compute {compute:?}"))?;
            let f = file.as_str().ok_or_else(|| {
                format!("run {run:?}, compute {compute}: the file is not a string")
            })?;
            sorted.push((c, f));
        }
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        entries.extend(sorted.into_iter().map(|(compute, f)| LossFile {
            suite: None,
            run: run.clone(),
            compute,
            path: dir.join(f),
        }));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("neuneu-loss-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn both_layouts_read_to_the_same_entries() {
        let csv = write(
            "i.csv",
            "suite,run,step,path\ns,lm0,10,a.npy\ns,lm0,2.5e1,b.npy\n",
        );
        let json = write("i.json", r#"{"lm0": {"25": "b.npy", "10": "a.npy"}}"#);
        let (c, j) = (
            read_loss_index(&csv).unwrap(),
            read_loss_index(&json).unwrap(),
        );
        let dir = csv.parent().unwrap();
        assert_eq!(c.len(), 2);
        for (c, j) in c.iter().zip(&j) {
            assert_eq!((&c.run, c.compute, &c.path), (&j.run, j.compute, &j.path));
            assert_eq!(c.suite.as_deref(), Some("s"));
            assert_eq!(j.suite, None);
        }
        assert_eq!(j[0].path, dir.join("a.npy"));
        // A JSON entry matches its run in any suite; a CSV entry only in its own.
        assert!(j[1].in_suite("other") && j[1].in_suite("s"));
        assert!(c[0].in_suite("s") && !c[0].in_suite("other"));
    }

    #[test]
    fn malformed_indexes_are_refused_with_where() {
        for (name, text, want) in [
            (
                "a.csv",
                "suite,run,step,path\ns,r,x,a.npy\n",
                ":2: bad step \"x\"",
            ),
            (
                "b.csv",
                "suite,run,step,path\ns,r,1\n",
                ":2: expected suite,run,step,path",
            ),
            ("c.json", "{\"r\": [1]}", "run \"r\": expected an object"),
            (
                "d.json",
                "{\"r\": {\"-1\": \"a.npy\"}}",
                "run \"r\": bad compute \"-1\"",
            ),
            ("e.json", "{\"r\": {\"1\": 2}}", "the file is not a string"),
            ("f.json", "{\"r\": ", "not a JSON loss index"),
        ] {
            let e = read_loss_index(write(name, text)).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(name), "{name}: {e}");
        }
    }
}
