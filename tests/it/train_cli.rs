//! `neuneu-train` end to end on tiny generated data: curves plus real-format token-loss files
//! (`.npy` per checkpoint, listed in an index CSV) -> a bundle the engine loads and uses.
//! Built with features `train` and `cli` (cargo builds `neuneu-train` with both).

use crate::common::{run_exe, scratch_dir};
use neuneu::{Engine, Losses, RunInput};

/// Runs `neuneu-train` with `args` and fails the test, with its stderr, if it fails.
fn neuneu_train(args: &[&std::ffi::OsStr]) {
    let (code, _, err) = run_exe(env!("CARGO_BIN_EXE_neuneu-train"), args, "");
    assert_eq!(code, 0, "{err}");
}

/// Trains on `curves` with the losses of `index` into `out`, with `extra` options.
fn train_with_losses(
    curves: &std::path::Path,
    index: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) {
    let mut args = vec![
        curves.as_os_str(),
        "--losses".as_ref(),
        index.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    neuneu_train(&args);
}

/// The losses layout `shakespeare-lm-dev` ships: float16 `.npy` files named by a JSON index
/// `{run: {compute: file}}` with no suite. Every checkpoint of the curves finds its vector; an
/// index entry for a run the curves do not have is not read.
#[test]
fn trains_with_a_json_index_of_float16_losses() {
    let dir = scratch_dir("train-cli-json-index");
    let mut csv = String::from("suite,run,shots,task,step,tokens,acc\n");
    let mut index = serde_json::Map::new();
    for r in 0..6 {
        let mut files = serde_json::Map::new();
        for k in 1..=8 {
            let tokens = k * 1000;
            let acc = 0.3 + 0.05 * r as f64 * (k as f64).ln() / 3.0;
            csv.push_str(&format!("toy,r{r},0,a,{k},{tokens},{acc:.4}\n"));
            let losses: Vec<f32> = (0..300)
                .map(|i| ((i * 7 + r * 3 + k) % 40) as f32 * 0.1)
                .collect();
            let name = format!("r{r}_step{k}.npy");
            neuneu::io::npy::write_npy_f16(dir.join(&name), &losses).unwrap();
            files.insert(tokens.to_string(), name.into());
        }
        index.insert(format!("r{r}"), files.into());
    }
    // A run the curves do not have, whose file does not even exist.
    index.insert(
        "elsewhere".into(),
        serde_json::json!({"1000": "missing.npy"}),
    );
    std::fs::write(dir.join("curves.csv"), csv).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::Value::from(index).to_string(),
    )
    .unwrap();
    let out = dir.join("toy.nnb");
    let (curves, index) = (dir.join("curves.csv"), dir.join("index.json"));
    train_with_losses(
        &curves,
        &index,
        &out,
        &[
            "--steps",
            "2",
            "--batch",
            "8",
            "--quiet",
            "--layers",
            "1",
            "--d-model",
            "32",
        ],
    );
    let m = Engine::from_path(&out).unwrap().manifest().clone();
    assert!(
        m.training.loss_inputs.contains("48 real loss vectors"),
        "{}",
        m.training.loss_inputs
    );
}

#[test]
fn trains_on_curves_and_loss_files_and_the_bundle_forecasts() {
    let dir = scratch_dir("train-cli");
    let mut csv = String::from("suite,run,shots,task,step,tokens,acc\n");
    let mut index = String::from("suite,run,step,path\n");
    for r in 0..6 {
        for k in 1..=8 {
            let tokens = k * 1000;
            let acc = 0.3 + 0.05 * r as f64 * (k as f64).ln() / 3.0;
            for task in ["a", "b"] {
                csv.push_str(&format!("toy,r{r},0,{task},{k},{tokens},{acc:.4}\n"));
            }
            let losses: Vec<f32> = (0..300)
                .map(|i| ((i * 7 + r * 3 + k) % 40) as f32 * 0.1)
                .collect();
            let name = format!("r{r}-{k}.npy");
            neuneu::io::npy::write_npy_f32(dir.join(&name), &losses).unwrap();
            index.push_str(&format!("toy,r{r},{tokens},{name}\n"));
        }
    }
    std::fs::write(dir.join("curves.csv"), csv).unwrap();
    std::fs::write(dir.join("index.csv"), index).unwrap();
    let out = dir.join("toy.nnb");
    let (curves, index) = (dir.join("curves.csv"), dir.join("index.csv"));
    train_with_losses(
        &curves,
        &index,
        &out,
        &[
            "--steps",
            "4",
            "--batch",
            "8",
            "--quiet",
            "--holdout",
            "1/3",
            "--prior-share",
            "0.3",
            "--summary",
            "6",
            "--layers",
            "1",
            "--d-model",
            "32",
            "--suite-balance",
            "0.5",
        ],
    );
    let engine = Engine::from_path(&out).unwrap();
    let m = engine.manifest();
    assert!(
        m.training.loss_inputs.contains("48 real loss vectors"),
        "{}",
        m.training.loss_inputs
    );
    assert!(m.training.command.contains("--losses"));
    assert_eq!(m.training.facts["validation_fold"], "1/3");
    assert_eq!(m.training.facts["prior_share"], 0.3);
    assert_eq!(m.training.facts["suite_balance"], 0.5);
    // The size overrides replaced the small preset's 2 layers of width 64 (FF 128).
    let a = &m.architecture;
    assert_eq!((a.layers, a.d_model, a.ff), (1, 32, 64));
    // The bands were calibrated on the held-out fold, and the factors are in the graph itself.
    let factors = m.training.facts["interval_calibration"].as_array().unwrap();
    assert_eq!(factors.len(), 5);
    assert_eq!(factors[2], 1.0);
    let bundle = neuneu::model::bundle::Bundle::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let graph =
        neuneu::model::onnx::weights_from_graph(&bundle.graphs[neuneu::model::bundle::FORECASTER])
            .unwrap();
    // The summary path is in the architecture and its trained weights in the graph.
    assert_eq!(m.architecture.summary, 6);
    assert_eq!(graph.get("summary.fc1.weight").unwrap().shape, [6, 8]);
    assert_eq!(graph.get("summary.fc2.weight").unwrap().shape, [5, 6]);
    let in_graph = &graph
        .get(neuneu::model::onnx::export::INCREMENT_SCALE)
        .unwrap()
        .data;
    for (f, g) in factors.iter().zip(in_graph) {
        assert!(
            (f.as_f64().unwrap() - *g as f64).abs() < 0.006,
            "{factors:?} vs {in_graph:?}"
        );
    }
    assert!(
        m.validation_protocol.contains("fold 1 of 3"),
        "{}",
        m.validation_protocol
    );
    assert!(
        m.validation.contains_key("neuneu/all"),
        "{:?}",
        m.validation
    );
    let losses = neuneu::io::npy::read_npy_f32(dir.join("r1-3.npy")).unwrap();
    let f = engine
        .forecast(&[
            RunInput::new(&[1000.0, 2000.0, 3000.0], &[0.3, 0.32, 0.33], &[8000.0])
                .with_losses(Losses::Tokens(&losses)),
        ])
        .unwrap();
    assert_eq!(f[0].forecasts[0].quantiles.len(), 5);

    // Trees added to the trained network: the median moves, the bands keep their widths.
    let with_trees = dir.join("toy-trees.nnb");
    neuneu_train(&[
        curves.as_os_str(),
        "--trees-for".as_ref(),
        out.as_os_str(),
        "-o".as_ref(),
        with_trees.as_os_str(),
        "--quiet".as_ref(),
    ]);
    let treed = Engine::from_path(&with_trees).unwrap();
    let facts = &treed.manifest().training.facts;
    // Every cut of the 8 training curves (4 runs x 2 tasks): cuts 3..=7, each with its targets.
    assert_eq!(facts["trees_rows"], 8 * (5 + 4 + 3 + 2 + 1));
    assert!(
        facts["trees_command"]
            .as_str()
            .unwrap()
            .contains("--trees-for")
    );
    // The network is the toy's, unchanged; its held-out split is kept.
    assert_eq!(treed.manifest().training.command, m.training.command);
    assert!(treed.manifest().validation_protocol.contains("fold 1 of 3"));
    let run = [RunInput::new(
        &[1000.0, 2000.0, 3000.0],
        &[0.3, 0.32, 0.33],
        &[8000.0],
    )];
    let (plain, moved) = (
        &engine.forecast(&run).unwrap()[0],
        &treed.forecast(&run).unwrap()[0],
    );
    let (p, q) = (&plain.forecasts[0].quantiles, &moved.forecasts[0].quantiles);
    for j in [0, 1, 3, 4] {
        assert!(
            ((q[j] - q[2]) - (p[j] - p[2])).abs() < 1e-5,
            "{p:?} vs {q:?}"
        );
    }
    assert_ne!(p[2], q[2]);
    // And the median is the trees' own forecast for this context.
    let member =
        neuneu::model::bundle::Bundle::from_bytes(&std::fs::read(&with_trees).unwrap()).unwrap();
    let trees = neuneu::model::trees::Booster::from_json(
        &member.graphs[neuneu::model::bundle::TREES],
        neuneu::model::bundle::TREES,
        neuneu::model::inputs::SUMMARY_LAYOUT,
        neuneu::model::inputs::SUMMARY_FEATURES,
    )
    .unwrap();
    let summary =
        neuneu::inference::summary::RunSummary::new(&[1000.0, 2000.0, 3000.0], &[0.3, 0.32, 0.33]);
    let want = 0.33 + trees.predict(&summary.at(8000.0));
    assert!((f64::from(q[2]) - want).abs() < 1e-6, "{q:?} vs {want}");
}

#[test]
fn trains_on_a_loss_file_in_the_model_space_and_refuses_a_negative_loss() {
    let dir = scratch_dir("train-cli-loss");
    let mut csv = String::from("suite,run,shots,task,step,tokens,acc\n");
    for r in 0..6 {
        for k in 1..=8 {
            // Validation losses in nats, falling from about 4.5, all above 1: read as a bounded
            // metric, every one of them would be refused.
            let loss = 4.5 - (0.2 + 0.05 * r as f64) * (k as f64).ln();
            csv.push_str(&format!("toy,r{r},0,val_loss,{k},{},{loss:.4}\n", k * 1000));
        }
    }
    let curves = dir.join("val-loss.csv");
    std::fs::write(&curves, &csv).unwrap();
    let out = dir.join("loss.nnb");
    let common = [
        "--losses",
        "none",
        "--steps",
        "2",
        "--batch",
        "4",
        "--quiet",
        "--layers",
        "1",
        "--d-model",
        "32",
        "--no-calibrate",
    ]
    .map(std::ffi::OsStr::new);
    let mut args = vec![curves.as_os_str(), "-o".as_ref(), out.as_os_str()];
    args.extend(common);
    args.extend(["--metric", "loss"].map(std::ffi::OsStr::new));
    let (code, _, err) = run_exe(env!("CARGO_BIN_EXE_neuneu-train"), &args, "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("training on exp(-v) in [0, 1]"), "{err}");
    let m = Engine::from_path(&out).unwrap().manifest().clone();
    assert!(
        m.training.data[0].contains("loss, minimized: trained as exp(-v)"),
        "{:?}",
        m.training.data
    );

    // Without --metric the file is refused, as is a negative loss with it: file, line, value.
    let mut args = vec![curves.as_os_str(), "-o".as_ref(), out.as_os_str()];
    args.extend(common);
    let (code, _, err) = run_exe(env!("CARGO_BIN_EXE_neuneu-train"), &args, "");
    assert_ne!(code, 0);
    assert!(
        err.contains("val-loss.csv: line 2: `acc`: 4.5 is outside [0, 1]"),
        "{err}"
    );
    std::fs::write(&curves, csv.replacen(",4.5000\n", ",-0.1000\n", 1)).unwrap();
    args.extend(["--metric", "loss"].map(std::ffi::OsStr::new));
    let (code, _, err) = run_exe(env!("CARGO_BIN_EXE_neuneu-train"), &args, "");
    assert_ne!(code, 0);
    assert!(
        err.contains("val-loss.csv: line 2: `acc`: -0.1 is negative"),
        "{err}"
    );
}
