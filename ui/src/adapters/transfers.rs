//! The transfers panel: the controller's rows, and cancel buttons.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc};

use crate::controller::Controller;
use crate::generated::{MainWindow, TransfersAdapter};

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<TransfersAdapter>();
    adapter.set_transfers(ModelRc::from(controller.transfers()));
    let weak = Rc::downgrade(controller);
    adapter.on_cancel(move |key| {
        if let Some(controller) = weak.upgrade() {
            controller.cancel(&key);
        }
    });
}
