//! The composer: the draft and the typed path go to the controller as typed; the controller
//! clears them once they are on their way, and swaps the draft when the conversation changes.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{ComposerAdapter, MainWindow};
use crate::screen::{ComposerShow, Recipient};

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<ComposerAdapter>();
    let with = |f: fn(&Controller, &ComposerAdapter)| {
        let weak = Rc::downgrade(controller);
        let window = window.as_weak();
        move || {
            if let (Some(controller), Some(window)) = (weak.upgrade(), window.upgrade()) {
                f(&controller, &window.global::<ComposerAdapter>());
            }
        }
    };
    adapter.on_send(with(|c, a| c.send(&a.get_draft())));
    let weak = Rc::downgrade(controller);
    adapter.on_edited(move |text| {
        if let Some(controller) = weak.upgrade() {
            controller.edited(&text);
        }
    });
    adapter.on_cancel_mode(with(|c, _| c.cancel_mode()));
    adapter.on_pick_file(with(|c, _| c.pick_file()));
    adapter.on_send_typed_path(with(|c, a| c.send_typed_path(&a.get_typed_path())));
    adapter.on_hide_path_entry(with(|c, _| c.hide_path_entry()));
    adapter.on_blank(|draft| crate::names::is_blank(&draft));
}

pub fn show(window: &MainWindow, change: ComposerShow) {
    let adapter = window.global::<ComposerAdapter>();
    match change {
        ComposerShow::ClearDraft => adapter.set_draft("".into()),
        ComposerShow::Draft(text) => adapter.set_draft(text.into()),
        ComposerShow::Recipient(Recipient::Everyone) => {
            adapter.set_to_everyone(true);
            adapter.set_recipient("".into());
        }
        ComposerShow::Recipient(Recipient::Named(name)) => {
            adapter.set_to_everyone(false);
            adapter.set_recipient(name.into());
        }
        ComposerShow::ClearTypedPath => adapter.set_typed_path("".into()),
        ComposerShow::PathEntry(visible) => adapter.set_path_entry_visible(visible),
        ComposerShow::Mode(text) => adapter.set_mode_text(text.into()),
    }
}
