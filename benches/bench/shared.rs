//! What both groups share: which cases run (`BENCH_CASES`), the `bench case=…` lines and the exit
//! status, servers of the bench's own, the release binaries beside the bench, CPU time, quantiles, items of a given size, and the bare requests the floors send.

use std::fmt::Display;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};

use crate::common::{self, Item, Server};

/// The cases `BENCH_CASES=a,b` names; every case when it is unset.
pub struct Cases {
    only: Option<Vec<String>>,
}

impl Cases {
    pub fn from_env() -> Cases {
        let only = std::env::var("BENCH_CASES").ok();
        Cases {
            only: only.map(|names| names.split(',').map(|n| n.trim().to_owned()).collect()),
        }
    }

    pub fn chosen(&self, case: &str) -> bool {
        (self.only.as_ref()).is_none_or(|names| names.iter().any(|n| n == case))
    }

    /// The names in `BENCH_CASES` that are none of `known` (a typo would otherwise run nothing).
    pub fn unknown(&self, known: &[&str]) -> Vec<String> {
        let names = self.only.iter().flatten();
        (names.filter(|n| !n.is_empty() && !known.contains(&n.as_str())))
            .cloned()
            .collect()
    }
}

/// One `bench case=… key=value …` line.
pub struct Line(String);

impl Line {
    pub fn new(case: &str) -> Line {
        Line(format!("bench case={case}"))
    }

    /// A line written out whole (`bench case=…` and its fields).
    pub fn written(text: String) -> Line {
        Line(text)
    }

    pub fn int(mut self, key: &str, value: impl Display) -> Line {
        self.0 += &format!(" {key}={value}");
        self
    }

    pub fn num(mut self, key: &str, value: f64) -> Line {
        self.0 += &format!(" {key}={value:.3}");
        self
    }

    pub fn text(mut self, key: &str, value: &str) -> Line {
        self.0 += &format!(" {key}={value:?}");
        self
    }
}

/// Prints each case's line, or its error, and remembers the errors for the exit status.
#[derive(Default)]
pub struct Report {
    errors: Vec<String>,
}

impl Report {
    pub fn emit(&mut self, case: &str, result: Result<Line, String>) {
        match result {
            Ok(line) => println!("{}", line.0),
            Err(error) => self.fail(case, error),
        }
    }

    /// A case that failed: its error line, and a problem for the exit status.
    pub fn fail(&mut self, case: &str, error: String) {
        println!("bench case={case} error={error:?}");
        self.errors.push(format!("{case}: {error}"));
    }

    /// A problem outside any case (its line is printed by the caller).
    pub fn problem(&mut self, error: String) {
        self.errors.push(error);
    }

    pub fn finish(self) -> ExitCode {
        if self.errors.is_empty() {
            return ExitCode::SUCCESS;
        }
        eprintln!("bench: {} problem(s):", self.errors.len());
        for error in &self.errors {
            eprintln!("  {error}");
        }
        ExitCode::FAILURE
    }
}

/// A server of the bench's own, stopped when dropped. The tests' `Server` may hand a server on to
/// the next test; here every case starts on servers of its own, as the figures always have.
pub struct Own(Server);

impl Own {
    pub fn dynalite() -> Own {
        Own(Server::dynalite())
    }

    pub fn kinesalite() -> Own {
        Own(Server::kinesalite())
    }

    pub fn moto() -> Own {
        Own(Server::moto())
    }
}

impl Deref for Own {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.0
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// A multi-threaded runtime, like `#[tokio::main]` in the binaries.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The release binary `name` beside this bench's executable (`target/release/NAME`, the bench
/// being `target/release/bench`), which `make bench` builds with it.
pub fn release_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))?;
    let path = exe.parent().map(|dir| dir.join(name));
    path.filter(|path| path.exists()).ok_or_else(|| {
        format!(
            "no release {name} binary beside {}: run `make bench`, which builds it",
            exe.display()
        )
    })
}

/// A process's parent and its CPU seconds so far (user + system), from `/proc/<pid>/stat`
/// (ticks of 10 ms); `pid` may be `self`.
pub fn cpu_of(pid: &str) -> Option<(u32, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((parent, ticks as f64 / 100.0))
}

/// This process's CPU seconds so far, all its threads, user + system, to the nanosecond
/// (`CLOCK_PROCESS_CPUTIME_ID`; `/proc`'s ticks of 10 ms are too coarse for runs of 30–300 ms).
pub fn own_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if status != 0 {
        return cpu_of("self").map_or(0.0, |(_, seconds)| seconds);
    }
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The value at quantile `q` of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        len => sorted[((len - 1) as f64 * q).round() as usize],
    }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

/// `len` random alphanumeric characters, the bodies' source.
pub fn body_pool(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect()
}

/// A Thread item of `item_bytes` in DynamoDB's measure (names plus values), its body a slice of
/// `pool` that starts where `k` says, so that bodies vary.
pub fn sized_item(forum: &str, subject: &str, item_bytes: usize, pool: &str, k: usize) -> Item {
    let overhead = "ForumName".len() + forum.len() + "Subject".len() + subject.len() + "Body".len();
    let len = item_bytes - overhead;
    let start = (k * 131) % (pool.len() - len);
    common::thread_item(forum, subject, &pool[start..start + len])
}

/// An SDK error, with every cause.
pub fn sdk<E: std::error::Error>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {}", DisplayErrorContext(e))
}

pub fn put_request(item: Item) -> WriteRequest {
    let put = PutRequest::builder().set_item(Some(item)).build();
    WriteRequest::builder()
        .put_request(put.expect("a put request"))
        .build()
}

pub fn delete_request(key: Item) -> WriteRequest {
    let delete = DeleteRequest::builder().set_key(Some(key)).build();
    WriteRequest::builder()
        .delete_request(delete.expect("a delete request"))
        .build()
}
