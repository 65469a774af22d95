//! A node's health for load balancers and supervisors: any HTTP request to `health_listen`
//! is answered `200` with a JSON body when the node can serve (its database answers), `503`
//! otherwise. The body also says whether a cluster node is connected to NATS (without it, it
//! still serves, delivering across nodes by polling the database) and how many sessions it has.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::state::State;

/// Longest request read (the request itself is ignored).
const MAX_REQUEST: usize = 8 * 1024;
/// Time for a request to arrive, and for the database to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
pub struct Health {
    pub ready: bool,
    /// `ok`, or why the database did not answer.
    pub database: String,
    /// `connected`, `disconnected`, or `none` (not a cluster node).
    pub nats: &'static str,
    pub sessions: usize,
}

/// Answers health requests until `shutdown`.
pub async fn serve(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(answer(stream, state.clone()));
                }
            }
        }
    }
}

/// The node's health now.
pub async fn check(state: &State) -> Health {
    let database =
        match tokio::time::timeout(TIMEOUT, state.with_store(|s| Ok(s.max_message_id()?))).await {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", TIMEOUT.as_secs()),
        };
    Health {
        ready: database == "ok",
        database,
        nats: state.nats(),
        sessions: state.hub().session_count(),
    }
}

async fn answer(mut stream: TcpStream, state: Arc<State>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(TIMEOUT, async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    let health = check(&state).await;
    let status = if health.ready { "200 OK" } else { "503 Service Unavailable" };
    let body = serde_json::to_string(&health).unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
