//! The fault proxy serving one client connection: each request held, answered with a fault, or
//! forwarded (and its answer tampered with as the plan says); and the requests it holds.

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::batches::{add_stranger, add_unprocessed, withhold, withhold_some};
use super::http::{
    Message, access_denied, error_response, find, forward, read_message, reset, until_closed,
};
use super::{Fault, FaultProxy, State};

pub(super) async fn serve(
    mut client: TcpStream,
    upstream_port: u16,
    state: Arc<Mutex<State>>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buf).await? {
        let form = String::from_utf8_lossy(&request.body).into_owned();
        let (service, operation) = match request.header("x-amz-target") {
            Some(target) => {
                let (service, operation) = target.rsplit_once('.').unwrap_or(("unknown", target));
                (service.to_owned(), operation.to_owned())
            }
            // The query protocol (STS) names the action in the form body.
            None => {
                let action = form
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .unwrap_or("unknown");
                ("query".to_owned(), action.to_owned())
            }
        };
        let Some(request) = hold(&state, &operation, request, upstream_port) else {
            // Held: nothing is answered; the client gives up (its attempt times out).
            return until_closed(client).await;
        };
        let (fault, slow, withheld) = {
            let mut state = state.lock().expect("proxy state");
            *state.stats.requests.entry(operation.clone()).or_default() += 1;
            if service == "query" {
                state.stats.forms.push(form.clone());
            }
            if let Some(key_id) = request
                .header("authorization")
                .and_then(|a| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').next())
            {
                let signers = state.stats.signers.entry(operation.clone()).or_default();
                signers.insert(key_id.to_owned());
            }
            let (mut fault, roll) = state.decide(&operation, &request.body);
            let mut withheld = None;
            if fault == Some(Fault::PartialBatch) {
                let mut rng = fastrand::Rng::with_seed(roll);
                withheld = withhold(&operation, &request.body, &mut rng);
                if withheld.is_none() {
                    fault = None;
                }
            }
            if fault == Some(Fault::PartialProgress) {
                let mut rng = fastrand::Rng::with_seed(roll);
                withheld = withhold_some(&operation, &request.body, &mut rng);
                fault = withheld.is_some().then_some(Fault::PartialBatch);
            }
            if let Some(f) = fault {
                *state.stats.faults.entry(f).or_default() += 1;
                *state
                    .stats
                    .by_operation
                    .entry((operation.clone(), f))
                    .or_default() += 1;
            }
            (fault, state.plan.slow, withheld)
        };
        if fault == Some(Fault::AccessDenied) {
            client.write_all(&access_denied(&service)).await?;
            continue;
        }
        if let Some((status, kind, message)) = fault.and_then(|f| f.error(&service)) {
            client
                .write_all(&error_response(&service, status, &kind, message))
                .await?;
            continue;
        }
        match fault {
            Some(Fault::ResetBefore) => {
                reset(client);
                return Ok(());
            }
            Some(Fault::PartialBatch) => {
                let Some((forward_body, held)) = withheld else {
                    continue;
                };
                let mut answer = match forward_body {
                    Some(body) => {
                        let response = forward(upstream_port, &request, &body).await?;
                        if !response.start.contains(" 200") {
                            // An error answer: pass it on untouched.
                            client
                                .write_all(&response.encode(&response.body, "keep-alive", &[]))
                                .await?;
                            continue;
                        }
                        let answer: Value =
                            serde_json::from_slice(&response.body).unwrap_or(json!({}));
                        (answer, Some(response))
                    }
                    None => (json!({}), None),
                };
                add_unprocessed(&operation, &mut answer.0, held);
                let body = answer.0.to_string().into_bytes();
                let bytes = match answer.1 {
                    Some(response) => response.encode(&body, "keep-alive", &["x-amz-crc32"]),
                    None => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                         content-length: {}\r\nconnection: keep-alive\r\n\r\n",
                        body.len()
                    )
                    .into_bytes()
                    .into_iter()
                    .chain(body)
                    .collect(),
                };
                client.write_all(&bytes).await?;
            }
            _ => {
                let response = forward(upstream_port, &request, &request.body).await?;
                match fault {
                    Some(Fault::ResetAfter) => {
                        reset(client);
                        return Ok(());
                    }
                    Some(Fault::Slow) => tokio::time::sleep(slow).await,
                    Some(Fault::Stranger) if response.start.contains(" 200") => {
                        if let Some(body) = add_stranger(&operation, &request.body, &response.body)
                        {
                            client
                                .write_all(&response.encode(&body, "keep-alive", &["x-amz-crc32"]))
                                .await?;
                            continue;
                        }
                    }
                    _ => {}
                }
                client
                    .write_all(&response.encode(&response.body, "keep-alive", &[]))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Requests to hold, and those held (see [`FaultProxy::hold`]).
#[derive(Default)]
pub(super) struct Holds {
    rules: Vec<HoldRule>,
    held: Vec<Held>,
}

/// Holds the next `left` requests of `operation` whose body contains `marker`.
struct HoldRule {
    operation: String,
    marker: Vec<u8>,
    left: usize,
}

/// A request the proxy read and kept, unanswered and not forwarded.
struct Held {
    operation: String,
    upstream_port: u16,
    request: Message,
}

impl FaultProxy {
    /// Holds the next `times` requests of `operation` whose body contains `marker` (`""`: any),
    /// whatever the plan: the proxy reads each and keeps it, answers nothing (the client's
    /// attempt times out), and forwards it to the server only at [`FaultProxy::release`], as a
    /// network or a server that sat on a request would. Counted in [`Stats::held`].
    pub fn hold(&self, operation: &str, marker: &str, times: usize) {
        let mut state = self.state.lock().expect("proxy state");
        state.holds.rules.push(HoldRule {
            operation: operation.to_owned(),
            marker: marker.as_bytes().to_vec(),
            left: times,
        });
    }

    /// Requests held and not released yet.
    pub fn holding(&self) -> usize {
        self.state.lock().expect("proxy state").holds.held.len()
    }

    /// Forwards every request held so far to the server, in the order they came, and waits for
    /// each answer (which goes nowhere: its client gave up long ago). Returns, for each, its
    /// operation and the server's status line: the held request has then been applied, or
    /// refused, by the server.
    pub async fn release(&self) -> Vec<(String, String)> {
        let held = std::mem::take(&mut self.state.lock().expect("proxy state").holds.held);
        let mut answers = Vec::with_capacity(held.len());
        for Held {
            operation,
            upstream_port,
            request,
        } in held
        {
            let answer = forward(upstream_port, &request, &request.body)
                .await
                .map(|response| response.start)
                .unwrap_or_else(|e| format!("not forwarded: {e}"));
            answers.push((operation, answer));
        }
        answers
    }
}

/// Keeps `request` if a hold rule takes it (`None`), or hands it back to be served.
fn hold(
    state: &Mutex<State>,
    operation: &str,
    request: Message,
    upstream_port: u16,
) -> Option<Message> {
    let mut state = state.lock().expect("proxy state");
    let rule = state.holds.rules.iter_mut().find(|rule| {
        rule.left > 0
            && rule.operation == operation
            && (rule.marker.is_empty() || find(&request.body, &rule.marker).is_some())
    });
    let Some(rule) = rule else {
        return Some(request);
    };
    rule.left -= 1;
    *state
        .stats
        .requests
        .entry(operation.to_owned())
        .or_default() += 1;
    *state.stats.held.entry(operation.to_owned()).or_default() += 1;
    state.holds.held.push(Held {
        operation: operation.to_owned(),
        upstream_port,
        request,
    });
    None
}
