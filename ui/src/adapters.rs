//! The adapters: one per view, each wiring its `.slint` global's callbacks to the [`Controller`]
//! and applying the controller's changes for that view. Together they are the window's
//! [`Screen`].

mod composer;
mod conversation;
mod group_dialog;
pub mod keyboard;
mod offline_banner;
mod search;
mod settings_page;
mod sign_in;
mod status_bar;
mod transfers;
mod trust_dialog;
mod user_tree;

use std::rc::Rc;

use slint::ComponentHandle;

use crate::controller::Controller;
use crate::generated::{AppAdapter, MainWindow};
use crate::screen::{Screen, Show};

/// The window as the controller sees it. Holds the window weakly: the window owns the callbacks
/// that own the controller that owns this.
#[derive(Clone)]
pub struct WindowScreen {
    window: slint::Weak<MainWindow>,
}

impl std::fmt::Debug for WindowScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowScreen").finish_non_exhaustive()
    }
}

impl WindowScreen {
    pub fn new(window: &MainWindow) -> Self {
        WindowScreen { window: window.as_weak() }
    }
}

impl Screen for WindowScreen {
    fn show(&self, change: Show) {
        let Some(window) = self.window.upgrade() else { return };
        match change {
            Show::SignIn(change) => sign_in::show(&window, change),
            Show::Trust(change) => trust_dialog::show(&window, change),
            Show::SignedIn => window.global::<AppAdapter>().set_signed_in(true),
            Show::SignedOut => window.global::<AppAdapter>().set_signed_in(false),
            Show::Conversation(change) => conversation::show(&window, change),
            Show::Composer(change) => composer::show(&window, change),
            Show::Status(change) => status_bar::show(&window, change),
            Show::Group(change) => group_dialog::show(&window, change),
            Show::Search(change) => search::show(&window, change),
            Show::Settings(change) => settings_page::show(&window, change),
        }
    }
}

/// Wires every view's callbacks to `controller` and hands the views its list models.
pub fn connect(window: &MainWindow, controller: &Rc<Controller>) {
    sign_in::connect(window, controller);
    trust_dialog::connect(window, controller);
    user_tree::connect(window, controller);
    conversation::connect(window, controller);
    transfers::connect(window, controller);
    composer::connect(window, controller);
    status_bar::connect(window, controller);
    offline_banner::connect(window, controller);
    group_dialog::connect(window, controller);
    search::connect(window, controller);
    settings_page::connect(window, controller);
}
