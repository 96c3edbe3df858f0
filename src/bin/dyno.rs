//! The dyno command-line tool (see the README).
fn main() {}
