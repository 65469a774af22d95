//! What the sign-in page remembers between runs: the last server and nickname, never the
//! password; and the accounts signed in with before, for "Switch account".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub server: String,
    pub nickname: String,
}

/// `ui.json` in the user's QuicQ config directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "quicq").map(|d| d.config_dir().join("ui.json"))
}

impl Settings {
    /// Missing or unreadable settings are simply empty.
    pub fn load(path: &Path) -> Settings {
        load_json(path)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        save_json(self, path)
    }
}

/// The accounts (server and nickname) signed in with, most recent first; kept beside the
/// settings (`accounts.json`), never with a password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    pub recent: Vec<Settings>,
}

impl Accounts {
    /// At most this many are remembered.
    pub const MAX: usize = 8;

    /// The accounts file that goes with the settings file at `settings`.
    pub fn path(settings: &Path) -> PathBuf {
        settings.with_file_name("accounts.json")
    }

    pub fn load(path: &Path) -> Accounts {
        load_json(path)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        save_json(self, path)
    }

    /// `account` signed in: it goes first, once.
    pub fn remember(&mut self, account: &Settings) {
        self.recent.retain(|a| !same(a, account));
        self.recent.insert(0, account.clone());
        self.recent.truncate(Self::MAX);
    }

    /// The most recent account that is not `current`, to switch to.
    pub fn other_than(&self, current: &Settings) -> Option<&Settings> {
        self.recent.iter().find(|a| !same(a, current))
    }
}

/// The muted conversations of each account (by list row key), kept beside the settings
/// (`mutes.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutes {
    pub by_account: std::collections::BTreeMap<String, Vec<String>>,
}

impl Mutes {
    /// The mutes file that goes with the settings file at `settings`.
    pub fn path(settings: &Path) -> PathBuf {
        settings.with_file_name("mutes.json")
    }

    pub fn load(path: &Path) -> Mutes {
        load_json(path)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        save_json(self, path)
    }

    /// The key an account's mutes are kept under.
    pub fn account(account: &Settings) -> String {
        format!(
            "{}|{}",
            account.server.trim(),
            quicq_common::nickname::key_of(account.nickname.trim())
        )
    }
}

/// A missing or unreadable file is the default: these files only remember conveniences.
fn load_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_json<T: Serialize>(value: &T, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value).map_err(std::io::Error::other)?)
}

/// The same account: the same server, the nickname compared as the server compares it.
fn same(a: &Settings, b: &Settings) -> bool {
    a.server.trim() == b.server.trim()
        && quicq_common::nickname::key_of(a.nickname.trim())
            == quicq_common::nickname::key_of(b.nickname.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_remembered_most_recent_first_and_once() {
        let account = |server: &str, nickname: &str| Settings {
            server: server.into(),
            nickname: nickname.into(),
        };
        let mut accounts = Accounts::default();
        assert_eq!(accounts.other_than(&account("h:1", "alice")), None, "none to switch to");
        accounts.remember(&account("h:1", "alice"));
        assert_eq!(accounts.other_than(&account("h:1", "alice")), None, "only this one");
        accounts.remember(&account("h:1", "bob"));
        accounts.remember(&account("h:1", "Alice"));
        let names: Vec<_> = accounts.recent.iter().map(|a| a.nickname.as_str()).collect();
        assert_eq!(names, ["Alice", "bob"], "the same nickname (case ignored) once");
        assert_eq!(accounts.other_than(&account("h:1", "alice")), Some(&account("h:1", "bob")));
        assert_eq!(
            accounts.other_than(&account("h:2", "alice")),
            Some(&account("h:1", "Alice")),
            "another server is another account"
        );
        for i in 0..20 {
            accounts.remember(&account("h:1", &format!("u{i}")));
        }
        assert_eq!(accounts.recent.len(), Accounts::MAX);
        let dir = tempfile::tempdir().unwrap();
        let path = Accounts::path(&dir.path().join("x/ui.json"));
        assert_eq!(Accounts::load(&path), Accounts::default());
        accounts.save(&path).unwrap();
        assert_eq!(Accounts::load(&path), accounts);
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/ui.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let s = Settings { server: "h:1".into(), nickname: "小明".into() };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path), s);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("password"));
    }
}
