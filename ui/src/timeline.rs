//! The bubbles of one open conversation as a list model whose cost per message does not grow
//! with the conversation: a new message is appended, an edit, recall or reaction changes its
//! one row, and only an older page inserts rows (at their place, by id). The window watches the
//! model, so a row pushed here is a row drawn; nothing is ever rebuilt from scratch.

use std::rc::Rc;

use slint::{Model, ModelRc, VecModel};

use crate::generated::MessageRow;

/// What [`Timeline::put`] did with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// A new newest row, at the end.
    Appended,
    /// An older row, inserted at its place.
    Inserted,
    /// The row was there and now shows the new data.
    Changed,
    /// Nothing shown (a message that is not drawn, and was not).
    Nothing,
}

/// Counts of model operations, so tests can tell appends from rebuilds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Operations {
    pub appended: usize,
    pub inserted: usize,
    pub changed: usize,
    pub removed: usize,
}

/// One conversation's rows, oldest first, with the message id of each.
#[derive(Default)]
pub struct Timeline {
    model: Rc<VecModel<MessageRow>>,
    /// The message id of each row, ascending: where a row goes is a binary search.
    ids: Vec<u64>,
    operations: Operations,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("rows", &self.ids.len())
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

impl Timeline {
    /// The model the conversation pane shows while this conversation is selected.
    pub fn model(&self) -> ModelRc<MessageRow> {
        ModelRc::from(self.model.clone())
    }

    pub fn rows(&self) -> Rc<VecModel<MessageRow>> {
        self.model.clone()
    }

    pub fn operations(&self) -> Operations {
        self.operations
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Shows message `id` as `row` (`None`: not drawn): appended when it is the newest,
    /// changed in place when already shown, else inserted at its place.
    pub fn put(&mut self, id: u64, row: Option<MessageRow>) -> Placed {
        if self.ids.last().is_none_or(|last| *last < id) {
            let Some(row) = row else { return Placed::Nothing };
            self.ids.push(id);
            self.model.push(row);
            self.operations.appended += 1;
            return Placed::Appended;
        }
        match (self.ids.binary_search(&id), row) {
            (Ok(at), Some(row)) => {
                self.model.set_row_data(at, row);
                self.operations.changed += 1;
                Placed::Changed
            }
            (Ok(at), None) => {
                self.ids.remove(at);
                self.model.remove(at);
                self.operations.removed += 1;
                Placed::Changed
            }
            (Err(at), Some(row)) => {
                self.ids.insert(at, id);
                self.model.insert(at, row);
                self.operations.inserted += 1;
                Placed::Inserted
            }
            (Err(_), None) => Placed::Nothing,
        }
    }

    /// The id of the row above where message `id` is (or would go).
    pub fn id_before(&self, id: u64) -> Option<u64> {
        let at = self.ids.binary_search(&id).unwrap_or_else(|at| at);
        at.checked_sub(1).map(|at| self.ids[at])
    }

    /// The id of the row below message `id`'s place.
    pub fn id_after(&self, id: u64) -> Option<u64> {
        let at = match self.ids.binary_search(&id) {
            Ok(at) => at + 1,
            Err(at) => at,
        };
        self.ids.get(at).copied()
    }

    /// The message ids of the rows, oldest first.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The row of message `id`, if shown.
    pub fn row_of(&self, id: u64) -> Option<MessageRow> {
        let at = self.ids.binary_search(&id).ok()?;
        self.model.row_data(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Option<MessageRow> {
        Some(MessageRow { text: text.into(), ..Default::default() })
    }

    fn texts(t: &Timeline) -> Vec<String> {
        t.rows().iter().map(|r| r.text.to_string()).collect()
    }

    #[test]
    fn rows_go_to_their_place_by_id_without_rebuilding() {
        let mut t = Timeline::default();
        let cases = [
            // (id, row, what happens, rows after)
            (5, row("five"), Placed::Appended, vec!["five"]),
            (9, row("nine"), Placed::Appended, vec!["five", "nine"]),
            (7, row("seven"), Placed::Inserted, vec!["five", "seven", "nine"]),
            (1, row("one"), Placed::Inserted, vec!["one", "five", "seven", "nine"]),
            (
                7,
                row("seven, edited"),
                Placed::Changed,
                vec!["one", "five", "seven, edited", "nine"],
            ),
            (12, None, Placed::Nothing, vec!["one", "five", "seven, edited", "nine"]),
            (3, None, Placed::Nothing, vec!["one", "five", "seven, edited", "nine"]),
            (5, None, Placed::Changed, vec!["one", "seven, edited", "nine"]),
        ];
        for (id, r, placed, after) in cases {
            assert_eq!(t.put(id, r), placed, "{id}");
            assert_eq!(texts(&t), after, "{id}");
        }
        assert_eq!(t.operations(), Operations { appended: 2, inserted: 2, changed: 1, removed: 1 });
        assert_eq!(t.row_of(9).unwrap().text.as_str(), "nine");
        let neighbours = |id| (t.id_before(id), t.id_after(id));
        assert_eq!(neighbours(7), (Some(1), Some(9)));
        assert_eq!(neighbours(8), (Some(7), Some(9)));
        assert_eq!(neighbours(1), (None, Some(7)));
        assert_eq!(neighbours(10), (Some(9), None));
        assert!(t.row_of(5).is_none());
    }
}
