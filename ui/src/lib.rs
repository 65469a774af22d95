//! QuicQ's desktop and embedded client: the seed's two-pane chat window in Slint, on top of
//! `quicq-client`.
//!
//! # Layout
//! - `ui/views/*.slint`: one file per view, each with its `global` adapter as the contract
//!   between look and logic: `sign_in` (`SignInAdapter`), `trust_dialog` (`TrustAdapter`),
//!   `user_tree` (`UserTreeAdapter`), `conversation` (`ConversationAdapter`), `transfers`
//!   (`TransfersAdapter`), `composer` (`ComposerAdapter`), `status_bar` (`StatusBarAdapter`),
//!   `keyboard` (`KeyboardAdapter`, the on-screen keyboard), `offline_banner`
//!   (`OfflineBannerAdapter`), `group_dialog` (`GroupAdapter`), `search` (`SearchAdapter`),
//!   `settings` (`SettingsAdapter`, the settings page), `about_dialog` (no adapter).
//!   `ui/main.slint` composes them into the window and holds `AppAdapter` (which page shows,
//!   the network's wake-up call).
//! - [`controller`]: the state and the decisions, on the UI thread: user actions to
//!   [`backend::Command`]s, [`backend::Update`]s to [`screen::Show`] changes and list models.
//!   No Slint globals, no sockets; unit-tested with a fake network and a fake screen.
//! - [`screen`]: what the controller may change on screen, one enum per view.
//! - [`adapters`]: one Rust adapter per view: its global's callbacks to the controller, the
//!   controller's changes to its global.
//! - [`app`]: puts window, controller and adapters together and drains the network's updates.
//! - [`backend`]: the network thread (tokio + `quicq_client`) behind the [`backend::Network`]
//!   trait, [`backend::Command`] in, [`backend::Update`] out; the window never waits on it.
//! - [`conv`]: which conversation a message belongs to, and its time as shown.
//! - [`view`]: view models in plain Rust (tree, bubbles, transfers, sizes, times).
//! - [`names`], [`address`], [`status`], [`problem`]: small pure rules: natural name order,
//!   unread badges and fingerprint lines; what the server field accepts; the reconnect
//!   countdown and notice lifetime; failures by kind, for [`i18n`] to put in words.
//! - [`timeline`]: one open conversation's bubbles as a list model that grows by appending
//!   (O(1) per message) and changes single rows for edits, recalls and reactions.
//! - [`follow`]: whether the conversation follows new messages, and the "new messages" count.
//! - [`message_life`]: the rules of the bubble menu and the signals around a conversation:
//!   reply and edit modes, edit/recall windows, reaction toggles, typing, read positions.
//! - [`drafts`]: the composer's unsent text, kept per conversation.
//! - [`saved_files`]: where this device saved each received file, across restarts.
//! - [`thumbnail`]: previews of received pictures, made off the window's thread.
//! - [`conversations`]: what the conversation list knows besides presence: each
//!   conversation's newest message (order, preview, time), group members, mutes, read positions.
//! - [`notify`]: desktop notifications, behind a trait the controller's tests fake.
//! - [`search`]: the line a search result shows around its match.
//! - [`i18n`], [`settings`]: language; remembered sign-in details and the settings page's
//!   choices (`ui.json`), and which win over which.
//! - [`window_size`]: shrinking the window to a screen smaller than it.
//!
//! Entry point: [`start`], used by `main.rs`.

/// Code the Slint compiler generates from `ui/main.slint` and `ui/views/`; lint rules are ours, not its.
#[allow(clippy::all, clippy::unwrap_used, clippy::dbg_macro, missing_debug_implementations)]
mod generated {
    slint::include_modules!();
}
pub use generated::*;

pub mod adapters;
pub mod address;
pub mod app;
pub mod backend;
pub mod controller;
pub mod conv;
pub mod conversations;
pub mod drafts;
pub mod follow;
pub mod i18n;
pub mod message_life;
pub mod names;
pub mod notify;
pub mod problem;
pub mod saved_files;
pub mod screen;
pub mod search;
pub mod settings;
pub mod status;
pub mod thumbnail;
pub mod timeline;
pub mod view;
pub mod window_size;

use std::rc::Rc;

use slint::ComponentHandle;

/// Switches the `.slint` texts to `lang` (at once, also while the window shows); needs the
/// platform, so call it after creating a window.
pub fn select_language(lang: i18n::Lang) {
    // "" is the English of the `.slint` files themselves.
    if let Err(e) = slint::select_bundled_translation(lang.slint_translation().unwrap_or("")) {
        tracing::warn!(cause = %e, "translation not available");
    }
}

/// What a run starts with: `options` carry the system's defaults (download folder), which the
/// settings saved at `settings_path` and then the environment (`env`) override; they are
/// changed to what is in force. Returns the language to start in and the system's defaults,
/// for [`controller::Controller::use_environment`].
pub fn configure(
    options: &mut backend::Options,
    env: &settings::Overrides,
    settings_path: Option<&std::path::Path>,
    system_lang: i18n::Lang,
) -> (i18n::Lang, controller::System) {
    let saved = settings_path.map(settings::Settings::load).unwrap_or_default();
    let system = controller::System { downloads: options.downloads.clone(), lang: system_lang };
    let effective =
        settings::Effective::of(&saved, env, || system.downloads.clone(), || system.lang);
    options.downloads = effective.download_dir.clone();
    options.ask_above_bytes = Some(effective.ask_above_bytes());
    (effective.lang, system)
}

/// Builds the window, starts the network thread and wires them together; see [`configure`].
pub fn start(
    mut options: backend::Options,
    env: settings::Overrides,
) -> Result<Rc<app::App>, slint::PlatformError> {
    let settings_path = settings::default_path();
    let (lang, system) =
        configure(&mut options, &env, settings_path.as_deref(), i18n::Lang::system());
    let window = MainWindow::new()?;
    select_language(lang);
    adapters::keyboard::connect(&window, adapters::keyboard::wanted());
    let weak = window.as_weak();
    let (network, updates) = backend::Backend::start(options, move || {
        let _ = weak.upgrade_in_event_loop(|window| window.global::<AppAdapter>().invoke_pump());
    });
    let texts = i18n::Texts::new(lang);
    let app = app::App::new(window, Rc::new(network), updates, texts, settings_path);
    app.controller().use_environment(env, system);
    Ok(app)
}
