//! Whether the conversation pane follows new messages: it does while the user is at (or within
//! a few pixels of) the bottom, and for the user's own messages; otherwise it stays where the
//! user is reading and counts what arrived below, for the "N new messages" button. Pure: the
//! view reports where the user is, this says what to do.

/// What the pane should do about a message added at the bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Scroll to the newest message.
    ToNewest,
    /// Stay; this many messages are now below the user's view.
    Count(u32),
}

/// Where the user is in the selected conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    at_bottom: bool,
    new_below: u32,
}

impl Default for Position {
    /// A conversation opens at its newest message.
    fn default() -> Self {
        Position { at_bottom: true, new_below: 0 }
    }
}

impl Position {
    /// A message was added below the last one; `own` when the user sent it.
    pub fn added(&mut self, own: bool) -> Follow {
        if self.at_bottom || own {
            self.at_bottom = true;
            self.new_below = 0;
            Follow::ToNewest
        } else {
            self.new_below = self.new_below.saturating_add(1);
            Follow::Count(self.new_below)
        }
    }

    /// The view says the user scrolled to (or away from) the bottom. Returns the new count when
    /// it changed (reaching the bottom clears it).
    pub fn scrolled(&mut self, at_bottom: bool) -> Option<u32> {
        self.at_bottom = at_bottom;
        if at_bottom && self.new_below > 0 {
            self.new_below = 0;
            return Some(0);
        }
        None
    }

    /// The user asked for the newest message (the button, or opening the conversation).
    pub fn to_newest(&mut self) {
        *self = Position::default();
    }

    /// Whether the user is at the newest message (what is there has been seen).
    pub fn at_bottom(&self) -> bool {
        self.at_bottom
    }

    pub fn new_below(&self) -> u32 {
        self.new_below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_at_the_bottom_and_counts_above_it() {
        // (scrolled to the bottom before it?, own?, what the pane does)
        let cases = [
            (None, false, Follow::ToNewest),
            (Some(false), false, Follow::Count(1)),
            (None, false, Follow::Count(2)),
            // One's own message always shows, and clears the count.
            (None, true, Follow::ToNewest),
            (None, false, Follow::ToNewest),
            (Some(false), false, Follow::Count(1)),
            // A few pixels from the bottom counts as the bottom (the view decides that).
            (Some(true), false, Follow::ToNewest),
        ];
        let mut p = Position::default();
        for (i, (scrolled, own, follow)) in cases.into_iter().enumerate() {
            if let Some(at_bottom) = scrolled {
                p.scrolled(at_bottom);
            }
            assert_eq!(p.added(own), follow, "case {i}");
        }
    }

    #[test]
    fn reaching_the_bottom_or_jumping_clears_the_count() {
        let mut p = Position::default();
        assert_eq!(p.scrolled(false), None);
        p.added(false);
        p.added(false);
        assert_eq!(p.new_below(), 2);
        assert_eq!(p.scrolled(false), None, "still above");
        assert_eq!(p.scrolled(true), Some(0));
        assert_eq!(p.scrolled(true), None, "already clear");
        p.scrolled(false);
        p.added(false);
        p.to_newest();
        assert_eq!((p.new_below(), p.added(false)), (0, Follow::ToNewest));
    }
}
