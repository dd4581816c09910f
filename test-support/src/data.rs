//! Where the workspace's sample data (`examples/data`) is, for every suite that reads it.

use std::path::{Path, PathBuf};

/// The sample data folder, as a path through this crate's folder (not canonicalised), for
/// places that take a `&str` (`--root` arguments, `concat!`).
pub const SAMPLE_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data");

/// The sample data folder, canonicalised (what a sandbox reports for it).
pub fn data_dir() -> PathBuf {
    Path::new(SAMPLE_DATA)
        .canonicalize()
        .expect("examples/data")
}

/// The sample sales table, `examples/data/sales.csv`.
pub fn sales_csv() -> PathBuf {
    Path::new(SAMPLE_DATA).join("sales.csv")
}
