//! Chunk codec throughput (divan): encoding and decoding 4,096-point chunks of the shapes
//! host metrics have. `cargo bench -p strata-tsdb --bench codec`.

use divan::Bencher;
use strata_tsdb::chunk;

fn main() {
    divan::main();
}

const POINTS: usize = 4096;

/// Deterministic noise in [0, 1).
fn noise(i: usize) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A chunk of one shape: 10 s apart, values as collectors give them.
fn points(shape: &str) -> Vec<(i64, f64)> {
    (0..POINTS)
        .map(|i| {
            let ts = 1_700_000_000_000 + i as i64 * 10_000;
            let v = match shape {
                // CPU seconds with two decimals, a noisy rate
                "counter" => ((i as f64 + 0.5 * noise(i)) * 220.0).round() / 100.0,
                // memory in pages
                "pages" => ((1.5e6 + 3000.0 * noise(i)).round()) * 4096.0,
                // a usage ratio the agent derives: full precision
                "ratio" => 0.3 + 0.04 * noise(i),
                // a constant (sizes, MTU)
                _ => 1500.0,
            };
            (ts, v)
        })
        .collect()
}

const SHAPES: [&str; 4] = ["counter", "pages", "ratio", "constant"];

#[divan::bench(args = SHAPES)]
fn encode(bencher: Bencher, shape: &str) {
    let pts = points(shape);
    bencher
        .counter(divan::counter::ItemsCount::new(POINTS))
        .bench(|| chunk::encode(divan::black_box(&pts)));
}

#[divan::bench(args = SHAPES)]
fn decode(bencher: Bencher, shape: &str) {
    let bytes = chunk::encode(&points(shape));
    bencher
        .counter(divan::counter::ItemsCount::new(POINTS))
        .bench(|| chunk::decode(divan::black_box(&bytes)).expect("decodes"));
}
