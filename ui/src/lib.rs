//! QuicQ's desktop and embedded client: the seed's two-pane chat window in Slint, on top of
//! `quicq-client`.
//!
//! # Layout
//! - `ui/main.slint`: the window (sign-in, user tree, conversation, transfers, status) and the
//!   `Bridge` global, the contract between the look and the logic.
//! - [`app`]: the controller on the UI thread: callbacks to commands, updates to view models.
//! - [`backend`]: the network thread (tokio + `quicq_client`), [`backend::Command`] in,
//!   [`backend::Update`] out; the window never waits on it.
//! - [`view`]: view models in plain Rust (tree, bubbles, transfers, sizes, times).
//! - [`i18n`], [`settings`]: language and remembered sign-in details.
//!
//! Entry point: [`start`], used by `main.rs`.

/// Code the Slint compiler generates from `ui/main.slint`; lint rules are ours, not its.
#[allow(clippy::all, clippy::unwrap_used, clippy::dbg_macro, missing_debug_implementations)]
mod generated {
    slint::include_modules!();
}
pub use generated::*;

pub mod app;
pub mod backend;
pub mod i18n;
pub mod settings;
pub mod view;

use std::rc::Rc;

use slint::ComponentHandle;

/// Switches the `.slint` texts to `lang`; needs the platform, so call it after creating a window.
pub fn select_language(lang: i18n::Lang) {
    if let Some(translation) = lang.slint_translation()
        && let Err(e) = slint::select_bundled_translation(translation)
    {
        tracing::warn!(cause = %e, "translation not available");
    }
}

/// Builds the window, starts the network thread and wires them together.
pub fn start(
    options: backend::Options,
    lang: i18n::Lang,
) -> Result<Rc<app::App>, slint::PlatformError> {
    let window = MainWindow::new()?;
    select_language(lang);
    let weak = window.as_weak();
    let (network, updates) = backend::Backend::start(options, move || {
        let _ = weak.upgrade_in_event_loop(|window| window.global::<Bridge>().invoke_pump());
    });
    Ok(app::App::new(
        window,
        Rc::new(network),
        updates,
        i18n::Texts::new(lang),
        settings::default_path(),
    ))
}
