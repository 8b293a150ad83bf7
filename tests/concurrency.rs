//! 16 threads share one engine, each doing 2,000 forecasts (32,000 in all; ~20 s on 2 shared
//! cores): bit-identical to one thread.

use neuneu::{Engine, RunInput};

#[test]
fn sixteen_threads_match_a_single_thread_bit_for_bit() {
    let e = Engine::embedded().unwrap();
    let data: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..32)
        .map(|n| {
            let k = n % 11 + 2;
            let s: Vec<f64> = (1..=k).map(|i| (i * i) as f64 * (1.0 + n as f64)).collect();
            let a: Vec<f64> = (0..k).map(|i| 0.2 + 0.05 * (i as f64).sqrt()).collect();
            let t = vec![s[k - 1] * 3.0];
            (s, a, t)
        })
        .collect();
    let expected: Vec<_> = data
        .iter()
        .map(|(s, a, t)| e.forecast(&[RunInput::new(s, a, t)]).unwrap())
        .collect();
    std::thread::scope(|scope| {
        for th in 0..16 {
            let (e, data, expected) = (&e, &data, &expected);
            scope.spawn(move || {
                for k in 0..2000 {
                    let i = (th * 7 + k) % data.len();
                    let (s, a, t) = &data[i];
                    assert_eq!(e.forecast(&[RunInput::new(s, a, t)]).unwrap(), expected[i]);
                }
            });
        }
    });
}
