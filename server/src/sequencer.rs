//! A cluster node's delivery: every message any node stored, read back from the database in id
//! order and delivered once to this node's sessions.
//!
//! The database commits ids in increasing order across nodes (see [`crate::store`]), so "all
//! messages after the last one delivered" is exact: a later commit can never add an id below
//! one already seen. Sessions keep their own rule on top ([`crate::delivery`]): catch-up from
//! the store, then this live stream, each message once.

use std::sync::Arc;

use crate::hub::Hub;
use crate::store::{Committed, Store, StoreError, Target};

/// Most messages read per query.
const PAGE: usize = 512;

#[derive(Debug)]
pub struct Sequencer {
    hub: Arc<Hub>,
    /// Every message up to this id has been delivered here (or was stored before this node
    /// started, and reaches its sessions by catch-up).
    delivered: u64,
}

impl Sequencer {
    pub fn new(hub: Arc<Hub>, delivered: u64) -> Self {
        Sequencer { hub, delivered }
    }

    /// Delivers everything committed after what was delivered, in id order; returns how many.
    /// After an error, the next call starts again at the first message not delivered.
    pub fn catch_up(&mut self, store: &mut dyn Store) -> Result<usize, StoreError> {
        let mut count = 0;
        loop {
            let batch = store.committed_after(self.delivered, PAGE)?;
            let full = batch.len() == PAGE;
            for committed in batch {
                self.deliver(store, committed)?;
                count += 1;
            }
            if !full {
                return Ok(count);
            }
        }
    }

    fn deliver(&mut self, store: &mut dyn Store, c: Committed) -> Result<(), StoreError> {
        let unknown = |id| !self.hub.knows(id);
        if unknown(c.sender) || matches!(c.target, Target::User(to) if unknown(to)) {
            // Registered through another node and not relayed here (yet).
            self.hub.learn_accounts(store.accounts()?);
        }
        match c.target {
            Target::Group(group) => {
                // The members when it was stored, not the hub's idea of them now.
                let receivers = store.receivers(group, c.message.id)?;
                if c.message.event.as_ref().is_some_and(|e| e.applies_to().is_none()) {
                    // A membership, name or topic change, or the group's end.
                    self.hub.replace_group(group, store.group(group)?);
                }
                self.hub.deliver_to(&receivers, &c.message);
            }
            target => self.hub.deliver(c.sender, &target, &c.message),
        }
        self.delivered = c.message.id;
        Ok(())
    }
}
