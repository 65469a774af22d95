//! The offline banner: "Reconnect now" to the controller. The banner shows while the status bar
//! says the connection is down, so there is nothing for Rust to show here.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{MainWindow, OfflineBannerAdapter};

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let weak = Rc::downgrade(controller);
    window.global::<OfflineBannerAdapter>().on_reconnect(move || {
        if let Some(controller) = weak.upgrade() {
            controller.reconnect_now();
        }
    });
}
