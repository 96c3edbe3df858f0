//! The local servers (dynalite, moto's server, kinesalite) as processes on 127.0.0.1: started on
//! a free port, paused and resumed, stopped, or handed on to the next test of their kind (`pool`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pool::{self, Kind};
use super::root;

/// Which implementation of DynamoDB a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Dynalite,
    Moto,
}

fn tool(path: &str) -> PathBuf {
    let tool = root().join(path);
    assert!(
        tool.exists(),
        "{} is missing: run `make tools` (or `make test`, which installs it)",
        tool.display()
    );
    tool
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A server process on 127.0.0.1, stopped when dropped.
pub struct Server {
    /// `None` once the server is stopped or handed on to the next test.
    child: Option<Child>,
    kind: Kind,
    pub port: u16,
    pub endpoint: String,
}

impl Server {
    /// Starts a server on a free port and waits until that very process listens on it. If the
    /// port was taken meanwhile (the server exits), starts it again on another port.
    fn spawn(kind: Kind, make: impl Fn(u16) -> Command, what: &str) -> Server {
        if let Some((child, port)) = pool::take(kind) {
            return Server::at(kind, child, port);
        }
        for _ in 0..3 {
            let port = free_port();
            let mut child = make(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {what}: {e}"));
            let started = Instant::now();
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break; // it exited: most likely the port was taken; try another
                }
                if listens(child.id(), port) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Server::at(kind, child, port);
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{what} did not listen on port {port} within 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("{what} exited three times before listening");
    }

    fn at(kind: Kind, child: Child, port: u16) -> Server {
        Server {
            child: Some(child),
            kind,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the server was stopped")
    }

    /// dynalite 4.0.0 (from `tools/node_modules`), in memory.
    pub fn dynalite() -> Server {
        let cli = tool("tools/node_modules/dynalite/cli.js");
        let command = |port: u16| {
            let mut command = Command::new("node");
            command
                .arg(&cli)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--createTableMs", "0", "--deleteTableMs", "0"])
                .args(["--updateTableMs", "0"]);
            command
        };
        Server::spawn(Kind::Dynalite, command, "dynalite")
    }

    /// moto 5.2.5's `moto_server` (from `.venv`): DynamoDB, DynamoDB Streams, Kinesis, SQS,
    /// S3 and STS.
    pub fn moto() -> Server {
        let server = tool(".venv/bin/moto_server");
        let command = |port: u16| {
            let mut command = Command::new(&server);
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        };
        Server::spawn(Kind::Moto, command, "moto_server")
    }

    /// kinesalite 3.3.3, bound to 127.0.0.1.
    pub fn kinesalite() -> Server {
        let script = tool("tools/kinesalite.js");
        let command = |port: u16| {
            let mut command = Command::new("node");
            command
                .arg(&script)
                .arg(port.to_string())
                .current_dir(root().join("tools"));
            command
        };
        Server::spawn(Kind::Kinesalite, command, "kinesalite")
    }

    /// A DynamoDB server of the given kind.
    pub fn dynamodb(backend: Backend) -> Server {
        match backend {
            Backend::Dynalite => Server::dynalite(),
            Backend::Moto => Server::moto(),
        }
    }

    /// Stops the server for good (e.g. a replica that refuses writes).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server: connections are accepted by the kernel but never answered.
    pub fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// Undoes [`Server::pause`].
    pub fn resume(&self) {
        signal(self.pid(), "CONT");
    }
}

/// True when process `pid` holds the socket listening on 127.0.0.1:`port` (from /proc: the
/// listening socket's inode among the process's open files).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: std::collections::HashSet<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            link.strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect();
    let local = format!("0100007F:{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .map(|row| row.split_whitespace().collect::<Vec<_>>())
            .any(|cols| {
                cols.len() > 9
                    && (cols[1] == local || cols[1].ends_with(&format!(":{port:04X}")))
                    && cols[3] == "0A"
                    && inodes.contains(cols[9])
            })
    })
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// A server still running is handed on to the next test of its kind (see `pool`).
impl Drop for Server {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-CONT", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        match child.try_wait() {
            Ok(None) => pool::keep(self.kind, child, self.port),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
