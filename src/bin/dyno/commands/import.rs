//! `dyno import`: writes line-delimited DynamoDB JSON items through the writer (each key
//! announced), from a file or standard input, resumable with `--skip-lines`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use dyno::ops::jsonl;

use super::session_args::SessionArgs;
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
    #[command(flatten)]
    session: SessionArgs,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let skip_lines = args.skip_lines;
    let w = writer(at).await?;
    let kept = args.session.open(w.table(), None).await?;
    let input: Box<dyn BufRead> = match args.file.as_deref() {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| usage(format!("{}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let bar = progress::counter("importing", "items");
    let progress = |r: &jsonl::ImportReport| bar.set_position(r.written as u64);
    let result = match &kept {
        None => jsonl::import(&w, input, skip_lines, progress).await,
        Some(kept) => {
            let session = kept.session();
            dyno::regional::import::import(&w, session, input, skip_lines, progress).await
        }
    };
    bar.finish_and_clear();
    let result = result.map_err(|e| {
        let resume = e.report.complete_through;
        usage(format!("{e} (resume with --skip-lines {resume})"))
    });
    let report = match &kept {
        None => result?,
        Some(kept) => {
            let (path, held) = (kept.path().display(), kept.session().len());
            if args.session.explain {
                eprintln!("explain: session {path}: {held} keys held");
            }
            let forgot = kept.session().forgotten().over_bound;
            if forgot > 0 {
                eprintln!(
                    "warning: session {path} holds at most {} keys: it forgot {forgot} keys, \
                     the oldest written first (their session reads are plain replica reads, \
                     which may not have them yet); raise --session-max-keys to keep them",
                    args.session.session_max_keys
                );
            }
            kept.save_after_write("the import", result)?
        }
    };
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
