//! What the participants of a conversation tell each other about their attention: how far each
//! has read (read positions, receipts, unread counts) and who is typing.
//!
//! `read` and `typing` travel on the control stream and are never answered. They are signals,
//! stale by the time a lost connection is back, so while no connection is up they are dropped,
//! never queued and never an error.

use quicq_common::protocol::{Address, ClientFrame, Conversation, ReadPosition, ServerFrame};

use crate::client::Client;
use crate::error::RequestError;

impl Client {
    /// Tells the server (and so one's other sessions, and the other participants if receipts
    /// are on) that one has read the conversation `with` up to message `up_to`. Positions only
    /// rise; a lower one is ignored by the server.
    pub fn mark_read(&self, with: Address, up_to: u64) {
        self.signal(ClientFrame::Read { with, up_to });
    }

    /// Tells the other participants of `to` that one is typing. Call it again at most every
    /// few seconds while typing goes on (the server relays one per two seconds); it expires by
    /// itself.
    pub fn typing(&self, to: Address) {
        self.signal(ClientFrame::Typing { to });
    }

    /// How far the other participants of `with` have read it (those who share receipts). Empty
    /// when one's own receipts are off or the group is larger than `receipts_max_members`.
    pub async fn receipts(&self, with: Address) -> Result<Vec<ReadPosition>, RequestError> {
        match self.request(&ClientFrame::Receipts { with }).await? {
            ServerFrame::Receipts { read, .. } => Ok(read),
            other => Err(RequestError::unexpected("receipts", &other)),
        }
    }

    /// One's conversations with their unread counts, most recent first.
    pub async fn conversations(&self) -> Result<Vec<Conversation>, RequestError> {
        match self.request(&ClientFrame::Conversations {}).await? {
            ServerFrame::ConversationList { conversations } => Ok(conversations),
            other => Err(RequestError::unexpected("conversation_list", &other)),
        }
    }

    /// Turns one's read receipts on or off (off: others do not see how far one has read, and
    /// one does not see theirs). Returns the setting now in force, also in
    /// [`Client::welcome`] from now on.
    pub async fn set_receipts(&self, on: bool) -> Result<bool, RequestError> {
        match self.request(&ClientFrame::Settings { receipts: Some(on) }).await? {
            ServerFrame::Settings { receipts } => {
                self.note_receipts(receipts);
                Ok(receipts)
            }
            other => Err(RequestError::unexpected("settings", &other)),
        }
    }
}
