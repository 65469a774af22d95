//! A fair gate for scarce work (Argon2 hashing): at most `permits` holders at once, and when
//! requests wait, each free slot goes to the next *source address* in turn, not to the next
//! request. A flood of sign-ins from one address then delays someone else's by at most one
//! round over the addresses waiting, instead of by the whole flood. Requests marked *first*
//! (from addresses with no failed sign-ins) go before every round, so a person signing in
//! normally waits for at most the hashes already running.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

#[derive(Debug)]
pub struct FairGate<K: Hash + Eq + Clone> {
    inner: Arc<Mutex<Inner<K>>>,
}

#[derive(Debug)]
struct Inner<K: Hash + Eq + Clone> {
    free: usize,
    /// Waiters by key, each key's in arrival order.
    waiting: HashMap<K, VecDeque<oneshot::Sender<Slot<K>>>>,
    /// Keys with waiters, in the order they get the next slots.
    turns: VecDeque<K>,
    /// Waiters served before any turn.
    first: VecDeque<oneshot::Sender<Slot<K>>>,
}

/// A slot of the gate, given back (to the next in turn) when dropped.
#[derive(Debug)]
pub struct Slot<K: Hash + Eq + Clone> {
    /// `None` once handed on.
    inner: Option<Arc<Mutex<Inner<K>>>>,
}

fn lock<K: Hash + Eq + Clone>(inner: &Mutex<Inner<K>>) -> MutexGuard<'_, Inner<K>> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl<K: Hash + Eq + Clone> FairGate<K> {
    pub fn new(permits: usize) -> Self {
        FairGate {
            inner: Arc::new(Mutex::new(Inner {
                free: permits.max(1),
                waiting: HashMap::new(),
                turns: VecDeque::new(),
                first: VecDeque::new(),
            })),
        }
    }

    /// Waits for a slot; `key` is whose turn it counts against, and `first` puts the request
    /// ahead of all turns.
    pub async fn acquire(&self, key: K, first: bool) -> Slot<K> {
        let rx = {
            let mut inner = lock(&self.inner);
            if inner.free > 0 && inner.turns.is_empty() && inner.first.is_empty() {
                inner.free -= 1;
                return Slot { inner: Some(self.inner.clone()) };
            }
            let (tx, rx) = oneshot::channel();
            if first {
                inner.first.push_back(tx);
            } else {
                let queue = inner.waiting.entry(key.clone()).or_default();
                queue.push_back(tx);
                if queue.len() == 1 {
                    inner.turns.push_back(key);
                }
            }
            rx
        };
        // Senders are only dropped after a hand-over; a dropped gate has nothing left to give.
        rx.await.unwrap_or(Slot { inner: None })
    }
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else { return };
        loop {
            let next = {
                let mut guard = lock(&inner);
                match next_in_turn(&mut guard) {
                    Some(tx) => tx,
                    None => {
                        guard.free += 1;
                        return;
                    }
                }
            };
            match next.send(Slot { inner: Some(inner.clone()) }) {
                Ok(()) => return,
                // That waiter gave up; disarm the slot it did not take and try the next.
                Err(mut unclaimed) => {
                    unclaimed.inner = None;
                }
            }
        }
    }
}

/// The first waiter of the key whose turn it is; the key goes to the back if it has more.
fn next_in_turn<K: Hash + Eq + Clone>(inner: &mut Inner<K>) -> Option<oneshot::Sender<Slot<K>>> {
    if let Some(tx) = inner.first.pop_front() {
        return Some(tx);
    }
    let key = inner.turns.pop_front()?;
    let queue = inner.waiting.get_mut(&key)?;
    let tx = queue.pop_front();
    if queue.is_empty() {
        inner.waiting.remove(&key);
    } else {
        inner.turns.push_back(key);
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets spawned tasks run until they are all waiting.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_flood_from_one_key_waits_its_turn_behind_others() {
        let gate = Arc::new(FairGate::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.acquire("flood", false).await;
        let mut tasks = Vec::new();
        // 50 requests from one address queue up first…
        for i in 0..50 {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = gate.acquire("flood", false).await;
                order.lock().unwrap().push(format!("flood {i}"));
            }));
            settle().await;
        }
        // …then one from someone else.
        let (g, o) = (gate.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = g.acquire("alice", false).await;
            o.lock().unwrap().push("alice".to_owned());
        }));
        settle().await;
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap();
        let alice = order.iter().position(|w| w == "alice").unwrap();
        assert!(alice <= 1, "alice waited behind {alice} of the flood: {order:?}");
        assert_eq!(order.len(), 51, "everyone got a slot");
    }

    #[tokio::test]
    async fn first_requests_go_before_every_turn() {
        let gate = Arc::new(FairGate::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = gate.acquire(0, false).await;
        let mut tasks = Vec::new();
        for (key, first) in [(1, false), (2, false), (3, false), (9, true)] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = gate.acquire(key, first).await;
                order.lock().unwrap().push(key);
            }));
            settle().await;
        }
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [9, 1, 2, 3]);
    }

    #[tokio::test]
    async fn slots_are_bounded_and_given_back_even_past_waiters_who_left() {
        let gate = FairGate::new(2);
        let a = gate.acquire(1, false).await;
        let _b = gate.acquire(2, false).await;
        // A third waits; one who gives up waiting must not swallow a slot.
        let gone =
            tokio::time::timeout(std::time::Duration::from_millis(10), gate.acquire(3, false))
                .await;
        assert!(gone.is_err());
        drop(a);
        let c =
            tokio::time::timeout(std::time::Duration::from_secs(5), gate.acquire(4, false)).await;
        assert!(c.is_ok(), "the slot went past the waiter who left");
        assert_eq!(lock(&gate.inner).free, 0);
    }
}
