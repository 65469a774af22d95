//! The search panel: the typed query and a clicked result to the controller, its results back.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc, VecModel};

use crate::controller::Controller;
use crate::generated::{AppAdapter, MainWindow, SearchAdapter};
use crate::screen::SearchShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<SearchAdapter>();
    let weak = Rc::downgrade(controller);
    adapter.on_search(move |text| {
        if let Some(controller) = weak.upgrade() {
            controller.search(&text);
        }
    });
    let weak = Rc::downgrade(controller);
    let window = window.as_weak();
    adapter.on_open(move |index| {
        if let (Some(controller), Ok(index)) = (weak.upgrade(), usize::try_from(index)) {
            controller.open_result(index);
        }
        // On a narrow screen the conversation now takes the list's place.
        if let Some(window) = window.upgrade() {
            window.global::<AppAdapter>().set_conversation_shown(true);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_clear(move || {
        if let Some(controller) = weak.upgrade() {
            controller.clear_search();
        }
    });
}

pub fn show(window: &MainWindow, change: SearchShow) {
    let adapter = window.global::<SearchAdapter>();
    match change {
        SearchShow::Results { rows, status } => {
            adapter.set_results(ModelRc::new(VecModel::from(rows)));
            adapter.set_status(status.into());
            adapter.set_active(true);
        }
        SearchShow::Cleared => {
            adapter.set_active(false);
            adapter.set_query("".into());
            adapter.set_results(ModelRc::default());
            adapter.set_status("".into());
        }
    }
}
