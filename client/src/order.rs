//! The order of the calls that change something (send, reply, edit, recall, react, group
//! changes): a front end may make them from many tasks and still have them applied in the
//! order it called them, while sends stay pipelined.
//!
//! The server stores a session's `send`s in the order their streams were opened
//! (docs/protocol.md, section 7), so a send only waits for every earlier call to have opened its
//! stream. Every other change goes through at once on the server, so to keep its place it waits
//! until every earlier call has been answered, and holds every later one back until it is
//! answered itself: one round trip without pipelining, for changes that are rare.

use std::sync::{Arc, Mutex};

use quicq_common::protocol::ClientFrame;
use quicq_common::turns::{Ticket, Turns};

/// Two sequences of tickets in the same order: one done when a call's stream is open, one when
/// its answer has come.
#[derive(Debug, Default)]
pub(crate) struct Order {
    opened: Arc<Turns>,
    answered: Arc<Turns>,
    /// Both tickets of a place are taken together, so the two sequences never disagree (which
    /// could make two calls wait for each other).
    taking: Mutex<()>,
}

/// One call's place in the [`Order`]; dropping it (or its parts) lets later calls go.
#[derive(Debug)]
pub(crate) struct Place {
    /// Handed out by [`Place::turn`] for a send, to be dropped once its stream is open.
    opened: Option<Ticket>,
    answered: Ticket,
}

impl Order {
    pub(crate) fn new() -> Self {
        Order { opened: Turns::new(), answered: Turns::new(), taking: Mutex::new(()) }
    }

    /// The next place, after every place taken before.
    pub(crate) fn place(&self) -> Place {
        let _taking = self.taking.lock().unwrap_or_else(|e| e.into_inner());
        Place { opened: Some(self.opened.ticket()), answered: self.answered.ticket() }
    }
}

/// Whether the server keeps `frame` in the order of its stream among the session's sends.
pub(crate) fn server_orders(frame: &ClientFrame) -> bool {
    matches!(frame, ClientFrame::Send { .. })
}

impl Place {
    /// Waits for this call's turn to open its stream. For a frame the server orders, that is
    /// once every earlier call has opened its stream, and it returns the ticket to drop as soon
    /// as this one is open. For any other, it is once every earlier call has been answered, and
    /// it returns `None`: the place stays held, so later calls wait, until it is dropped after
    /// the answer.
    pub(crate) async fn turn(&mut self, frame: &ClientFrame) -> Option<Ticket> {
        if let Some(opened) = &self.opened {
            opened.turn().await;
        }
        if server_orders(frame) {
            return self.opened.take();
        }
        self.answered.turn().await;
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use quicq_common::protocol::Address;

    use super::*;

    fn send() -> ClientFrame {
        ClientFrame::Send {
            client_id: "c".into(),
            to: Address::everyone(),
            text: "t".into(),
            reply_to: None,
        }
    }

    fn edit() -> ClientFrame {
        ClientFrame::Edit { client_id: "c".into(), id: 1, text: "t".into() }
    }

    /// Whether `place` gets its turn for `frame` within a moment; if so, what it hands back.
    async fn turn(place: &mut Place, frame: &ClientFrame) -> Option<Option<Ticket>> {
        tokio::time::timeout(Duration::from_millis(50), place.turn(frame)).await.ok()
    }

    #[test]
    fn only_sends_are_ordered_by_the_server() {
        let group = ClientFrame::Group {
            group: "g".into(),
            change: quicq_common::protocol::GroupChange::Leave {},
        };
        let cases = [
            (send(), true),
            (edit(), false),
            (ClientFrame::Recall { client_id: "c".into(), id: 1 }, false),
            (ClientFrame::React { client_id: "c".into(), id: 1, emoji: None }, false),
            (group, false),
        ];
        for (frame, want) in cases {
            assert_eq!(server_orders(&frame), want, "{frame:?}");
        }
    }

    #[tokio::test]
    async fn sends_pipeline_and_a_change_waits_for_their_answers() {
        let order = Order::new();
        let (mut a, mut b, mut change, mut c) =
            (order.place(), order.place(), order.place(), order.place());
        // The first send opens at once; the second once the first's stream is open.
        let opened_a = turn(&mut a, &send()).await.expect("first send goes").expect("ticket");
        assert!(turn(&mut b, &send()).await.is_none());
        drop(opened_a);
        let opened_b = turn(&mut b, &send()).await.expect("second send goes").expect("ticket");
        drop(opened_b);
        // Both are open but not answered: the edit waits.
        assert!(turn(&mut change, &edit()).await.is_none());
        drop(a);
        assert!(turn(&mut change, &edit()).await.is_none());
        drop(b);
        assert!(matches!(turn(&mut change, &edit()).await, Some(None)));
        // The send after the edit may not open before the edit is answered.
        assert!(turn(&mut c, &send()).await.is_none());
        drop(change);
        assert!(turn(&mut c, &send()).await.is_some());
    }
}
