//! Sends caught by a lost connection keep their order. The server stores a session's sends in
//! the order of their streams, but a new connection is a new session: if the sends that were
//! unanswered when the old one died simply raced to the new one, they (and sends called after
//! them) could be stored in any order. So every send whose stream is open and unanswered is
//! listed here with the connection its stream is on, and a stream is opened only once every
//! earlier listed send has its stream on that same connection: after a loss, the caught sends
//! open theirs again one after another in their first order, and later sends wait behind them.
//! Opening is the only step that waits; answers still come in parallel.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// Unanswered sends, by the order their streams were first opened in.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    state: Mutex<State>,
    /// Notified whenever a send is listed, moves or leaves.
    pub(crate) changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// Place → stable id of the connection its current stream is on.
    sends: BTreeMap<u64, usize>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A counter and a map of integers: nothing a panic could leave harmfully inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether every listed send before `place` (every one, for `None`) has its stream on
    /// connection `conn`.
    pub(crate) fn settled(&self, place: Option<u64>, conn: usize) -> bool {
        let state = self.lock();
        let earlier = match place {
            Some(place) => state.sends.range(..place),
            None => state.sends.range(..),
        };
        earlier.into_iter().all(|(_, on)| *on == conn)
    }

    /// Lists a send whose stream was just opened on `conn`; call it in the send's turn, so
    /// places follow the order of the calls. The send leaves the list when the returned
    /// [`Flight`] is dropped.
    pub(crate) fn opened(&self, conn: usize) -> Flight<'_> {
        let mut state = self.lock();
        let place = state.next;
        state.next += 1;
        state.sends.insert(place, conn);
        drop(state);
        self.changed.notify_waiters();
        Flight { table: self, place }
    }
}

/// One unanswered send in [`InFlight`].
#[derive(Debug)]
pub(crate) struct Flight<'a> {
    table: &'a InFlight,
    pub(crate) place: u64,
}

impl Flight<'_> {
    /// Records that this send's stream is now on connection `conn`.
    pub(crate) fn moved(&self, conn: usize) {
        self.table.lock().sends.insert(self.place, conn);
        self.table.changed.notify_waiters();
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.table.lock().sends.remove(&self.place);
        self.table.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_opens_once_every_earlier_send_is_on_the_same_connection() {
        let table = InFlight::default();
        let (a, b, c) = (table.opened(1), table.opened(1), table.opened(1));
        assert!(table.settled(None, 1), "all on the live connection");
        assert!(!table.settled(None, 2), "a new send waits for the caught ones");
        // Connection 1 is lost; the caught sends move to 2 in order.
        assert!(table.settled(Some(a.place), 2), "the first caught send goes at once");
        assert!(!table.settled(Some(b.place), 2), "the second waits for the first");
        a.moved(2);
        assert!(table.settled(Some(b.place), 2));
        assert!(!table.settled(Some(c.place), 2));
        b.moved(2);
        drop(c); // answered (or given up) before it moved
        assert!(table.settled(None, 2));
        drop((a, b));
        assert!(table.settled(None, 7), "nothing listed: any connection");
    }
}
