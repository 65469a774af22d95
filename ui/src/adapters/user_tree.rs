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
