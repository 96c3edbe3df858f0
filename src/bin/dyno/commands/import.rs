//! `dyno import`: writes line-delimited DynamoDB JSON items through the writer (each key
//! announced), from a file or standard input, resumable with `--skip-lines`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use dyno::ops::jsonl;

use super::writes::writer;
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::usage;
use crate::progress;

/// Import line-delimited DynamoDB JSON items ('{"Item":{…}}' or bare items) through the
/// writer, from a file or standard input.
#[derive(clap::Args)]
pub struct Args {
    /// The file [default: standard input].
    file: Option<PathBuf>,
    /// Skip this many lines first (to resume an import that stopped).
    #[arg(long, default_value_t = 0)]
    skip_lines: usize,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let skip_lines = args.skip_lines;
    let w = writer(at).await?;
    let input: Box<dyn BufRead> = match args.file.as_deref() {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| usage(format!("{}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let bar = progress::counter("importing", "items");
    let result = jsonl::import(&w, input, skip_lines, |r| {
        bar.set_position(r.written as u64)
    })
    .await;
    bar.finish_and_clear();
    let report = result.map_err(|e| {
        let resume = e.report.complete_through;
        usage(format!("{e} (resume with --skip-lines {resume})"))
    })?;
    if skip_lines > report.lines {
        return Err(usage(format!(
            "--skip-lines {skip_lines} is past the end of the input ({} lines): nothing was \
             imported; check the file, or the line to resume after",
            report.lines
        )));
    }
    eprintln!(
        "imported {} items into `{}`; every line up to {} is in",
        report.written,
        w.table().name,
        report.complete_through
    );
    Ok(ExitCode::SUCCESS)
}
