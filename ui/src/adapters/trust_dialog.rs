//! The trust prompt: shows a first-contact question or a changed-certificate warning, and
//! passes the answer on.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{MainWindow, TrustAdapter};
use crate::screen::TrustShow;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let weak = Rc::downgrade(controller);
    window.global::<TrustAdapter>().on_trust(move |yes| {
        if let Some(controller) = weak.upgrade() {
            controller.trust(yes);
        }
    });
}

pub fn show(window: &MainWindow, change: TrustShow) {
    let adapter = window.global::<TrustAdapter>();
    match change {
        TrustShow::New { server, fingerprint } => {
            adapter.set_changed(false);
            adapter.set_server(server.into());
            adapter.set_fingerprint(fingerprint.pretty().into());
            adapter.set_visible(true);
        }
        TrustShow::Changed { server, expected, presented } => {
            adapter.set_changed(true);
            adapter.set_server(server.into());
            adapter.set_expected(expected.pretty().into());
            adapter.set_fingerprint(presented.pretty().into());
            adapter.set_visible(true);
        }
        TrustShow::Hidden => {
            adapter.set_visible(false);
            adapter.set_changed(false);
        }
    }
}
