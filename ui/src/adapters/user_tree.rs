//! The user tree: the controller's rows, and a click on one selects its conversation.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc};

use crate::controller::Controller;
use crate::generated::{MainWindow, UserTreeAdapter};
use crate::view::Conv;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<UserTreeAdapter>();
    adapter.set_users(ModelRc::from(controller.users()));
    let weak = Rc::downgrade(controller);
    adapter.on_select(move |key| {
        if let Some(controller) = weak.upgrade() {
            controller.select(Conv::from_row_key(&key));
        }
    });
}
