//! The life of a message: sending one (or a reply), editing, recalling and reacting to it, and
//! finding it again by search. A change to a message is a stored event that the server answers
//! like a send, so each goes through the same ordered, repeated-until-stored path as `send`
//! (`Client::store`) and reaches every participant as an
//! [`Event::Message`](crate::Event::Message).

use std::future::Future;

use quicq_common::check::{Invalid, check_client_id, check_emoji, check_search, check_send};
use quicq_common::nickname::key_of;
use quicq_common::protocol::{Address, ChatMessage, ClientFrame, MAX_SEARCH_PAGE, ServerFrame};

use crate::client::{Client, Sent};
use crate::error::RequestError;

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// Newest first.
    pub messages: Vec<ChatMessage>,
    /// True when older matches exist; ask again with `before` = the last id.
    pub more: bool,
}

/// A fresh client id. Time-ordered, so the server's (account, client_id) index grows at one
/// end instead of touching a random page per message.
fn new_client_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The conversation a message belongs to, as `me` names it: its group, or for a one-to-one
/// message the other person (whichever side `me` was on). This is the `with` of `history`,
/// `mark_read` and `receipts` for it.
pub fn conversation_of(message: &ChatMessage, me: &str) -> Address {
    match &message.to {
        Address::User(to) if key_of(to) == key_of(me) => Address::User(message.from.clone()),
        to => to.clone(),
    }
}

fn edit_frame(client_id: String, id: u64, text: String, max_text_chars: u32) -> Checked {
    let checked = check_send(&client_id, &text, max_text_chars);
    (checked, ClientFrame::Edit { client_id, id, text })
}

fn recall_frame(client_id: String, id: u64) -> Checked {
    (check_client_id(&client_id), ClientFrame::Recall { client_id, id })
}

fn react_frame(client_id: String, id: u64, emoji: Option<String>) -> Checked {
    let checked =
        check_client_id(&client_id).and_then(|()| emoji.as_deref().map_or(Ok(()), check_emoji));
    (checked, ClientFrame::React { client_id, id, emoji })
}

/// A frame to store and what the server would say about it.
type Checked = (Result<(), Invalid>, ClientFrame);

impl Client {
    /// Sends a chat message and waits until the server has stored it. A lost connection does not
    /// lose it: the same message (same client id) is sent again after reconnecting and the server
    /// stores it once.
    ///
    /// Messages are stored in the order of the calls to `send` (and of every other call that
    /// changes something: [`Client::send_reply`], [`Client::edit`], [`Client::recall`],
    /// [`Client::react`], group changes), not of the awaits, so a front end may send each typed
    /// line from its own task and they still arrive in order. Sends are pipelined: many can be
    /// in flight at once. The server orders only sends, so the other changes wait for the
    /// answers to every earlier call and hold later ones back until their own answer. A message
    /// refused and repeated (rate limited) or caught by a lost connection takes its place again
    /// when it is repeated.
    pub fn send(
        &self,
        to: Address,
        text: impl Into<String>,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        self.send_message(to, text.into(), None)
    }

    /// [`Client::send`] quoting message `reply_to`, which must be a person's message of the same
    /// conversation (else the server answers `unknown_message`).
    pub fn send_reply(
        &self,
        to: Address,
        text: impl Into<String>,
        reply_to: u64,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        self.send_message(to, text.into(), Some(reply_to))
    }

    fn send_message(
        &self,
        to: Address,
        text: String,
        reply_to: Option<u64>,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        let client_id = new_client_id();
        // The server's own checks, so what it would refuse is refused here with its words.
        let checked = check_send(&client_id, &text, self.limits().max_text_chars);
        self.store_checked((checked, ClientFrame::Send { client_id, to, text, reply_to }))
    }

    /// Replaces the text of one's own message `id`, within `edit_window_secs` of sending it.
    /// Resolves to the stored `edited` event, which every participant receives.
    pub fn edit(
        &self,
        id: u64,
        text: impl Into<String>,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        let max = self.limits().max_text_chars;
        self.store_checked(edit_frame(new_client_id(), id, text.into(), max))
    }

    /// Deletes one's own message `id` for everyone (its file too), within
    /// `recall_window_secs`. Resolves to the stored `recalled` event.
    pub fn recall(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        self.store_checked(recall_frame(new_client_id(), id))
    }

    /// Sets one's reaction to message `id` (replacing an earlier one), or clears it with `None`.
    /// Resolves to the stored `reacted` event.
    pub fn react(
        &self,
        id: u64,
        emoji: Option<String>,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        self.store_checked(react_frame(new_client_id(), id, emoji))
    }

    /// Stores `frame` in its place, taken now; a frame the server would refuse fails without
    /// being sent (its place is given up at once).
    fn store_checked(
        &self,
        (checked, frame): Checked,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        let stored = self.store(frame);
        async move {
            checked?;
            stored.await
        }
    }

    /// Messages containing `text` (case-insensitive), newest first, in every conversation one
    /// can read or only in `with`; pass the oldest id seen as `before` for the next page.
    /// Events and recalled messages are never found.
    pub async fn search(
        &self,
        text: impl Into<String>,
        with: Option<Address>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<SearchPage, RequestError> {
        let text = text.into();
        check_search(&text, self.limits().max_text_chars)?;
        let frame =
            ClientFrame::Search { text, with, before, limit: limit.clamp(1, MAX_SEARCH_PAGE) };
        match self.request(&frame).await? {
            ServerFrame::SearchResults { messages, more } => Ok(SearchPage { messages, more }),
            other => Err(RequestError::unexpected("search_results", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use quicq_common::protocol::ErrorCode;

    use super::*;

    #[test]
    fn a_message_belongs_to_its_group_or_to_the_other_person() {
        let m =
            |from: &str, to: Address| ChatMessage { from: from.into(), to, ..Default::default() };
        let user = |n: &str| Address::User(n.into());
        let cases = [
            (m("bob", user("alice")), "alice", user("bob")),
            (m("alice", user("bob")), "alice", user("bob")),
            // Names compare by key, whatever spelling the frame carries.
            (m("bob", user("Alice")), "alice", user("bob")),
            (m("alice", user("alice")), "alice", user("alice")),
            (m("bob", Address::Group("rust".into())), "alice", Address::Group("rust".into())),
            (m("alice", Address::everyone()), "alice", Address::everyone()),
        ];
        for (message, me, want) in cases {
            assert_eq!(conversation_of(&message, me), want, "{message:?} seen by {me}");
        }
    }

    #[test]
    fn changes_are_checked_as_the_server_checks_them() {
        let id = || "c1".to_owned();
        let code = |checked: Checked| checked.0.err().map(|e| e.code);
        let cases = [
            (edit_frame(id(), 1, "new".into(), 10), None),
            (edit_frame(id(), 1, " ".into(), 10), Some(ErrorCode::EmptyText)),
            (edit_frame(id(), 1, "x".repeat(11), 10), Some(ErrorCode::TextTooLong)),
            (edit_frame("event:1".into(), 1, "x".into(), 10), Some(ErrorCode::InvalidClientId)),
            (recall_frame(id(), 1), None),
            (recall_frame("file:1".into(), 1), Some(ErrorCode::InvalidClientId)),
            (react_frame(id(), 1, Some("👍".into())), None),
            (react_frame(id(), 1, None), None),
            (react_frame(id(), 1, Some("ok".into())), Some(ErrorCode::InvalidEmoji)),
            (react_frame(id(), 1, Some(String::new())), Some(ErrorCode::InvalidEmoji)),
        ];
        for (checked, want) in cases {
            let shown = format!("{:?}", checked.1);
            assert_eq!(code(checked), want, "{shown}");
        }
        let (_, frame) = react_frame(id(), 7, None);
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"type":"react","client_id":"c1","id":7}"#
        );
    }
}
