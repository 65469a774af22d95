//! One client connection: `hello` on the control stream, then requests on their own streams and
//! deliveries on server-opened unidirectional streams until either side goes away.

use std::sync::Arc;
use std::time::Duration;

use quicq_common::frame::{FrameError, encode, read_frame, write_frame};
use quicq_common::protocol::{
    ClientFrame, ErrorCode, MAX_TRANSFER_ID_LEN, PROTOCOL_VERSION, ServerFrame, close,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::chat::{Chat, Refusal};
use crate::hub::Outgoing;
use crate::transfer::{self, Peer};

/// How long a request stream may take to deliver its one frame.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages read from the store per catch-up query.
const CATCH_UP_PAGE: usize = 256;

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
    #[error("storage: {}", .0.message)]
    Store(Refusal),
}

pub struct Session {
    conn: quinn::Connection,
    chat: Arc<Chat>,
    shutdown: CancellationToken,
}

impl Session {
    pub fn new(conn: quinn::Connection, chat: Arc<Chat>, shutdown: CancellationToken) -> Self {
        Session { conn, chat, shutdown }
    }

    pub async fn run(self) -> Result<(), SessionError> {
        let Some((control_send, control_recv, peer, resume)) = self.handshake().await? else {
            return Ok(());
        };
        let account = &peer.account;
        tracing::Span::current().record("user", account.name.as_str());
        tracing::info!(resume, "logged in");

        let kick_conn = self.conn.clone();
        let kick = Box::new(move || {
            kick_conn.close(
                close::QUEUE_OVERFLOW.into(),
                b"delivery queue overflowed; reconnect to catch up",
            )
        });
        let (session_id, rx) = self.chat.hub.register(account.id, kick);
        let peer = Arc::new(peer);

        let mut tasks = JoinSet::new();
        tasks.spawn(
            deliver(
                self.conn.clone(),
                control_send,
                rx,
                self.chat.clone(),
                peer.account.id,
                resume,
            )
            .in_current_span(),
        );
        tasks.spawn(
            read_control(self.conn.clone(), control_recv, self.chat.clone(), peer.clone())
                .in_current_span(),
        );

        let result = self.serve_requests(&peer, &mut tasks).await;
        self.chat.hub.unregister(peer.account.id, session_id);
        tasks.abort_all();
        tracing::info!("session ended");
        result
    }

    /// Reads `hello` and logs in. `None` when the client was refused (it has been told why).
    async fn handshake(
        &self,
    ) -> Result<Option<(quinn::SendStream, quinn::RecvStream, Peer, u64)>, SessionError> {
        // One deadline for opening the control stream and sending hello on it.
        let deadline = tokio::time::Instant::now() + self.chat.config.hello_timeout();
        let Ok(accepted) = tokio::time::timeout_at(deadline, self.conn.accept_bi()).await else {
            self.conn.close(close::HELLO_TIMEOUT.into(), b"no hello received in time");
            return Ok(None);
        };
        let (mut send, mut recv) = accepted?;
        let hello = match tokio::time::timeout_at(deadline, read_frame::<ClientFrame, _>(&mut recv))
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
        let ClientFrame::Hello { version, nickname, password, client, resume_after, device } =
            hello
        else {
            let refusal = Refusal::new(
                ErrorCode::NotLoggedIn,
                "the first frame on the control stream must be hello",
            );
            return self.refuse(send, refusal, close::PROTOCOL_VIOLATION).await;
        };
        if version != PROTOCOL_VERSION {
            let refusal = Refusal::new(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}, not {version}"),
            );
            return self.refuse(send, refusal, close::LOGIN_FAILED).await;
        }
        let device = device.unwrap_or_default();
        if device.len() > MAX_TRANSFER_ID_LEN {
            let refusal =
                Refusal::new(ErrorCode::MalformedFrame, "device id is longer than 64 bytes");
            return self.refuse(send, refusal, close::PROTOCOL_VIOLATION).await;
        }
        tracing::debug!(client = %client.chars().take(64).collect::<String>(), "hello");
        let (account, registered) = match self.chat.login(&nickname, &password).await {
            Ok(ok) => ok,
            Err(refusal) => {
                tracing::info!(nickname = %nickname.chars().take(40).collect::<String>(), code = %refusal.code, "login refused");
                return self.refuse(send, refusal, close::LOGIN_FAILED).await;
            }
        };
        let welcome = ServerFrame::Welcome {
            you: account.name.clone(),
            server: concat!("quicq-server ", env!("CARGO_PKG_VERSION")).to_owned(),
            registered,
            groups: self.chat.hub.groups(),
            limits: self.chat.config.limits(),
        };
        write_frame(&mut send, &welcome).await?;
        let resume = resume_after.unwrap_or(account.delivered_up_to);
        Ok(Some((send, recv, Peer { account, device }, resume)))
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
        let _ = tokio::time::timeout(Duration::from_secs(3), send.stopped()).await;
        self.conn.close(code.into(), &reason);
        Ok(None)
    }

    async fn serve_requests(
        &self,
        peer: &Arc<Peer>,
        tasks: &mut JoinSet<Result<(), SessionError>>,
    ) -> Result<(), SessionError> {
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
                    let (chat, peer, conn) = (self.chat.clone(), peer.clone(), self.conn.clone());
                    tasks.spawn(handle_request(chat, peer, conn, send, recv).in_current_span());
                }
                accepted = self.conn.accept_uni() => {
                    let Ok(recv) = accepted else { return Ok(()) };
                    // Not tied to the session: when the connection drops, the upload must still
                    // record how far it got so it can be resumed.
                    let (chat, peer) = (self.chat.clone(), peer.clone());
                    tokio::spawn(transfer::receive_upload(chat, peer, recv).in_current_span());
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
    chat: Arc<Chat>,
    peer: Arc<Peer>,
    conn: quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Result<(), SessionError> {
    let request =
        tokio::time::timeout(REQUEST_TIMEOUT, read_frame::<ClientFrame, _>(&mut recv)).await;
    let response = match request {
        Err(_) => {
            Err(Refusal::new(ErrorCode::RequestTimeout, "request frame not received in time"))
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => Err(Refusal::new(e.code(), e.to_string())),
        Ok(Ok(Some(frame))) => match frame {
            ClientFrame::Send { client_id, to, text } => {
                chat.send(&peer.account, client_id, to, text).await
            }
            ClientFrame::History { with, before, limit } => {
                chat.history(&peer.account, with, before, limit).await
            }
            ClientFrame::Users { after } => Ok(chat.users(after)),
            ClientFrame::UploadStatus { transfer_id } => {
                transfer::upload_status(&chat, &peer, transfer_id).await
            }
            ClientFrame::Download { file_id, offset } => {
                transfer::start_download(chat.clone(), peer.clone(), conn, file_id, offset).await
            }
            ClientFrame::PendingFiles {} => {
                let (id, device) = (peer.account.id, peer.device.clone());
                chat.with_store(move |s| s.pending_files(id, &device, 100))
                    .await
                    .map(|messages| ServerFrame::FileList { messages })
            }
            ClientFrame::Hello { .. } | ClientFrame::Ack { .. } | ClientFrame::FileDone { .. } => {
                Err(Refusal::new(
                    ErrorCode::UnexpectedFrame,
                    "hello, ack and file_done belong on the control stream",
                ))
            }
            ClientFrame::Upload { .. } => Err(Refusal::new(
                ErrorCode::UnexpectedFrame,
                "upload belongs on a unidirectional stream",
            )),
            _ => Err(Refusal::new(ErrorCode::UnexpectedFrame, "this frame is not a request")),
        },
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

/// Reads `ack`s on the control stream. A clean finish ends the session normally; anything else
/// on this stream is a protocol violation.
async fn read_control(
    conn: quinn::Connection,
    mut recv: quinn::RecvStream,
    chat: Arc<Chat>,
    peer: Arc<Peer>,
) -> Result<(), SessionError> {
    let account = peer.account.id;
    loop {
        match read_frame::<ClientFrame, _>(&mut recv).await {
            Ok(Some(ClientFrame::Ack { up_to })) => {
                chat.with_store(move |s| s.set_delivered(account, up_to))
                    .await
                    .map_err(SessionError::Store)?;
            }
            Ok(Some(ClientFrame::FileDone { file_id, saved })) => {
                chat.file_done(&peer.account, &peer.device, file_id, saved)
                    .await
                    .map_err(SessionError::Store)?;
            }
            Ok(Some(_)) => {
                conn.close(
                    close::PROTOCOL_VIOLATION.into(),
                    b"only ack and file_done are allowed on the control stream after hello",
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

/// The session's writer: first catches up from the store after `pos`, then sends queued live
/// items, skipping messages the catch-up already sent. Messages go out in id order.
async fn deliver(
    conn: quinn::Connection,
    mut control: quinn::SendStream,
    mut rx: mpsc::Receiver<Outgoing>,
    chat: Arc<Chat>,
    account: i64,
    mut pos: u64,
) -> Result<(), SessionError> {
    loop {
        let after = pos;
        let page = chat
            .with_store(move |s| s.inbox_after(account, after, CATCH_UP_PAGE))
            .await
            .map_err(SessionError::Store)?;
        for message in &page {
            let id = message.id;
            send_uni(&conn, &encode(&ServerFrame::Message(message.clone()))).await?;
            pos = id;
        }
        if page.len() < CATCH_UP_PAGE {
            break;
        }
    }
    while let Some(item) = rx.recv().await {
        match item {
            Outgoing::Message { id, .. } if id <= pos => {}
            Outgoing::Message { id, frame } => {
                send_uni(&conn, &frame).await?;
                pos = id;
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
