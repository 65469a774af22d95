//! The controller's side of the account: switching to another remembered account, remembering
//! the one signed in with, and reconnecting at once from the offline banner.

use super::Controller;
use crate::screen::{Show, SignInShow};
use crate::settings::{Account, Accounts};

impl Controller {
    /// Signs out and opens the sign-in page filled in with the most recent other account
    /// remembered, or empty when there is none (or nothing is remembered).
    pub fn switch_account(&self) {
        let current = self.state.borrow().form.clone();
        self.sign_out();
        let other = self
            .settings_path
            .as_deref()
            .and_then(|path| Accounts::load(&Accounts::path(path)).other_than(&current).cloned())
            .unwrap_or_default();
        self.show(Show::SignIn(SignInShow::Fill {
            server: other.server,
            nickname: other.nickname,
        }));
        self.show(Show::SignIn(SignInShow::ClearPassword));
        self.show(Show::SignIn(SignInShow::Error(String::new())));
    }

    /// The account just signed in with goes first in the remembered accounts.
    pub(super) fn remember_account(&self, account: &Account) {
        let Some(path) = self.settings_path.as_deref().map(Accounts::path) else { return };
        let mut accounts = Accounts::load(&path);
        accounts.remember(account);
        if let Err(e) = accounts.save(&path) {
            tracing::warn!(cause = %e, "cannot remember the account");
        }
    }

    /// "Reconnect now" on the offline banner: a fresh connection with the same sign-in at once,
    /// instead of waiting out the client's pause between attempts (or after it gave up).
    pub fn reconnect_now(&self) {
        self.retry_sign_in();
    }
}
