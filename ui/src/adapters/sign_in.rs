//! The sign-in page: the form goes to the controller as typed; the controller's answer fills,
//! locks or clears it.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{MainWindow, SignInAdapter};
use crate::screen::SignInShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<SignInAdapter>();
    let weak = Rc::downgrade(controller);
    let form = window.as_weak();
    adapter.on_sign_in(move || {
        let (Some(controller), Some(window)) = (weak.upgrade(), form.upgrade()) else { return };
        let adapter = window.global::<SignInAdapter>();
        controller.sign_in(&adapter.get_server(), &adapter.get_nickname(), &adapter.get_password());
    });
    let weak = Rc::downgrade(controller);
    adapter.on_cancel(move || {
        if let Some(controller) = weak.upgrade() {
            controller.cancel_sign_in();
        }
    });
}

pub fn show(window: &MainWindow, change: SignInShow) {
    let adapter = window.global::<SignInAdapter>();
    match change {
        SignInShow::Fill { server, nickname } => {
            adapter.set_server(server.into());
            adapter.set_nickname(nickname.into());
        }
        SignInShow::Busy(busy) => adapter.set_busy(busy),
        SignInShow::Error(error) => adapter.set_error(error.into()),
        SignInShow::ClearPassword => adapter.set_password("".into()),
    }
}
