//! Writes every target's seeds and samples (this machine's /proc files, the shipped
//! configurations, real certificates, literals) into `fuzz/corpus/<target>/`, where libFuzzer starts from
//! and the stable test replays them: `cargo run -p strata-tests --example fuzz_corpus`.
//! Files already there are kept; a seed is named by its hash, so writing twice adds nothing.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for target in strata_tests::fuzz::TARGETS {
        let dir = corpus.join(target.name);
        std::fs::create_dir_all(&dir)?;
        let mut seeds = (target.seeds)();
        seeds.extend((target.samples)());
        for seed in &seeds {
            let name = format!("seed-{:016x}", strata_tests::fuzz::fnv(seed));
            std::fs::write(dir.join(name), seed)?;
        }
        println!("{:<18} {} seeds", target.name, seeds.len());
    }
    Ok(())
}
