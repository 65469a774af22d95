//! The controller's side of search: the query to the server, its answer as result rows, and a
//! result opening its conversation.

use quicq_common::protocol::{ChatMessage, ErrorCode};

use super::Controller;
use crate::backend::Command;
use crate::generated::SearchRow;
use crate::screen::{SearchShow, Show};
use crate::view::{Conv, clock};

impl Controller {
    /// Searches one's conversations; blank text ends the search.
    pub fn search(&self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return self.clear_search();
        }
        self.state.borrow_mut().search = Some((text.to_owned(), Vec::new()));
        let status = self.texts().searching().to_owned();
        self.show(Show::Search(SearchShow::Results { rows: Vec::new(), status }));
        self.network.command(Command::Search { text: text.to_owned() });
    }

    pub fn clear_search(&self) {
        self.state.borrow_mut().search = None;
        self.show(Show::Search(SearchShow::Cleared));
    }

    /// Opens the conversation of result `index` and ends the search.
    pub fn open_result(&self, index: usize) {
        let conv =
            self.state.borrow().search.as_ref().and_then(|(_, hits)| hits.get(index).cloned());
        if let Some(conv) = conv {
            self.clear_search();
            self.select(conv);
        }
    }

    /// The answer to the search on screen (an answer to an older one is dropped).
    pub(super) fn search_results(&self, text: &str, messages: &[ChatMessage], more: bool) {
        let rows = {
            let mut state = self.state.borrow_mut();
            let me = state.me.clone();
            let hits: Vec<Conv> = messages.iter().map(|m| Conv::of(m, &me)).collect();
            match &mut state.search {
                Some((query, found)) if query == text => *found = hits.clone(),
                _ => return,
            }
            let state = &*state;
            messages
                .iter()
                .zip(&hits)
                .map(|(m, conv)| SearchRow {
                    conversation: match conv {
                        Conv::Everyone => self.texts().everyone_title(),
                        Conv::Group(key) => format!(
                            "# {}",
                            state.roster.group(key).map_or(key.as_str(), |g| g.name.as_str())
                        ),
                        Conv::With(key) => state.roster.name_of(key).unwrap_or(key).to_owned(),
                    }
                    .into(),
                    sender: m.from.as_str().into(),
                    time: clock(m.at).into(),
                    text: crate::search::excerpt(&m.text, text).into(),
                })
                .collect::<Vec<_>>()
        };
        let status = match (rows.is_empty(), more) {
            (true, _) => self.texts().nothing_found().to_owned(),
            (false, true) => self.texts().more_found(rows.len()),
            (false, false) => String::new(),
        };
        self.show(Show::Search(SearchShow::Results { rows, status }));
    }

    pub(super) fn search_failed(&self, text: &str, code: Option<ErrorCode>) {
        let current = self.state.borrow().search.as_ref().is_some_and(|(q, _)| q == text);
        if current {
            let status = self.texts().search_failed(code);
            self.show(Show::Search(SearchShow::Results { rows: Vec::new(), status }));
        }
    }
}
