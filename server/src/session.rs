//! One client connection: `hello` on the control stream, then requests on their own streams,
//! uploads on client-opened unidirectional streams, and deliveries on server-opened ones, until
//! either side goes away. This is the boundary where internal errors become what the peer is
//! told ([`ServerError::into_refusal`]).

use std::sync::Arc;
use std::time::Duration;

use quicq_common::frame::{FrameError, encode, read_frame, write_frame};
use quicq_common::protocol::{ClientFrame, ErrorCode, REQUEST_TIMEOUT_SECS, ServerFrame, close};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::chat;
use crate::delivery::Cursor;
use crate::edits;
use crate::error::{Refusal, ServerError};
use crate::files::{downloads, uploads};
use crate::groups;
use crate::hub::{Ending, Inbox, Outgoing};
use crate::login::{self, check_hello};
use crate::receipts;
use crate::state::{Peer, State};
use quicq_common::turns::{Ticket, Turns};

/// Messages read from the store per catch-up query.
const CATCH_UP_PAGE: usize = 256;
/// How long a refused client has to read its `error` before the connection closes.
const REFUSAL_LINGER: Duration = Duration::from_secs(3);

/// Why a session ended other than by a normal close.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("stream write failed: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("stream closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Server(#[from] ServerError),
}

/// What `hello` established.
struct LoggedIn {
    control_send: quinn::SendStream,
    control_recv: quinn::RecvStream,
    peer: Peer,
    resume_after: u64,
}

pub struct Session {
    conn: quinn::Connection,
    state: Arc<State>,
    shutdown: CancellationToken,
}

impl Session {
    pub fn new(conn: quinn::Connection, state: Arc<State>, shutdown: CancellationToken) -> Self {
        Session { conn, state, shutdown }
    }

    pub async fn run(self) -> Result<(), SessionError> {
        let Some(LoggedIn { control_send, control_recv, peer, resume_after }) =
            self.handshake().await?
        else {
            return Ok(());
        };
        tracing::Span::current().record("user", peer.account.name.as_str());
        tracing::info!(resume_after, "logged in");

        let kick_conn = self.conn.clone();
        let kick = Box::new(move |why| match why {
            Ending::Overflow => kick_conn.close(
                close::QUEUE_OVERFLOW.into(),
                b"delivery queue overflowed; reconnect to catch up",
            ),
            Ending::Disabled => {
                kick_conn.close(close::ACCOUNT_DISABLED.into(), b"account disabled")
            }
        });
        let (session_id, rx) = self.state.hub().register(peer.account.id, kick);
        let peer = Arc::new(peer);

        let mut tasks = JoinSet::new();
        let (conn, state) = (self.conn.clone(), self.state.clone());
        let account = peer.account.id;
        tasks.spawn(
            deliver(conn, control_send, rx, state, account, Cursor::new(resume_after))
                .in_current_span(),
        );
        let (conn, state) = (self.conn.clone(), self.state.clone());
        tasks.spawn(read_control(conn, control_recv, state, peer.clone()).in_current_span());

        let result = self.serve_requests(&peer, &mut tasks).await;
        self.state.hub().unregister(peer.account.id, session_id);
        tasks.abort_all();
        tracing::info!("session ended");
        result
    }

    /// Reads `hello` and logs in. `None` when the client was refused (it has been told why).
    async fn handshake(&self) -> Result<Option<LoggedIn>, SessionError> {
        // One deadline for opening the control stream and sending hello on it.
        let deadline = tokio::time::Instant::now() + self.state.config().hello_timeout();
        let Ok(accepted) = tokio::time::timeout_at(deadline, self.conn.accept_bi()).await else {
            self.conn.close(close::HELLO_TIMEOUT.into(), b"no hello received in time");
            return Ok(None);
        };
        let (mut send, recv) = accepted?;
        let mut recv = recv;
        let frame = match tokio::time::timeout_at(deadline, read_frame::<ClientFrame, _>(&mut recv))
            .await
        {
            Err(_) => {
                self.conn.close(close::HELLO_TIMEOUT.into(), b"no hello received in time");
                return Ok(None);
            }
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => {
                self.conn.close(close::NORMAL.into(), b"");
                return Ok(None);
            }
            Ok(Err(FrameError::Io(e))) => return Err(e.into()),
            Ok(Err(e)) => {
                let refusal = Refusal::new(e.code(), e.to_string());
                return self.refuse(send, refusal, close::PROTOCOL_VIOLATION).await;
            }
        };
        if let ClientFrame::Hello { client, .. } = &frame {
            tracing::debug!(client = %client.chars().take(64).collect::<String>(), "hello");
        }
        let hello = match check_hello(frame) {
            Ok(hello) => hello,
            Err((refusal, code)) => return self.refuse(send, refusal, code).await,
        };
        let (account, registered) = match login::login(
            &self.state,
            &hello.nickname,
            &hello.password,
            hello.invite.as_deref(),
            self.remote_ip(),
        )
        .await
        {
            Ok(ok) => ok,
            Err(e) => {
                let refusal = e.into_refusal();
                tracing::info!(nickname = %hello.nickname, code = %refusal.code, "login refused");
                return self.refuse(send, refusal, close::LOGIN_FAILED).await;
            }
        };
        let welcome = ServerFrame::Welcome {
            you: account.name.clone(),
            server: concat!("quicq-server ", env!("CARGO_PKG_VERSION")).to_owned(),
            registered,
            groups: self.state.hub().groups(account.id),
            limits: self.state.config().limits(),
            receipts: account.receipts,
        };
        write_frame(&mut send, &welcome).await?;
        let resume_after = hello.resume_after.unwrap_or(account.delivered_up_to);
        Ok(Some(LoggedIn {
            control_send: send,
            control_recv: recv,
            peer: Peer { account, device: hello.device },
            resume_after,
        }))
    }

    /// The peer's address, with IPv4 seen through a dual-stack socket as plain IPv4.
    fn remote_ip(&self) -> std::net::IpAddr {
        self.conn.remote_address().ip().to_canonical()
    }

    /// Sends an `error` on the control stream, lets it arrive, then closes the connection.
    async fn refuse<T>(
        &self,
        mut send: quinn::SendStream,
        refusal: Refusal,
        code: u32,
    ) -> Result<Option<T>, SessionError> {
        let reason = refusal.code.as_str().as_bytes().to_vec();
        write_frame(&mut send, &refusal.into_frame()).await?;
        send.finish()?;
        let _ = tokio::time::timeout(REFUSAL_LINGER, send.stopped()).await;
        self.conn.close(code.into(), &reason);
        Ok(None)
    }

    async fn serve_requests(
        &self,
        peer: &Arc<Peer>,
        tasks: &mut JoinSet<Result<(), SessionError>>,
    ) -> Result<(), SessionError> {
        let order = Turns::new();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => {
                    self.conn.close(close::SHUTDOWN.into(), b"server shutting down");
                    return Ok(());
                }
                accepted = self.conn.accept_bi() => {
                    let (send, recv) = match accepted {
                        Ok(streams) => streams,
                        Err(quinn::ConnectionError::ApplicationClosed(_) | quinn::ConnectionError::LocallyClosed) => return Ok(()),
                        Err(e) => return Err(e.into()),
                    };
                    let (state, peer, conn) = (self.state.clone(), peer.clone(), self.conn.clone());
                    // Accepted in the order the client opened them: that is the ticket's order.
                    let ticket = order.ticket();
                    let request = handle_request(state, peer, conn, send, recv, ticket);
                    tasks.spawn(request.in_current_span());
                }
                accepted = self.conn.accept_uni() => {
                    let Ok(recv) = accepted else { return Ok(()) };
                    // Not tied to the session: when the connection drops, the upload must still
                    // record how far it got so it can be resumed. Shutdown waits for it.
                    let (state, peer, conn) = (self.state.clone(), peer.clone(), self.conn.clone());
                    let task = uploads::receive(state, peer, conn, recv).in_current_span();
                    self.state.tasks().spawn(task);
                }
                Some(done) = tasks.join_next() => {
                    match done {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(cause = %e, "session task ended"),
                        Err(e) if e.is_panic() => tracing::error!(cause = %e, "session task panicked"),
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

/// Answers one request stream: one frame in, one frame out.
async fn handle_request(
    state: Arc<State>,
    peer: Arc<Peer>,
    conn: quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    ticket: Ticket,
) -> Result<(), SessionError> {
    let timeout = Duration::from_secs(REQUEST_TIMEOUT_SECS);
    let request = tokio::time::timeout(timeout, read_frame::<ClientFrame, _>(&mut recv)).await;
    let response = match request {
        Err(_) => {
            Err(Refusal::new(ErrorCode::RequestTimeout, "request frame not received in time"))
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => Err(Refusal::new(e.code(), e.to_string())),
        Ok(Ok(Some(frame))) => {
            answer(&state, &peer, conn, frame, ticket).await.map_err(ServerError::into_refusal)
        }
    };
    let frame = response.unwrap_or_else(|refusal| {
        tracing::debug!(code = %refusal.code, message = %refusal.message, "request refused");
        refusal.into_frame()
    });
    // Anything after the one request frame is not read.
    let _ = recv.stop(0u32.into());
    write_frame(&mut send, &frame).await?;
    send.finish()?;
    Ok(())
}

/// Routes a request frame to the handler that answers it.
async fn answer(
    state: &Arc<State>,
    peer: &Peer,
    conn: quinn::Connection,
    frame: ClientFrame,
    ticket: Ticket,
) -> Result<ServerFrame, ServerError> {
    let ClientFrame::Send { client_id, to, text, reply_to } = frame else {
        // Only sends are ordered; anything else lets the next stream go at once.
        drop(ticket);
        return answer_other(state, peer, conn, frame).await;
    };
    chat::send(state, &peer.account, client_id, to, text, reply_to, chat::Turn { ticket, conn })
        .await
}

/// Routes a request frame other than `send` to the handler that answers it.
async fn answer_other(
    state: &Arc<State>,
    peer: &Peer,
    conn: quinn::Connection,
    frame: ClientFrame,
) -> Result<ServerFrame, ServerError> {
    let account = &peer.account;
    match frame {
        ClientFrame::History { with, before, limit } => {
            chat::history(state, account, with, before, limit).await
        }
        ClientFrame::Search { text, with, before, limit } => {
            chat::search(state, account, text, with, before, limit).await
        }
        ClientFrame::Edit { client_id, id, text } => {
            edits::edit(state, account, client_id, id, text).await
        }
        ClientFrame::Recall { client_id, id } => edits::recall(state, account, client_id, id).await,
        ClientFrame::React { client_id, id, emoji } => {
            edits::react(state, account, client_id, id, emoji).await
        }
        ClientFrame::GroupCreate { name, members } => {
            groups::requests::create(state, account, name, members).await
        }
        ClientFrame::Group { group, change } => {
            groups::requests::change(state, account, group, change).await
        }
        ClientFrame::GroupMembers { group } => groups::requests::members(state, account, &group),
        ClientFrame::Groups {} => {
            Ok(ServerFrame::GroupList { groups: state.hub().groups(account.id) })
        }
        ClientFrame::Receipts { with } => receipts::positions(state, account, with).await,
        ClientFrame::Conversations {} => receipts::conversations(state, account).await,
        ClientFrame::Settings { receipts } => receipts::settings(state, account, receipts).await,
        ClientFrame::Users { after } => Ok(chat::users(state, after)),
        ClientFrame::UploadStatus { transfer_id } => {
            uploads::status(state, peer, transfer_id).await
        }
        ClientFrame::Download { file_id, offset } => {
            downloads::start(state.clone(), peer, conn, file_id, offset).await
        }
        ClientFrame::PendingFiles {} => downloads::pending(state, peer).await,
        ClientFrame::Send { .. } => {
            Err(ServerError::refused(ErrorCode::Internal, "send reached the wrong handler"))
        }
        ClientFrame::Hello { .. }
        | ClientFrame::Ack { .. }
        | ClientFrame::FileDone { .. }
        | ClientFrame::Read { .. }
        | ClientFrame::Typing { .. } => Err(ServerError::refused(
            ErrorCode::UnexpectedFrame,
            "hello, ack, file_done, read and typing belong on the control stream",
        )),
        ClientFrame::Upload { .. } => Err(ServerError::refused(
            ErrorCode::UnexpectedFrame,
            "upload belongs on a unidirectional stream",
        )),
        _ => Err(ServerError::refused(ErrorCode::UnexpectedFrame, "this frame is not a request")),
    }
}

/// Reads `ack`s and `file_done`s on the control stream. A clean finish ends the session
/// normally; anything else on this stream is a protocol violation.
async fn read_control(
    conn: quinn::Connection,
    mut recv: quinn::RecvStream,
    state: Arc<State>,
    peer: Arc<Peer>,
) -> Result<(), SessionError> {
    let account = peer.account.id;
    loop {
        match read_frame::<ClientFrame, _>(&mut recv).await {
            Ok(Some(ClientFrame::Ack { up_to })) => {
                state.with_store(move |s| Ok(s.set_delivered(account, up_to)?)).await?;
            }
            Ok(Some(ClientFrame::FileDone { file_id, saved })) => {
                downloads::done(&state, &peer, file_id, saved).await?;
            }
            Ok(Some(ClientFrame::Read { with, up_to })) => {
                receipts::read(&state, &peer.account, with, up_to).await?;
            }
            Ok(Some(ClientFrame::Typing { to })) => receipts::typing(&state, &peer.account, to),
            Ok(Some(_)) => {
                conn.close(
                    close::PROTOCOL_VIOLATION.into(),
                    b"only ack, file_done, read and typing are allowed on the control stream after hello",
                );
                return Ok(());
            }
            Ok(None) => {
                conn.close(close::NORMAL.into(), b"");
                return Ok(());
            }
            Err(FrameError::Io(e)) => return Err(e.into()),
            Err(e) => {
                let reason = format!("{}: {e}", e.code());
                conn.close(close::PROTOCOL_VIOLATION.into(), reason.as_bytes());
                return Ok(());
            }
        }
    }
}

/// The session's writer: first catches up from the store, then sends queued live items,
/// skipping messages the catch-up already sent (see [`Cursor`]).
async fn deliver(
    conn: quinn::Connection,
    mut control: quinn::SendStream,
    mut rx: Inbox,
    state: Arc<State>,
    account: i64,
    mut cursor: Cursor,
) -> Result<(), SessionError> {
    loop {
        let after = cursor.after();
        let page =
            state.with_store(move |s| Ok(s.inbox_after(account, after, CATCH_UP_PAGE)?)).await?;
        for message in &page {
            if cursor.admit(message.id) {
                send_uni(&conn, &encode(&ServerFrame::Message(message.clone()))).await?;
            }
        }
        if !Cursor::more_after(page.len(), CATCH_UP_PAGE) {
            break;
        }
    }
    while let Some(item) = rx.recv().await {
        match item {
            Outgoing::Message { id, frame } => {
                if cursor.admit(id) {
                    send_uni(&conn, &frame).await?;
                }
            }
            Outgoing::Control(frame) => control.write_all(&frame).await?,
        }
    }
    Ok(())
}

async fn send_uni(conn: &quinn::Connection, frame: &[u8]) -> Result<(), SessionError> {
    let mut stream = conn.open_uni().await?;
    stream.write_all(frame).await?;
    stream.finish()?;
    Ok(())
}
