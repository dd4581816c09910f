//! The bundled servers: file-server and db-server run by this same executable in a hidden
//! mode, on the sample data, so `mcp-host` works on a fresh clone with nothing else built.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use clap::Parser as _;

use crate::config::ServerSpec;

/// First argument of the hidden mode in which this executable is one of the bundled servers.
pub const SERVE_ARG: &str = "__serve";

/// Runs one of the bundled servers in this process: `args` are what followed [`SERVE_ARG`],
/// the server's name first.
pub fn serve(args: Vec<OsString>) -> ExitCode {
    let mut args = args.into_iter();
    let name = args.next().unwrap_or_default();
    let result = match name.to_str() {
        Some("file-server") => file_server::run(file_server::Args::parse_from(
            std::iter::once(name.clone()).chain(args),
        )),
        Some("db-server") => db_server::run(db_server::Args::parse_from(
            std::iter::once(name.clone()).chain(args),
        )),
        _ => Err(anyhow::anyhow!(
            "unknown bundled server {name:?} (known: file-server, db-server)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: error: {error:#}", name.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}

/// The bundled servers on `data_dir` (default: the sample data): this executable in its
/// hidden server mode. With `database_url`, db-server serves that database instead of the
/// sample table; the URL reaches it as its `DATABASE_URL` variable, never as an argument
/// (a command line is visible to every user of the machine).
pub fn specs(
    data_dir: Option<&Path>,
    database_url: Option<&str>,
) -> anyhow::Result<Vec<ServerSpec>> {
    let data = match data_dir {
        Some(dir) => dir.to_owned(),
        None => default_data_dir(),
    };
    let sales = data.join("sales.csv");
    if !sales.is_file() {
        bail!(
            "the sample data {} was not found; pass --data-dir DIR (a folder with sales.csv) or --config FILE",
            sales.display()
        );
    }
    let data = data
        .canonicalize()
        .with_context(|| format!("resolving {}", data.display()))?;
    let exe =
        std::env::current_exe().context("finding this executable to start the bundled servers")?;
    let spec = |name: &str, args: Vec<String>| ServerSpec {
        name: name.to_owned(),
        command: exe.clone(),
        args: [SERVE_ARG.to_owned(), name.to_owned()]
            .into_iter()
            .chain(args)
            .collect(),
        env: Default::default(),
        cwd: None,
        remote: None,
    };
    let database = match database_url.filter(|url| !url.trim().is_empty()) {
        Some(url) => {
            let mut spec = spec("db-server", Vec::new());
            spec.env.insert("DATABASE_URL".into(), url.to_owned());
            spec
        }
        // --load takes precedence over a DATABASE_URL the user's shell may export.
        None => spec(
            "db-server",
            vec![
                "--load".into(),
                format!("sales={}", data.join("sales.csv").display()),
            ],
        ),
    };
    Ok(vec![
        spec(
            "file-server",
            vec!["--root".into(), data.display().to_string()],
        ),
        database,
    ])
}

/// `examples/data` of the source tree this binary was built from, else of the current folder.
fn default_data_dir() -> PathBuf {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    if built_from.is_dir() {
        built_from
    } else {
        PathBuf::from("examples/data")
    }
}
