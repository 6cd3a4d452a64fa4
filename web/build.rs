//! Rebuilds the crate when a console file is added, changed or removed: the files are
//! embedded at compile time.

fn main() {
    println!("cargo:rerun-if-changed=assets");
}
