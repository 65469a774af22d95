//! The trust prompt: shows a first-contact question or a changed-certificate warning, and
//! passes the answer on.

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{MainWindow, TrustAdapter};
use crate::names::fingerprint_lines;
use crate::screen::TrustShow;
use quicq_common::Fingerprint;

pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    let adapter = window.global::<TrustAdapter>();
    let weak = Rc::downgrade(controller);
    adapter.on_trust(move |yes| {
        if let Some(controller) = weak.upgrade() {
            controller.trust(yes);
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_sign_out(move || {
        if let Some(controller) = weak.upgrade() {
            controller.sign_out();
        }
    });
    let weak = Rc::downgrade(controller);
    adapter.on_retry(move || {
        if let Some(controller) = weak.upgrade() {
            controller.retry_sign_in();
        }
    });
}

fn set_fingerprint(adapter: &TrustAdapter, fingerprint: Fingerprint) {
    let pretty = fingerprint.pretty();
    adapter.set_fingerprint_lines(fingerprint_lines(&pretty).into());
    adapter.set_fingerprint(pretty.into());
}

pub fn show(window: &MainWindow, change: TrustShow) {
    let adapter = window.global::<TrustAdapter>();
    match change {
        TrustShow::New { server, fingerprint } => {
            adapter.set_changed(false);
            adapter.set_in_session(false);
            adapter.set_server(server.into());
            set_fingerprint(&adapter, fingerprint);
            adapter.set_visible(true);
        }
        TrustShow::Changed { server, expected, presented, in_session } => {
            adapter.set_changed(true);
            adapter.set_in_session(in_session);
            adapter.set_server(server.into());
            let expected = expected.pretty();
            adapter.set_expected_lines(fingerprint_lines(&expected).into());
            adapter.set_expected(expected.into());
            set_fingerprint(&adapter, presented);
            adapter.set_visible(true);
        }
        TrustShow::Hidden => {
            adapter.set_visible(false);
            adapter.set_changed(false);
        }
    }
}
