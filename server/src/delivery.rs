//! The rule that joins catch-up and live delivery: a session first reads what it missed from
//! the store, page by page, while new messages already queue for it; then it sends the queue,
//! skipping what the catch-up already sent. Every message goes out once, in id order.

/// Where a session's delivery stands: every message with an id up to [`Cursor::after`] has
/// been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pos: u64,
}

impl Cursor {
    /// `resume_after`: the highest id the client already holds.
    pub fn new(resume_after: u64) -> Self {
        Cursor { pos: resume_after }
    }

    /// The id after which the next catch-up page starts.
    pub fn after(&self) -> u64 {
        self.pos
    }

    /// Whether to send a message: only if it is newer than everything sent, which it then is.
    pub fn admit(&mut self, id: u64) -> bool {
        if id <= self.pos {
            return false;
        }
        self.pos = id;
        true
    }

    /// Whether another catch-up page may follow one that held `len` of at most `page` messages.
    pub fn more_after(len: usize, page: usize) -> bool {
        len >= page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs catch-up over `stored` (pages of `page`) then the live queue, as the session does.
    fn deliver(resume: u64, stored: &[u64], page: usize, live: &[u64]) -> Vec<u64> {
        let mut cursor = Cursor::new(resume);
        let mut sent = Vec::new();
        loop {
            let after = cursor.after();
            let batch: Vec<u64> =
                stored.iter().copied().filter(|id| *id > after).take(page).collect();
            for id in &batch {
                assert!(cursor.admit(*id), "catch-up pages are newer than the cursor");
                sent.push(*id);
            }
            if !Cursor::more_after(batch.len(), page) {
                break;
            }
        }
        for id in live {
            if cursor.admit(*id) {
                sent.push(*id);
            }
        }
        sent
    }

    /// (resume_after, stored when catch-up reads, page, live queue, expected)
    type Case = (u64, &'static [u64], usize, &'static [u64], &'static [u64]);

    #[test]
    fn catch_up_then_live_sends_each_message_once_in_order() {
        let cases: &[Case] = &[
            (0, &[], 2, &[], &[]),
            (0, &[1, 2, 3], 2, &[], &[1, 2, 3]),
            // Messages stored during catch-up are in both the store and the queue.
            (0, &[1, 2, 3, 4], 2, &[3, 4, 5], &[1, 2, 3, 4, 5]),
            // The client already holds up to 2.
            (2, &[1, 2, 3], 2, &[3, 4], &[3, 4]),
            // A page exactly full asks once more and finds nothing.
            (0, &[1, 2], 2, &[2, 3], &[1, 2, 3]),
            // Ids are not dense (other conversations), and a stale queued item is dropped.
            (10, &[12, 15, 40], 1, &[11, 40, 41], &[12, 15, 40, 41]),
            // Nothing stored, only live.
            (5, &[], 256, &[6, 7], &[6, 7]),
        ];
        for (resume, stored, page, live, want) in cases {
            assert_eq!(
                deliver(*resume, stored, *page, live),
                *want,
                "resume {resume}, stored {stored:?}, page {page}, live {live:?}"
            );
        }
    }

    #[test]
    fn admit_never_goes_backwards() {
        let mut cursor = Cursor::new(0);
        assert!(cursor.admit(3));
        assert!(!cursor.admit(3));
        assert!(!cursor.admit(2));
        assert!(cursor.admit(9));
        assert_eq!(cursor.after(), 9);
    }
}
