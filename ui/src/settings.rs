//! What the window remembers between runs (`ui.json`): the last server and nickname (never the
//! password) and the settings page's choices; beside it the accounts signed in with before, for
//! "Switch account", and the muted conversations.
//!
//! Environment variables (`QUICQ_DOWNLOAD_DIR`, `QUICQ_ASK_ABOVE_MIB`, `QUICQ_LANG`) win over
//! the saved choices when set ([`Overrides`]); the page shows what is in force.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;
pub use crate::problem::{FolderProblem, ThresholdProblem};

/// `ui.json`. Every field after the nickname came later: `#[serde(default)]` keeps older files
/// loading, with the defaults below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub server: String,
    pub nickname: String,
    /// Where received files go; `None`: the system's download folder (`QUICQ_DOWNLOAD_DIR`
    /// wins when set).
    #[serde(default)]
    pub download_dir: Option<PathBuf>,
    /// Desktop notifications for messages that come while the window is elsewhere.
    #[serde(default = "on")]
    pub notifications: bool,
    /// A sound with each desktop notification.
    #[serde(default)]
    pub sound: bool,
    #[serde(default)]
    pub language: LangChoice,
    /// Incoming files larger than this many MiB wait for Download or Decline (0: every file);
    /// `None`: [`DEFAULT_ASK_ABOVE_MIB`].
    #[serde(default)]
    pub ask_above_mib: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: String::new(),
            nickname: String::new(),
            download_dir: None,
            notifications: true,
            sound: false,
            language: LangChoice::System,
            ask_above_mib: None,
        }
    }
}

fn on() -> bool {
    true
}

/// Files above this size (MiB) are asked about unless the user chose otherwise.
pub const DEFAULT_ASK_ABOVE_MIB: u64 = 100;

/// The language the user chose on the settings page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LangChoice {
    /// The system's locale.
    #[default]
    System,
    English,
    Chinese,
}

impl LangChoice {
    /// The language this choice means, `system` being the system's.
    pub fn lang(self, system: Lang) -> Lang {
        match self {
            LangChoice::System => system,
            LangChoice::English => Lang::English,
            LangChoice::Chinese => Lang::Chinese,
        }
    }

    /// As the page's choice box names it: "system", "en" or "zh".
    pub fn key(self) -> &'static str {
        match self {
            LangChoice::System => "system",
            LangChoice::English => "en",
            LangChoice::Chinese => "zh",
        }
    }

    pub fn from_key(key: &str) -> Option<LangChoice> {
        match key {
            "system" => Some(LangChoice::System),
            "en" => Some(LangChoice::English),
            "zh" => Some(LangChoice::Chinese),
            _ => None,
        }
    }
}

/// A server and nickname signed in with (the sign-in page's fields, never the password).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub server: String,
    pub nickname: String,
}

/// What the environment says, winning over the saved settings; `None` where it says nothing
/// (or nothing usable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `QUICQ_DOWNLOAD_DIR`.
    pub download_dir: Option<PathBuf>,
    /// `QUICQ_ASK_ABOVE_MIB`.
    pub ask_above_mib: Option<u64>,
    /// `QUICQ_LANG`.
    pub lang: Option<Lang>,
}

impl Overrides {
    pub fn from_env() -> Overrides {
        Overrides {
            download_dir: std::env::var_os("QUICQ_DOWNLOAD_DIR")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            ask_above_mib: std::env::var("QUICQ_ASK_ABOVE_MIB")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            lang: std::env::var("QUICQ_LANG")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Lang::from_locale(&v)),
        }
    }
}

/// The settings in force: the environment's where it says something, else the saved ones,
/// else the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub download_dir: PathBuf,
    pub ask_above_mib: u64,
    pub lang: Lang,
}

impl Effective {
    /// `system_downloads` and `system_lang` are the defaults when neither says anything.
    pub fn of(
        saved: &Settings,
        env: &Overrides,
        system_downloads: impl FnOnce() -> PathBuf,
        system_lang: impl FnOnce() -> Lang,
    ) -> Effective {
        let lang = match (env.lang, saved.language) {
            (Some(lang), _) => lang,
            (None, LangChoice::System) => system_lang(),
            (None, choice) => choice.lang(Lang::English),
        };
        Effective {
            download_dir: env
                .download_dir
                .clone()
                .or_else(|| saved.download_dir.clone())
                .unwrap_or_else(system_downloads),
            ask_above_mib: env
                .ask_above_mib
                .or(saved.ask_above_mib)
                .unwrap_or(DEFAULT_ASK_ABOVE_MIB),
            lang,
        }
    }

    /// The client library's limit for files downloaded without asking.
    pub fn ask_above_bytes(&self) -> u64 {
        mib_to_bytes(self.ask_above_mib)
    }
}

pub fn mib_to_bytes(mib: u64) -> u64 {
    mib.saturating_mul(1 << 20)
}

/// A download folder must exist, be a folder, and take a new file (tried, then removed).
pub fn check_folder(path: &Path) -> Result<(), FolderProblem> {
    if path.as_os_str().is_empty() {
        return Err(FolderProblem::Empty);
    }
    let meta = std::fs::metadata(path).map_err(|_| FolderProblem::Missing)?;
    if !meta.is_dir() {
        return Err(FolderProblem::NotAFolder);
    }
    let probe = path.join(format!(".quicq-write-test-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(_) => Err(FolderProblem::NotWritable),
    }
}

/// The "ask above N MiB" field: a whole number of MiB, 0 or more, spaces around allowed.
pub fn parse_threshold(text: &str) -> Result<u64, ThresholdProblem> {
    let text = text.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(ThresholdProblem::NotANumber);
    }
    text.parse().map_err(|_| ThresholdProblem::NotANumber)
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

    /// The server and nickname part.
    pub fn account(&self) -> Account {
        Account { server: self.server.clone(), nickname: self.nickname.clone() }
    }
}

/// The accounts (server and nickname) signed in with, most recent first; kept beside the
/// settings (`accounts.json`), never with a password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    pub recent: Vec<Account>,
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
    pub fn remember(&mut self, account: &Account) {
        self.recent.retain(|a| !same(a, account));
        self.recent.insert(0, account.clone());
        self.recent.truncate(Self::MAX);
    }

    /// The most recent account that is not `current`, to switch to.
    pub fn other_than(&self, current: &Account) -> Option<&Account> {
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
    pub fn account(account: &Account) -> String {
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
fn same(a: &Account, b: &Account) -> bool {
    a.server.trim() == b.server.trim()
        && quicq_common::nickname::key_of(a.nickname.trim())
            == quicq_common::nickname::key_of(b.nickname.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_remembered_most_recent_first_and_once() {
        let account = |server: &str, nickname: &str| Account {
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
        let s = Settings { server: "h:1".into(), nickname: "小明".into(), ..Settings::default() };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path), s);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("password"));
    }

    #[test]
    fn a_file_from_before_the_settings_page_loads_with_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ui.json");
        std::fs::write(&path, r#"{"server":"h:1","nickname":"al"}"#).unwrap();
        let loaded = Settings::load(&path);
        assert_eq!(
            loaded,
            Settings { server: "h:1".into(), nickname: "al".into(), ..Settings::default() }
        );
        assert!(loaded.notifications, "notifications are on unless turned off");
        assert!(!loaded.sound, "the sound is off unless turned on");
        let chosen = Settings {
            download_dir: Some("/tmp/x".into()),
            notifications: false,
            sound: true,
            language: LangChoice::Chinese,
            ask_above_mib: Some(0),
            ..loaded
        };
        chosen.save(&path).unwrap();
        assert_eq!(Settings::load(&path), chosen);
        assert!(std::fs::read_to_string(&path).unwrap().contains(r#""language": "chinese""#));
    }

    #[test]
    fn the_environment_wins_over_the_saved_choice_which_wins_over_the_default() {
        let saved = |dir: Option<&str>, mib: Option<u64>, language| Settings {
            download_dir: dir.map(Into::into),
            ask_above_mib: mib,
            language,
            ..Settings::default()
        };
        let env = |dir: Option<&str>, mib: Option<u64>, lang: Option<Lang>| Overrides {
            download_dir: dir.map(Into::into),
            ask_above_mib: mib,
            lang,
        };
        use Lang::{Chinese as Zh, English as En};
        use LangChoice::*;
        // (saved, environment, download dir, MiB, language; the system says /sys and Chinese)
        let cases = [
            (saved(None, None, System), env(None, None, None), "/sys", 100, Zh),
            (saved(Some("/s"), Some(5), English), env(None, None, None), "/s", 5, En),
            (saved(Some("/s"), Some(5), English), env(Some("/e"), Some(0), Some(Zh)), "/e", 0, Zh),
            (saved(None, Some(0), Chinese), env(None, None, None), "/sys", 0, Zh),
            (saved(None, None, System), env(None, Some(7), Some(En)), "/sys", 7, En),
        ];
        for (i, (saved, env, dir, mib, lang)) in cases.into_iter().enumerate() {
            let got = Effective::of(&saved, &env, || "/sys".into(), || Zh);
            assert_eq!(
                got,
                Effective { download_dir: dir.into(), ask_above_mib: mib, lang },
                "{i}"
            );
        }
        assert_eq!(
            Effective::of(
                &saved(None, Some(2), System),
                &env(None, None, None),
                || "/".into(),
                || En
            )
            .ask_above_bytes(),
            2 << 20
        );
    }

    #[test]
    fn the_size_limit_is_a_whole_number_of_mib() {
        let cases = [
            ("0", Ok(0)),
            ("100", Ok(100)),
            (" 12 ", Ok(12)),
            ("", Err(ThresholdProblem::NotANumber)),
            ("abc", Err(ThresholdProblem::NotANumber)),
            ("-1", Err(ThresholdProblem::NotANumber)),
            ("1.5", Err(ThresholdProblem::NotANumber)),
            ("+3", Err(ThresholdProblem::NotANumber)),
            ("99999999999999999999999", Err(ThresholdProblem::NotANumber)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_threshold(text), want, "{text:?}");
        }
    }

    #[test]
    fn a_download_folder_must_exist_be_a_folder_and_take_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(check_folder(dir.path()), Ok(()));
        assert_eq!(check_folder(Path::new("")), Err(FolderProblem::Empty));
        assert_eq!(check_folder(&dir.path().join("nope")), Err(FolderProblem::Missing));
        assert_eq!(check_folder(&file), Err(FolderProblem::NotAFolder));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the probe is removed");
    }
}
