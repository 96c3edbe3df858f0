//! The `dyno` binary as a user runs it: writes, reads, import and export, the local event source
//! mapping, diff, dead letters, and errors that say what happened and what to do, in one line,
//! naming the flag the user typed, never quoting item values, and leaving every file and table
//! as it was. Against dynalite, kinesalite and moto's SQS.

mod commands;
mod errors;
mod import_export;
mod replication;

const KEY: &str = r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}"#;

fn one_line(err: &str) -> bool {
    err.trim_end().lines().count() == 1 && err.starts_with("error: ")
}

fn thread_line(i: usize, body: &str) -> String {
    format!(
        r#"{{"Item":{{"ForumName":{{"S":"bulk"}},"Subject":{{"S":"t{i:04}"}},"Body":{{"S":"{body}"}}}}}}"#
    )
}
