//! Several nodes behind one name, sharing one PostgreSQL database and one NATS server
//! (docs/cluster.md).
//!
//! The database decides the order and keeps everything that must not be lost. NATS only
//! carries doorbells and ephemeral frames:
//! - `quicq.stored`: "I stored something". Every other node then reads what it has not
//!   delivered yet from the database ([`Sequencer`]). A node also looks every
//!   [`POLL`] without being told, so a lost doorbell (NATS is at-most-once, and may be down)
//!   delays messages by at most that long and loses none.
//! - `quicq.relay`: the progress of uploads (every node keeps files' bytes in one shared
//!   spool directory; downloads on other nodes follow an upload a few times a second), the
//!   hub's control frames (read positions, typing, file notices), new
//!   accounts, and presence: a change when an account's first session on a node opens or its
//!   last closes, and each node's whole list every [`ANNOUNCE`]; a node silent for [`SILENT`]
//!   is taken for gone with everyone it had. These are not stored; a node that misses one
//!   misses what a disconnected session would.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Relay};
use crate::sequencer::Sequencer;
use crate::state::State;
use crate::store_thread::{AfterJob, Cause, StoreThread};

const STORED: &str = "quicq.stored";
const RELAY: &str = "quicq.relay";

/// How often a node reads the database for commits nobody told it about.
pub const POLL: Duration = Duration::from_secs(1);

/// How often a node sends its whole list of who is online there.
pub const ANNOUNCE: Duration = Duration::from_secs(5);

/// A node not heard from for this long is taken for gone, with everyone online there.
pub const SILENT: Duration = Duration::from_secs(16);

/// Messages waiting for NATS; beyond this, relays are dropped (doorbells are covered by
/// [`POLL`]).
const OUTBOUND: usize = 16_384;

/// What goes out to the other nodes.
#[derive(Debug)]
enum Outbound {
    Ring,
    Relay(Box<Relay>),
}

/// One message on either subject.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The sending node, so a node ignores its own.
    node: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    relay: Option<Relay>,
}

/// This node's side of the cluster, between [`join`] and [`Link::run`].
#[derive(Debug)]
pub struct Link {
    node: u64,
    url: String,
    outbound: mpsc::Receiver<Outbound>,
}

/// Makes `hub` one node of a cluster. Returns the store thread's hook, which delivers what was
/// committed after `delivered` (in id order) and rings the other nodes after this node's own
/// commits, and the link to run once the store thread is up.
pub fn join(url: &str, hub: &Arc<Hub>, delivered: u64) -> (AfterJob, Link) {
    let node = rand::random::<u64>();
    let (tx, outbound) = mpsc::channel(OUTBOUND);
    let relays = tx.clone();
    hub.join_cluster(Box::new(move |relay| {
        // Full or closed: ephemeral frames are dropped, as for a session that is away.
        let _ = relays.try_send(Outbound::Relay(Box::new(relay)));
    }));
    let mut sequencer = Sequencer::new(hub.clone(), delivered);
    let after: AfterJob = Box::new(move |store, cause| match sequencer.catch_up(store) {
        Ok(delivered) => {
            if delivered > 0 && cause == Cause::Here {
                let _ = tx.try_send(Outbound::Ring);
            }
        }
        Err(e) => tracing::error!(cause = %e, "cluster delivery failed; retrying on the next ring"),
    });
    (after, Link { node, url: url.to_owned(), outbound })
}

impl Link {
    /// Talks to NATS until `shutdown`: rings the store thread when others store, applies their
    /// relays, sends ours, and rings the store thread every [`POLL`] regardless. Reconnects by
    /// itself; while NATS is away, delivery across nodes runs on the poll alone.
    pub async fn run(mut self, state: Arc<State>, shutdown: CancellationToken) {
        let (hub, store) = (state.hub().clone(), state.store_thread().clone());
        state.set_nats(false);
        let client = match async_nats::ConnectOptions::new()
            .name(format!("quicq-node-{:016x}", self.node))
            .retry_on_initial_connect()
            .connect(self.url.as_str())
            .await
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(cause = %e, "cannot use NATS; delivering by polling the database only");
                return self.poll_only(store, shutdown).await;
            }
        };
        let (mut stored, mut relayed) =
            match (client.subscribe(STORED).await, client.subscribe(RELAY).await) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(cause = %e, "cannot subscribe on NATS; polling only");
                    return self.poll_only(store, shutdown).await;
                }
            };
        tracing::info!(node = format!("{:016x}", self.node), "joined the cluster");
        let mut poll = tokio::time::interval(POLL);
        let mut announce = tokio::time::interval(ANNOUNCE);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = poll.tick() => {
                    store.ring();
                    let connected = client.connection_state() == async_nats::connection::State::Connected;
                    state.set_nats(connected);
                }
                _ = announce.tick() => {
                    hub.forget_silent_nodes(std::time::Instant::now() - SILENT);
                    let online = Relay::Online { accounts: hub.online_here() };
                    self.publish(&client, RELAY, Some(online)).await;
                }
                Some(message) = stored.next() => {
                    if self.foreign(&message.payload).is_some() {
                        store.ring();
                    }
                }
                Some(message) = relayed.next() => {
                    match self.foreign(&message.payload) {
                        Some(Envelope { relay: Some(Relay::File { id, progress }), .. }) => {
                            state.spool().follow_elsewhere(id, progress);
                        }
                        Some(Envelope { node, relay: Some(relay) }) => hub.apply(node, relay),
                        _ => {}
                    }
                }
                Some(out) = self.outbound.recv() => match out {
                    Outbound::Ring => self.publish(&client, STORED, None).await,
                    Outbound::Relay(relay) => self.publish(&client, RELAY, Some(*relay)).await,
                },
            }
        }
        let _ = client.flush().await;
    }

    async fn publish(
        &self,
        client: &async_nats::Client,
        subject: &'static str,
        relay: Option<Relay>,
    ) {
        let envelope = Envelope { node: self.node, relay };
        if let Ok(bytes) = serde_json::to_vec(&envelope)
            && let Err(e) = client.publish(subject, bytes.into()).await
        {
            tracing::debug!(cause = %e, "NATS publish failed");
        }
    }

    async fn poll_only(self, store: StoreThread, shutdown: CancellationToken) {
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = poll.tick() => store.ring(),
            }
        }
    }

    /// The envelope, if it is well-formed and from another node.
    fn foreign(&self, payload: &[u8]) -> Option<Envelope> {
        let envelope: Envelope = serde_json::from_slice(payload).ok()?;
        (envelope.node != self.node).then_some(envelope)
    }
}
