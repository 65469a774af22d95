//! Serving one logged-in connection besides requests: messages delivered on server-opened
//! streams (in order, each id once) and the control stream both ways. State that must outlive
//! a connection (the highest id seen, queued control frames) lives here, so the next
//! connection resumes from it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quicq_common::frame::{read_frame, write_frame};
use quicq_common::protocol::{ClientFrame, ServerFrame};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::event::{Emitter, Event, TransferEvent};
use crate::transfer::{self, Transfers, UploadSignal};

/// A delivery stream whose frame does not arrive within this time is skipped.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the control stream may report how far this client has received.
const ACK_EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Session {
    /// Highest message id received; deliveries at or below it are duplicates.
    last_seen: AtomicU64,
    events: Emitter,
    transfers: Arc<Transfers>,
    /// Control frames to send (`file_done`, `read`, `typing`); survives reconnects.
    control_out: mpsc::UnboundedSender<ClientFrame>,
    control_queue: Mutex<mpsc::UnboundedReceiver<ClientFrame>>,
}

/// A delivered message is new only if its id is above every id seen before (the server sends
/// in id order, and repeats after a reconnect what may have been missed).
pub(crate) fn is_new(id: u64, seen_before: u64) -> bool {
    id > seen_before
}

impl Session {
    pub(crate) fn new(
        events: Emitter,
        transfers: Arc<Transfers>,
        control_out: mpsc::UnboundedSender<ClientFrame>,
        control_queue: mpsc::UnboundedReceiver<ClientFrame>,
    ) -> Self {
        Session {
            last_seen: AtomicU64::new(0),
            events,
            transfers,
            control_out,
            control_queue: Mutex::new(control_queue),
        }
    }

    /// The `resume_after` of the next `hello`: the highest id seen, if any.
    pub(crate) fn resume_after(&self) -> Option<u64> {
        match self.last_seen.load(Ordering::SeqCst) {
            0 => None,
            seen => Some(seen),
        }
    }

    /// Queues a frame for the control stream; it goes out on the current connection, or the
    /// next one if none is up.
    pub(crate) fn queue_control(&self, frame: ClientFrame) {
        let _ = self.control_out.send(frame);
    }

    /// Reads server-opened streams one after another, so messages are seen in the order sent.
    pub(crate) async fn read_deliveries(self: Arc<Self>, conn: quinn::Connection) {
        while let Ok(mut stream) = conn.accept_uni().await {
            let frame =
                tokio::time::timeout(DELIVERY_TIMEOUT, read_frame::<ServerFrame, _>(&mut stream))
                    .await;
            match frame {
                Ok(Ok(Some(ServerFrame::Message(message)))) => {
                    let previous = self.last_seen.fetch_max(message.id, Ordering::SeqCst);
                    if is_new(message.id, previous) {
                        let transfers = &self.transfers;
                        let own_upload = message
                            .file
                            .as_ref()
                            .is_some_and(|f| transfers.is_own_upload(&f.transfer_id));
                        let arrival = transfer::arrival(
                            &message,
                            own_upload,
                            transfers.has_download_dir(),
                            transfers.auto_download_max(),
                        );
                        transfer::on_arrival(transfers, arrival, &message);
                        self.events.emit(Event::Message(message));
                    }
                }
                Ok(Ok(Some(header @ ServerFrame::File { .. }))) => {
                    self.transfers.route_file_stream(header, stream);
                }
                Ok(Ok(other)) => tracing::warn!(?other, "unexpected frame on a delivery stream"),
                Ok(Err(e)) => tracing::warn!(cause = %e, "bad delivery stream"),
                Err(_) => tracing::warn!("delivery stream stalled; skipped"),
            }
        }
    }

    /// Reads the server's half of the control stream: presence, read positions, typing and
    /// upload verdicts.
    pub(crate) async fn read_control(self: Arc<Self>, mut recv: quinn::RecvStream) {
        let transfers = &self.transfers;
        loop {
            match read_frame::<ServerFrame, _>(&mut recv).await {
                Ok(Some(ServerFrame::Presence { online, offline })) => {
                    let changes = online.into_iter().map(|user| (user, true));
                    for (user, online) in changes.chain(offline.into_iter().map(|u| (u, false))) {
                        self.events.emit(Event::Presence { user, online });
                    }
                }
                Ok(Some(ServerFrame::Read { by, with, up_to })) => {
                    self.events.emit(Event::Read { by, with, up_to });
                }
                Ok(Some(ServerFrame::Typing { from, with, for_ms })) => {
                    self.events.emit(Event::Typing { from, with, for_ms });
                }
                Ok(Some(ServerFrame::FileAccepted { transfer_id, file_id, .. })) => {
                    transfers.signal_upload(&transfer_id, UploadSignal::Accepted(file_id));
                }
                Ok(Some(ServerFrame::FileComplete { transfer_id, file_id, offline })) => {
                    let signal = UploadSignal::Complete { file_id, offline };
                    transfers.signal_upload(&transfer_id, signal);
                }
                Ok(Some(ServerFrame::FileRejected { transfer_id, code, message, .. })) => {
                    let signal = UploadSignal::Rejected { code, message };
                    transfers.signal_upload(&transfer_id, signal);
                }
                Ok(Some(ServerFrame::FileDelivered { file_id, to })) => {
                    self.events.transfer(TransferEvent::Delivered { file_id, to });
                }
                Ok(Some(ServerFrame::FileGone { file_id, .. })) => {
                    // A running download learns it from its stream; stop one still waiting.
                    transfers.cancel_download(file_id);
                }
                Ok(Some(other)) => {
                    tracing::debug!(?other, "unexpected frame on the control stream");
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Writes the control stream: how far this client has received (at most four times a
    /// second) and queued frames such as `file_done`. When `closing` fires it writes a last
    /// `ack` and whatever is queued, then finishes the stream: the server stores them and then
    /// closes the connection, so a closed client is not sent the same messages again.
    pub(crate) async fn write_control(
        self: Arc<Self>,
        mut control: quinn::SendStream,
        closing: CancellationToken,
    ) {
        let mut queue = self.control_queue.lock().await;
        let mut acked = 0;
        let mut tick = tokio::time::interval(ACK_EVERY);
        loop {
            let frame = tokio::select! {
                _ = tick.tick() => match self.ack_due(&mut acked) {
                    Some(ack) => ack,
                    None => continue,
                },
                Some(frame) = queue.recv() => frame,
                () = closing.cancelled() => {
                    let mut last: Vec<ClientFrame> = self.ack_due(&mut acked).into_iter().collect();
                    while let Ok(frame) = queue.try_recv() {
                        last.push(frame);
                    }
                    for frame in &last {
                        if write_frame(&mut control, frame).await.is_err() {
                            return;
                        }
                    }
                    let _ = control.finish();
                    return;
                }
            };
            if write_frame(&mut control, &frame).await.is_err() {
                if matches!(frame, ClientFrame::FileDone { .. }) {
                    // Keep it for the next connection.
                    let _ = self.control_out.send(frame);
                }
                return;
            }
        }
    }

    /// An `ack` if anything was received since `acked`, which it then records.
    fn ack_due(&self, acked: &mut u64) -> Option<ClientFrame> {
        let seen = self.last_seen.load(Ordering::SeqCst);
        if seen <= *acked {
            return None;
        }
        *acked = seen;
        Some(ClientFrame::Ack { up_to: seen })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_delivery_is_new_only_above_every_id_seen() {
        let cases = [(1, 0, true), (5, 4, true), (4, 4, false), (3, 4, false), (0, 0, false)];
        for (id, seen, want) in cases {
            assert_eq!(super::is_new(id, seen), want, "id {id} after {seen}");
        }
    }
}
