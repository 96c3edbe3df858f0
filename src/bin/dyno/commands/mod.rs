//! The subcommands, one module each: its flags (`Args`, with the subcommand's help text) and its
//! `run`, a thin layer over the library that parses what the user typed, calls the library and
//! prints a summary a person can act on. The modules after them hold what several share.

mod announce;
mod backfill;
mod check;
mod create;
mod dead_letters;
mod delete;
mod demo;
mod diff;
mod export;
mod export_s3;
mod failures;
mod get;
mod import;
mod load;
mod plan;
mod put;
mod query;
mod replicate;
mod update;

mod from_export;
mod input;
mod replica_args;
mod scan;
mod session_args;
mod sink;
mod targets;
mod writes;

use clap::Subcommand;

use crate::connect::Connected;
use crate::{Cli, Outcome};

/// The subcommands, in the order `dyno --help` lists them.
#[derive(Subcommand)]
pub enum Command {
    Put(put::Args),
    Update(update::Args),
    Delete(delete::Args),
    Get(get::Args),
    Query(query::Args),
    Announce(announce::Args),
    Import(import::Args),
    Export(export::Args),
    ExportS3(export_s3::Args),
    Create(create::Args),
    Check(check::Args),
    Replicate(replicate::Args),
    DeadLetters(dead_letters::Args),
    Diff(diff::Args),
    Backfill(backfill::Args),
    Load(load::Args),
    Plan(plan::Args),
    Failures(failures::Args),
    Demo(demo::Args),
}

/// Runs the subcommand; the demo always on the local servers.
pub async fn run(cli: Cli) -> Outcome {
    let local = cli.connection.local || matches!(cli.command, Command::Demo(_));
    let at = Connected::new(&cli.connection, local).await;
    match cli.command {
        Command::Put(args) => put::run(&at, args).await,
        Command::Update(args) => update::run(&at, args).await,
        Command::Delete(args) => delete::run(&at, args).await,
        Command::Get(args) => get::run(&at, args).await,
        Command::Query(args) => query::run(&at, args).await,
        Command::Announce(args) => announce::run(&at, args).await,
        Command::Import(args) => import::run(&at, args).await,
        Command::Export(args) => export::run(&at, args).await,
        Command::ExportS3(args) => export_s3::run(&at, args).await,
        Command::Create(args) => create::run(&at, args).await,
        Command::Check(args) => check::run(&at, args).await,
        Command::Replicate(args) => replicate::run(&at, args).await,
        Command::DeadLetters(args) => dead_letters::run(&at, args).await,
        Command::Diff(args) => diff::run(&at, args).await,
        Command::Backfill(args) => backfill::run(&at, args).await,
        Command::Load(args) => load::run(&at, args).await,
        Command::Plan(args) => plan::run(args),
        Command::Failures(args) => failures::run(&at, args).await,
        Command::Demo(args) => demo::run(&at, args).await,
    }
}
