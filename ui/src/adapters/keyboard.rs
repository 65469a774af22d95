//! The on-screen keyboard: each key it shows becomes a key press and release for the window,
//! so it types into whichever field has the focus exactly as a real keyboard would.

use slint::ComponentHandle;
use slint::platform::WindowEvent;

use crate::generated::{KeyboardAdapter, MainWindow};

/// Shows the keyboard when a field has the focus if `wanted` (see [`wanted`]).
pub fn connect(window: &MainWindow, wanted: bool) {
    let adapter = window.global::<KeyboardAdapter>();
    adapter.set_enabled(wanted);
    let weak = window.as_weak();
    adapter.on_key(move |text| {
        if let Some(window) = weak.upgrade() {
            let window = window.window();
            window.dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
            window.dispatch_event(WindowEvent::KeyReleased { text });
        }
    });
}

/// `QUICQ_KEYBOARD=1` or `0` if set; otherwise on for a board build (the `linuxkms` feature
/// without `desktop`), off on a desktop.
pub fn wanted() -> bool {
    match std::env::var("QUICQ_KEYBOARD").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => cfg!(all(feature = "linuxkms", not(feature = "desktop"))),
    }
}
