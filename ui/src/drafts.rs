//! What the user has typed but not sent, per conversation: switching conversation puts the
//! composer's text away and brings back the one typed there, so a message meant for one person
//! never goes to another.

use std::collections::HashMap;

use crate::view::Conv;

#[derive(Debug, Default)]
pub struct Drafts {
    texts: HashMap<Conv, String>,
}

impl Drafts {
    /// The composer now holds `text` for `conv` (empty forgets it).
    pub fn set(&mut self, conv: &Conv, text: &str) {
        if text.is_empty() {
            self.texts.remove(conv);
        } else {
            self.texts.insert(conv.clone(), text.to_owned());
        }
    }

    /// The text to put back when `conv` is opened.
    pub fn get(&self, conv: &Conv) -> &str {
        self.texts.get(conv).map_or("", String::as_str)
    }

    /// A conversation renamed (a group) keeps its draft.
    pub fn renamed(&mut self, old: &Conv, new: &Conv) {
        if let Some(text) = self.texts.remove(old) {
            self.texts.insert(new.clone(), text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_conversation_keeps_its_own_text() {
        let bob = Conv::With("bob".into());
        let rust = Conv::Group("rust".into());
        let mut d = Drafts::default();
        d.set(&bob, "for bob");
        d.set(&Conv::Everyone, "for all");
        assert_eq!((d.get(&bob), d.get(&Conv::Everyone), d.get(&rust)), ("for bob", "for all", ""));
        d.set(&bob, "");
        assert_eq!(d.get(&bob), "");
        d.set(&rust, "half");
        d.renamed(&rust, &Conv::Group("go".into()));
        assert_eq!((d.get(&rust), d.get(&Conv::Group("go".into()))), ("", "half"));
    }
}
