//! The status bar: connection state and the last notice; signing out and switching account.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{MainWindow, StatusBarAdapter};
use crate::screen::StatusShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<StatusBarAdapter>();
    let weak = Rc::downgrade(controller);
    adapter.on_sign_out(move || {
        if let Some(controller) = weak.upgrade() {
            controller.sign_out();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_switch_account(move || {
        if let Some(controller) = weak.upgrade() {
            controller.switch_account();
        }
    });
}

pub fn show(window: &MainWindow, change: StatusShow) {
    let adapter = window.global::<StatusBarAdapter>();
    match change {
        StatusShow::Line { connected, text } => {
            adapter.set_connected(connected);
            adapter.set_offline(false);
            adapter.set_status(text.into());
        }
        StatusShow::Offline(text) => {
            adapter.set_connected(false);
            adapter.set_offline(true);
            adapter.set_status(text.into());
        }
        StatusShow::Notice(text) => adapter.set_notice(text.into()),
        StatusShow::ClearNotice => adapter.set_notice("".into()),
    }
}
