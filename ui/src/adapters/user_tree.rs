//! The user tree: the controller's rows, and a click on one selects its conversation (and, on
//! a narrow screen, shows it instead of the list).

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc};

use crate::controller::Controller;
use crate::generated::{AppAdapter, MainWindow, UserTreeAdapter};
use crate::view::Conv;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<UserTreeAdapter>();
    adapter.set_users(ModelRc::from(controller.users()));
    let watched = window.as_weak();
    controller.watch_list(Box::new(move |list| {
        if let Some(window) = watched.upgrade() {
            show_unread(&window, list.unread);
            window.global::<UserTreeAdapter>().set_selected_muted(list.selected_muted);
            window.global::<UserTreeAdapter>().set_selected_group(list.selected_group);
        }
    }));
    let weak = Rc::downgrade(controller);
    adapter.on_new_group(move || {
        if let Some(controller) = weak.upgrade() {
            controller.open_new_group();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_settings(move || {
        if let Some(controller) = weak.upgrade() {
            controller.open_settings();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_members(move || {
        if let Some(controller) = weak.upgrade() {
            controller.open_group_panel();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_toggle_mute(move || {
        if let Some(controller) = weak.upgrade() {
            controller.toggle_mute();
        }
    });
    let weak = Rc::downgrade(controller);
    let window = window.as_weak();
    adapter.on_select(move |key| {
        if let Some(controller) = weak.upgrade() {
            controller.select(Conv::from_row_key(&key));
        }
        // On a narrow screen the conversation now takes the list's place.
        if let Some(window) = window.upgrade() {
            window.global::<AppAdapter>().set_conversation_shown(true);
        }
    });
}

/// The unread total: in the list's header and in the window's title.
fn show_unread(window: &MainWindow, total: u32) {
    let adapter = window.global::<UserTreeAdapter>();
    adapter.set_total_unread(i32::try_from(total).unwrap_or(i32::MAX));
    adapter.set_total_badge(crate::names::badge(total).into());
    window.global::<AppAdapter>().set_title(crate::conversations::window_title(total).into());
}
