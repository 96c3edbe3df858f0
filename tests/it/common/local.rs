//! The system on this machine as the `dyno` binary's tests run it: two dynalite servers (primary
//! and replica) and kinesalite, a scratch directory, and the binary pointed at them.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::oracle;
use super::{At, PRIMARY, REPLICA, Server, client, dyno_command, scan_all, thread_schema};

/// The servers and a directory of one test.
pub struct Local {
    pub primary: Server,
    pub replica: Server,
    pub kinesis: Server,
    pub dir: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Local {
    /// Starts the servers; `name` names the scratch directory.
    pub fn start(name: &str) -> Local {
        let dir = std::env::temp_dir().join(format!("dyno-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Local {
            primary: Server::dynalite(),
            replica: Server::dynalite(),
            kinesis: Server::kinesalite(),
            dir,
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// `dyno ARGS` on these servers, run in the scratch directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = dyno_command(At {
            tables: Some(&self.primary.endpoint),
            replica: Some(&self.replica.endpoint),
            kinesis: Some(&self.kinesis.endpoint),
        });
        command.args(args).current_dir(&self.dir);
        command
    }

    pub fn dyno(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run dyno")
    }

    /// Runs dyno, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.dyno(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dyno {args:?} failed: {err}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs dyno, asserts failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.dyno(args);
        assert!(!out.status.success(), "dyno {args:?} should have failed");
        String::from_utf8(out.stderr).unwrap()
    }

    /// Runs dyno, asserts it exited with `code` and did not panic, returns stderr.
    pub fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let out = self.dyno(args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "dyno {args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    }

    /// The number of items in a table, through `dyno export`.
    pub fn count(&self, args: &[&str]) -> usize {
        self.ok(&[args, &["export"]].concat()).lines().count()
    }

    /// Items in a table of `server`, by a plain SDK scan (the oracle, not dyno).
    pub fn items(&self, server: &Server, table: &str) -> usize {
        self.rt.block_on(async {
            let db = client(server).await;
            scan_all(&db, table, &thread_schema()).await.len()
        })
    }

    /// Asserts (with the oracle, not `dyno diff`) that the replica equals the primary, with
    /// `items` items each.
    pub fn assert_replicated(&self, items: usize) {
        self.rt.block_on(async {
            let (primary, replica) = (client(&self.primary).await, client(&self.replica).await);
            oracle::assert_equal_items((&primary, PRIMARY), (&replica, REPLICA), items).await
        });
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The scratch directory's entries, sorted (to see that no temporary file is left).
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A runtime for the test's own SDK calls.
    pub fn rt(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
