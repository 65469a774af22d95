//! Turns: tickets taken in one order, each of which can wait until every earlier ticket is
//! done, in whatever order they finish. This is how a QuicQ session keeps one sender's messages
//! in order although each travels on its own stream: the client takes a ticket per `send` as it
//! is called and opens the stream in the ticket's turn; the server takes one per request stream
//! as it accepts them (in stream-id order) and hands a message to its store in the ticket's turn
//! (docs/protocol.md, section 7, Order). Only that step waits; everything after it runs in
//! parallel, so sends stay pipelined.
//!
//! Dropping a ticket finishes it, so a request that fails or times out never blocks the ones
//! after it for longer than it lived.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// One sequence of turns.
#[derive(Debug, Default)]
pub struct Turns {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    issued: u64,
    /// Every ticket below this is done.
    next: u64,
    /// Done tickets above `next`.
    done: BTreeSet<u64>,
}

impl Turns {
    pub fn new() -> Arc<Self> {
        Arc::new(Turns::default())
    }

    /// The next ticket; its turn comes after every ticket taken before it.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        let mut state = self.lock();
        let number = state.issued;
        state.issued += 1;
        Ticket { order: self.clone(), number }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Two integers and a set: nothing a panic could leave inconsistent in a harmful way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A place in a [`Turns`]; dropping it lets the next ticket go.
#[derive(Debug)]
pub struct Ticket {
    order: Arc<Turns>,
    number: u64,
}

impl Ticket {
    /// Waits until every ticket taken before this one is done.
    pub async fn turn(&self) {
        loop {
            let notified = self.order.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.order.lock().next >= self.number {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.order.lock();
        state.done.insert(self.number);
        let mut advanced = false;
        loop {
            let next = state.next;
            if !state.done.remove(&next) {
                break;
            }
            state.next += 1;
            advanced = true;
        }
        drop(state);
        if advanced {
            self.order.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `turn` completes within a moment.
    async fn has_turn(ticket: &Ticket) -> bool {
        tokio::time::timeout(Duration::from_millis(50), ticket.turn()).await.is_ok()
    }

    #[tokio::test]
    async fn a_ticket_waits_for_every_earlier_one_in_any_order_of_release() {
        let order = Turns::new();
        let (first, second, third) = (order.ticket(), order.ticket(), order.ticket());
        assert!(has_turn(&first).await);
        assert!(!has_turn(&third).await);
        // The second is released first (another request, or a send that was refused): the
        // third still waits for the first.
        drop(second);
        assert!(!has_turn(&third).await);
        drop(first);
        assert!(has_turn(&third).await);
    }

    #[tokio::test]
    async fn waiting_tickets_are_woken_in_their_order() {
        let order = Turns::new();
        let tickets: Vec<Ticket> = (0..20).map(|_| order.ticket()).collect();
        let (log, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = tokio::task::JoinSet::new();
        // Spawned in reverse, so arrival order is the opposite of the tickets' order.
        for (i, ticket) in tickets.into_iter().enumerate().rev() {
            let log = log.clone();
            tasks.spawn(async move {
                ticket.turn().await;
                log.send(i).unwrap();
            });
        }
        while tasks.join_next().await.is_some() {}
        drop(log);
        let mut got = Vec::new();
        while let Some(i) = seen.recv().await {
            got.push(i);
        }
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    }
}
