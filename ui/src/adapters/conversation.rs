//! The conversation pane: the controller's bubbles and title, older pages on request, where the
//! user is scrolled to, and received files to open.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc};

use crate::controller::Controller;
use crate::generated::{ConversationAdapter, MainWindow};
use crate::screen::ConversationShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<ConversationAdapter>();
    adapter.set_messages(ModelRc::from(controller.messages()));
    let weak = Rc::downgrade(controller);
    adapter.on_load_older(move || {
        if let Some(controller) = weak.upgrade() {
            controller.load_older();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_scrolled(move |at_bottom| {
        if let Some(controller) = weak.upgrade() {
            controller.scrolled(at_bottom);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_jump_to_newest(move || {
        if let Some(controller) = weak.upgrade() {
            controller.jump_to_newest();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_retry(move |local| {
        if let (Some(controller), Ok(local)) = (weak.upgrade(), u64::try_from(local)) {
            controller.retry(local);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_reply(move |id| {
        if let Some(controller) = weak.upgrade() {
            controller.reply(&id);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_edit(move |id| {
        if let Some(controller) = weak.upgrade() {
            controller.edit(&id);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_recall(move |id| {
        if let Some(controller) = weak.upgrade() {
            controller.recall(&id);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_recall_answer(move |yes| {
        if let Some(controller) = weak.upgrade() {
            controller.recall_answer(yes);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_react(move |id, emoji| {
        if let Some(controller) = weak.upgrade() {
            controller.react(&id, &emoji);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_save_file(move |path| {
        if let Some(controller) = weak.upgrade() {
            controller.save_file(&path);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_open_link(move |link| {
        if let Err(e) = open::that_detached(link.as_str()) {
            tracing::warn!(%link, cause = %e, "cannot open the link");
            if let Some(controller) = weak.upgrade() {
                controller.link_not_opened();
            }
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_open_file(move |path| {
        if let Some(controller) = weak.upgrade() {
            controller.open(&path, false);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_download(move |id| {
        if let Some(controller) = weak.upgrade() {
            controller.answer_offer(&id, true);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_decline(move |id| {
        if let Some(controller) = weak.upgrade() {
            controller.answer_offer(&id, false);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_open_folder(move |path| {
        if let Some(controller) = weak.upgrade() {
            controller.open(&path, true);
        }
    });
}

pub fn show(window: &MainWindow, change: ConversationShow) {
    let adapter = window.global::<ConversationAdapter>();
    match change {
        ConversationShow::Title(title) => adapter.set_title(title.into()),
        ConversationShow::Messages(model) => adapter.set_messages(model),
        ConversationShow::MoreHistory(more) => adapter.set_more_history(more),
        ConversationShow::ToNewest => {
            adapter.set_to_newest(adapter.get_to_newest().wrapping_add(1))
        }
        ConversationShow::NewBelow(count) => {
            adapter.set_new_below(i32::try_from(count).unwrap_or(i32::MAX))
        }
        ConversationShow::Typing(line) => adapter.set_typing(line.into()),
        ConversationShow::ConfirmRecall(id) => {
            adapter.set_confirm_recall(id.map(|id| id.to_string()).unwrap_or_default().into())
        }
    }
}
