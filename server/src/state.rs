//! What every part of a running server shares: its settings, the hub, the store thread, the
//! spool, the running uploads and the password hasher. Fields are private; the methods are the
//! ways in, so a reader can see every way shared state is touched.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use quicq_common::protocol::ServerFrame;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::ServerError;
use crate::fair::FairGate;
use crate::files::registry::Uploads;
use crate::files::spool::{Phase, Progress, Spool};
use crate::hub::{Hub, Relay};
use crate::password::Passwords;
use crate::store::{Account, Store, StoreError};
use crate::store_thread::{Insert, StoreThread};
use crate::throttle::Throttle;

/// Most accounts and addresses whose failed sign-ins are remembered at once.
const THROTTLE_CAPACITY: usize = 100_000;

/// Failed sign-ins, by account key and by source address.
#[derive(Debug)]
struct Logins {
    by_account: Throttle<String>,
    by_address: Throttle<IpAddr>,
    /// Addresses whose last sign-in succeeded: their hashing goes before everyone else's.
    known_good: HashMap<IpAddr, Instant>,
}

/// Who is on the other end of a session.
#[derive(Debug)]
pub struct Peer {
    pub account: Account,
    pub device: String,
}

/// A random password nobody knows.
fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct State {
    config: Config,
    hub: Arc<Hub>,
    store: StoreThread,
    spool: Spool,
    uploads: Uploads,
    passwords: Arc<Passwords>,
    logins: Mutex<Logins>,
    /// A hash of no one's password, checked for unknown nicknames when registration is closed so
    /// they cost what a wrong password costs.
    decoy_hash: tokio::sync::OnceCell<String>,
    /// File jobs that outlive a request: shutdown waits for them to record their progress.
    tasks: TaskTracker,
    /// Argon2 takes ~19 MiB and tens of milliseconds per hash; bound how many run at once so a
    /// login storm cannot exhaust memory. More than one per core would not make logins faster.
    /// Taken in turns by source address, so a flood from one address cannot starve others.
    hashing: FairGate<IpAddr>,
    /// A cluster node's link to NATS: 0 not a cluster, 1 not connected, 2 connected.
    nats: AtomicU8,
}

impl State {
    /// `hub` starts from the stored accounts and groups; `store` runs the opened database.
    pub fn new(config: Config, hub: Arc<Hub>, store: StoreThread, spool: Spool) -> Self {
        // At most 4: the pool keeps each hash's 19 MiB for reuse.
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let passwords = Arc::new(Passwords::new(permits));
        State {
            config,
            hub,
            store,
            spool,
            uploads: Uploads::default(),
            passwords,
            decoy_hash: tokio::sync::OnceCell::new(),
            tasks: TaskTracker::new(),
            logins: Mutex::new(Logins {
                by_account: Throttle::new(THROTTLE_CAPACITY),
                by_address: Throttle::new(THROTTLE_CAPACITY),
                known_good: HashMap::new(),
            }),
            hashing: FairGate::new(permits),
            nats: AtomicU8::new(0),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn store_thread(&self) -> &StoreThread {
        &self.store
    }

    /// Publishes a file's progress to downloads following it here, and (`elsewhere`) on the
    /// other nodes of a cluster.
    pub fn file_progress(&self, id: u64, progress: Progress, elsewhere: bool) {
        self.spool.publish(id, progress);
        if elsewhere && self.hub.in_cluster() {
            self.hub.relay(Relay::File { id, progress });
        }
    }

    /// Deletes a file's bytes and tells whoever follows it, here and on the other nodes.
    pub fn discard_file(&self, id: u64, why: quicq_common::ErrorCode) {
        self.spool.discard(id, why);
        if self.hub.in_cluster() {
            let progress = Progress { received: 0, state: Phase::Gone(why) };
            self.hub.relay(Relay::File { id, progress });
        }
    }

    /// Records whether the cluster link is connected to NATS.
    pub fn set_nats(&self, connected: bool) {
        self.nats.store(if connected { 2 } else { 1 }, Ordering::Relaxed);
    }

    /// The cluster link's state, for health reports.
    pub fn nats(&self) -> &'static str {
        match self.nats.load(Ordering::Relaxed) {
            0 => "none",
            1 => "disconnected",
            _ => "connected",
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    pub fn uploads(&self) -> &Uploads {
        &self.uploads
    }

    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Runs `f` on the store thread, after everything queued before it.
    pub async fn with_store<T, F>(&self, f: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, ServerError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.store.run(move |store| {
            let _ = tx.send(f(store));
        });
        rx.await.map_err(|_| ServerError::Store(StoreError::Stopped))?
    }

    /// Queues `f` on the store thread without waiting for it (for threads that cannot await).
    pub fn store_later(&self, f: impl FnOnce(&mut dyn Store) + Send + 'static) {
        self.store.run(f);
    }

    /// Queues a message insert for the next group commit.
    pub fn insert(&self, insert: Insert) {
        self.store.insert(insert);
    }

    /// Pushes a control frame to every session of an account.
    pub fn notify(&self, account: i64, frame: ServerFrame) {
        self.hub.notify(account, &frame);
    }

    /// Checks `password` against a hash of a password nobody knows: the work of a wrong
    /// password, for a nickname that has no account.
    pub async fn verify_decoy(&self, password: &str, from: IpAddr) -> Result<(), ServerError> {
        let decoy = self
            .decoy_hash
            .get_or_try_init(|| async { self.hash_password(&random_secret(), from).await })
            .await?;
        self.verify_password(password, decoy, from).await?;
        Ok(())
    }

    fn logins(&self) -> MutexGuard<'_, Logins> {
        self.logins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An address whose last sign-in succeeded and that has no failure on record since: its
    /// hashing goes before others' (a flood from new addresses cannot delay it).
    fn clean_address(&self, address: IpAddr) -> bool {
        let logins = self.logins();
        logins.known_good.contains_key(&address) && !logins.by_address.has_failed(&address)
    }

    /// How long a sign-in to `key` from `address` must still wait after earlier failures.
    pub fn login_wait(&self, key: &str, address: IpAddr) -> Duration {
        let now = Instant::now();
        let logins = self.logins();
        logins.by_account.wait(&key.to_owned(), now).max(logins.by_address.wait(&address, now))
    }

    /// Records a sign-in's outcome for throttling. A success clears the account's record, not
    /// the address's: an attacker cannot reset its count by signing in to an account of its own.
    pub fn login_result(&self, key: &str, address: IpAddr, ok: bool) {
        let mut logins = self.logins();
        let now = Instant::now();
        if ok {
            logins.by_account.succeeded(&key.to_owned());
            if logins.known_good.len() >= THROTTLE_CAPACITY {
                // Forget the address that signed in longest ago.
                let oldest = logins.known_good.iter().min_by_key(|(_, at)| **at).map(|(a, _)| *a);
                if let Some(oldest) = oldest {
                    logins.known_good.remove(&oldest);
                }
            }
            logins.known_good.insert(address, now);
        } else {
            logins.by_account.failed(&key.to_owned(), now);
            logins.by_address.failed(&address, now);
            logins.known_good.remove(&address);
        }
    }

    /// Hashes on a blocking thread once `from` has its turn at the hashing slots.
    pub async fn hash_password(&self, password: &str, from: IpAddr) -> Result<String, ServerError> {
        let _slot = self.hashing.acquire(from, self.clean_address(from)).await;
        let (password, passwords) = (password.to_owned(), self.passwords.clone());
        tokio::task::spawn_blocking(move || passwords.hash(&password))
            .await?
            .map_err(ServerError::Password)
    }

    /// Checks on a blocking thread once `from` has its turn at the hashing slots.
    pub async fn verify_password(
        &self,
        password: &str,
        phc: &str,
        from: IpAddr,
    ) -> Result<bool, ServerError> {
        let _slot = self.hashing.acquire(from, self.clean_address(from)).await;
        let (password, phc, passwords) =
            (password.to_owned(), phc.to_owned(), self.passwords.clone());
        Ok(tokio::task::spawn_blocking(move || passwords.verify(&password, &phc)).await?)
    }

    /// Flushes the WAL into the database file and ends the store thread, after every job
    /// queued so far; called last at shutdown.
    pub async fn close_store(&self) {
        self.store
            .join(|store| {
                if let Err(e) = store.checkpoint() {
                    tracing::error!(cause = %e, "final database flush failed");
                }
            })
            .await;
    }
}
