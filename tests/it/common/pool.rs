//! Servers handed from one test to the next: a server still running when its test ends is kept,
//! and the next test that asks for one of its kind gets it emptied (moto's reset API; every
//! dynalite table, every kinesalite stream deleted and gone) instead of a new process. Starting
//! moto costs about 2 s of CPU, dynalite and kinesalite about 0.5 s; emptying one, milliseconds.
//! A server that cannot be emptied is stopped and a new one started. Kept servers are stopped
//! when the test process exits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;

use super::{client_at, sdk_config, tuning};

/// What a server is, and so how it is emptied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dynalite,
    Moto,
    Kinesalite,
}

/// At most this many idle servers of a kind are kept (the tests run two at a time).
const KEEP: usize = 4;

static KEPT: Mutex<Vec<(Kind, Child, u16)>> = Mutex::new(Vec::new());
static STOP_AT_EXIT: Once = Once::new();

/// A kept server of `kind`, emptied, as (process, port); `None` when there is none to reuse.
pub fn take(kind: Kind) -> Option<(Child, u16)> {
    loop {
        let (mut child, port) = {
            let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
            let at = kept.iter().position(|(k, _, _)| *k == kind)?;
            let (_, child, port) = kept.swap_remove(at);
            (child, port)
        };
        match empty(kind, port) {
            Ok(()) => return Some((child, port)),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Keeps a running server for the next test (or stops it when enough are kept).
pub fn keep(kind: Kind, mut child: Child, port: u16) {
    STOP_AT_EXIT.call_once(|| {
        // SAFETY: `atexit` takes a plain function; `stop_kept` only locks and kills.
        unsafe { atexit(stop_kept) };
    });
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if kept.iter().filter(|(k, _, _)| *k == kind).count() < KEEP {
        kept.push((kind, child, port));
    } else {
        drop(kept);
        let _ = child.kill();
        let _ = child.wait();
    }
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn stop_kept() {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    for (_, child, _) in kept.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    kept.clear();
}

/// Empties the server on `port`: afterwards it holds no table, stream, queue, bucket or role.
fn empty(kind: Kind, port: u16) -> Result<(), String> {
    let endpoint = format!("http://127.0.0.1:{port}");
    match kind {
        Kind::Moto => reset_moto(port),
        // On a thread of its own, so that it works whether or not the caller is in a runtime.
        Kind::Dynalite | Kind::Kinesalite => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    runtime.block_on(async {
                        match kind {
                            Kind::Dynalite => delete_tables(&endpoint).await,
                            _ => delete_streams(&endpoint).await,
                        }
                    })
                })
                .join()
                .unwrap_or_else(|_| Err("emptying panicked".to_owned()))
        }),
    }
}

/// moto's own reset (`POST /moto-api/reset`): every service's state, all at once.
fn reset_moto(port: u16) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                   Content-Length: 0\r\nConnection: close\r\n\r\n";
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    match answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
        true => Ok(()),
        false => Err(answer.lines().next().unwrap_or_default().to_owned()),
    }
}

async fn delete_tables(endpoint: &str) -> Result<(), String> {
    let client: Client = client_at(endpoint, "us-east-1", &tuning(), None).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = client
            .list_tables()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<String>, _>>()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if names.is_empty() {
            return Ok(());
        }
        for name in names {
            if client
                .delete_table()
                .table_name(&name)
                .send()
                .await
                .is_err()
            {
                // Deletion protection refuses: lift it, and delete again.
                let _ = client
                    .update_table()
                    .table_name(&name)
                    .deletion_protection_enabled(false)
                    .send()
                    .await;
                let _ = client.delete_table().table_name(&name).send().await;
            }
        }
        if Instant::now() > deadline {
            return Err("tables are still there after 10 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn delete_streams(endpoint: &str) -> Result<(), String> {
    let client = dyno::aws::client::kinesis_client(&sdk_config().await, Some(endpoint), &tuning());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = client
            .list_streams()
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .stream_names;
        if names.is_empty() {
            return Ok(());
        }
        for name in names {
            let _ = client
                .delete_stream()
                .stream_name(&name)
                .enforce_consumer_deletion(true)
                .send()
                .await;
        }
        if Instant::now() > deadline {
            return Err("streams are still there after 10 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
