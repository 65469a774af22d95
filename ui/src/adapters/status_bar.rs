//! The status bar: connection state and the last notice. It has no callbacks for Rust.

use slint::ComponentHandle;

use crate::generated::{MainWindow, StatusBarAdapter};
use crate::screen::StatusShow;

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
