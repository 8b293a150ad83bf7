//! Token-loss preparation: the bytes as a `.npy` file (`npy::parse_npy_f32`), and as raw f32
//! losses through `features::validate_losses` + `prepare_losses` with both representations.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu::inference::features::{prepare_losses, validate_losses};
use neuneu::model::architecture::{Architecture, LossRepresentation};

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = neuneu::io::npy::parse_npy_f32(data) {
        assert!(values.len() <= neuneu::io::npy::MAX_VALUES);
    }
    let losses: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if validate_losses(&losses).is_err() {
        return;
    }
    let mut enc = Architecture::small().encoder.expect("small has an encoder");
    for rep in [LossRepresentation::Sketch, LossRepresentation::Ordered] {
        enc.representation = rep;
        let mut out = vec![0.0f32; enc.loss_len];
        prepare_losses(&losses, &enc, &mut out);
        assert!(out.iter().all(|v| (0.0..1.0).contains(v)), "{out:?}");
    }
});
