//! The state of the link to the server (up on some connection, down between attempts, or given
//! up) and the request plumbing that waits on it: a request waits for a live connection and is
//! repeated on the next one if its connection is lost.

use std::sync::{Mutex, MutexGuard};

use quicq_common::frame::{FrameError, read_frame, write_frame};
use quicq_common::protocol::{ClientFrame, Limits, ServerFrame};
use quicq_common::turns::Ticket;
use tokio::sync::watch;

use crate::connection::Welcome;
use crate::error::RequestError;
use crate::in_flight::InFlight;

#[derive(Debug, Clone)]
enum LinkState {
    Up(quinn::Connection),
    Down,
    Offline(String),
}

/// The current connection, as the supervisor sets it, and the latest `welcome`.
pub(crate) struct Link {
    state: watch::Sender<LinkState>,
    welcome: Mutex<Welcome>,
    in_flight: InFlight,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    pub(crate) fn new(welcome: Welcome) -> Self {
        Link {
            state: watch::Sender::new(LinkState::Down),
            welcome: Mutex::new(welcome),
            in_flight: InFlight::default(),
        }
    }

    pub(crate) fn welcome(&self) -> Welcome {
        locked(&self.welcome).clone()
    }

    pub(crate) fn limits(&self) -> Limits {
        locked(&self.welcome).limits.clone()
    }

    /// Records a change of the account's receipts setting, so [`Link::welcome`] stays true
    /// until the next `welcome` says it again.
    pub(crate) fn set_receipts(&self, on: bool) {
        locked(&self.welcome).receipts = on;
    }

    pub(crate) fn up(&self, conn: quinn::Connection, welcome: Welcome) {
        *locked(&self.welcome) = welcome;
        self.state.send_replace(LinkState::Up(conn));
    }

    pub(crate) fn down(&self) {
        self.state.send_replace(LinkState::Down);
    }

    /// Given up for good: every waiting and future request fails with `reason`.
    pub(crate) fn offline(&self, reason: String) {
        self.state.send_replace(LinkState::Offline(reason));
    }

    /// The connection in use, if any (it may be closing).
    pub(crate) fn current(&self) -> Option<quinn::Connection> {
        match &*self.state.borrow() {
            LinkState::Up(conn) => Some(conn.clone()),
            _ => None,
        }
    }

    /// Waits for a live connection other than the one with id `dead`.
    pub(crate) async fn connection(
        &self,
        dead: Option<usize>,
    ) -> Result<quinn::Connection, RequestError> {
        let mut rx = self.state.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                LinkState::Up(conn)
                    if Some(conn.stable_id()) != dead && conn.close_reason().is_none() =>
                {
                    return Ok(conn.clone());
                }
                LinkState::Offline(reason) => return Err(RequestError::Offline(reason.clone())),
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(RequestError::Offline("client closed".into()));
            }
        }
    }

    /// Waits until the connection with this id has been replaced.
    pub(crate) async fn wait_for_new_connection(&self, dead: usize) -> Result<(), RequestError> {
        self.connection(Some(dead)).await.map(|_| ())
    }

    /// [`Link::request`], with the stream opened in `ticket`'s turn: the server stores a
    /// session's messages in the order of their streams (docs/protocol.md, section 7). If the
    /// connection is lost before the answer, the stream is opened again on the next one in the
    /// same order among the sends it caught, before any later send (see `in_flight`).
    pub(crate) async fn request_in_turn(
        &self,
        frame: &ClientFrame,
        ticket: Ticket,
    ) -> Result<ServerFrame, RequestError> {
        ticket.turn().await;
        let mut conn = self.settled_connection(None, None).await?;
        let mut opened = conn.open_bi().await.map_err(|_| RequestError::ConnectionLost);
        let flight = self.in_flight.opened(conn.stable_id());
        drop(ticket);
        loop {
            let answer = match opened {
                Ok(streams) => exchange(streams, frame).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(answer) => return refused_as_error(answer),
                Err(RequestError::ConnectionLost) => {
                    // Only this stream may have failed; then the same connection serves again.
                    let dead = conn.close_reason().map(|_| conn.stable_id());
                    conn = self.settled_connection(dead, Some(flight.place)).await?;
                    opened = conn.open_bi().await.map_err(|_| RequestError::ConnectionLost);
                    flight.moved(conn.stable_id());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A live connection other than `dead` on which every unanswered send before `place`
    /// (every one, for `None`) has its stream. Waits for either to change, so it never holds
    /// on to a connection that was replaced meanwhile.
    async fn settled_connection(
        &self,
        dead: Option<usize>,
        place: Option<u64>,
    ) -> Result<quinn::Connection, RequestError> {
        let mut link = self.state.subscribe();
        loop {
            let moved = self.in_flight.changed.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            // Any change of the link from here on ends the wait below.
            link.borrow_and_update();
            let conn = self.connection(dead).await?;
            if self.in_flight.settled(place, conn.stable_id()) {
                return Ok(conn);
            }
            tokio::select! {
                () = moved => {}
                _ = link.changed() => {}
            }
        }
    }

    /// Sends one request frame on a new stream and returns the answer; retries on a new
    /// connection if this one is lost. Error frames come back as [`RequestError::Refused`].
    pub(crate) async fn request(&self, frame: &ClientFrame) -> Result<ServerFrame, RequestError> {
        let mut dead: Option<usize> = None;
        loop {
            let conn = self.connection(dead).await?;
            match request_on(&conn, frame).await {
                Ok(answer) => return refused_as_error(answer),
                Err(RequestError::ConnectionLost) => dead = Some(conn.stable_id()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// An `error` frame as [`RequestError::Refused`]; any other answer as it is.
fn refused_as_error(answer: ServerFrame) -> Result<ServerFrame, RequestError> {
    match answer {
        ServerFrame::Error { code, message, retry_after_ms } => {
            Err(RequestError::Refused { code, message, retry_after_ms })
        }
        answer => Ok(answer),
    }
}

/// One request on a given connection; error frames are returned as frames, so a caller that
/// must tie the answer to this connection (a download) sees them itself.
pub(crate) async fn request_on(
    conn: &quinn::Connection,
    frame: &ClientFrame,
) -> Result<ServerFrame, RequestError> {
    let streams = conn.open_bi().await.map_err(|_| RequestError::ConnectionLost)?;
    exchange(streams, frame).await
}

/// Writes a request frame on an opened stream and reads the answer.
async fn exchange(
    (mut send, mut recv): (quinn::SendStream, quinn::RecvStream),
    frame: &ClientFrame,
) -> Result<ServerFrame, RequestError> {
    write_frame(&mut send, frame).await.map_err(|_| RequestError::ConnectionLost)?;
    send.finish().map_err(|_| RequestError::ConnectionLost)?;
    match read_frame::<ServerFrame, _>(&mut recv).await {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) | Err(FrameError::Io(_)) | Err(FrameError::Truncated) => {
            Err(RequestError::ConnectionLost)
        }
        Err(e) => Err(RequestError::Protocol(e.to_string())),
    }
}
