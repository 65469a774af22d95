//! The controller's side of the settings page: what it shows, each choice applied at once and
//! saved in `ui.json`, and what the environment decides instead. The rules (which value is in
//! force, what a folder or a size must be) are in [`crate::settings`].
//!
//! Where each choice takes effect: notifications, sound and language at once; read receipts
//! when the server has them (it keeps them per account); the download folder and the size above
//! which files are asked about from the next sign-in, as the client library takes both when it
//! connects (the page says so).

use std::path::{Path, PathBuf};

use super::Controller;
use crate::backend::{Command, SendFailure};
use crate::i18n::{Lang, Texts};
use crate::screen::{SettingsPage, SettingsShow, Show, StatusShow};
use crate::settings::{
    self, Effective, LangChoice, Overrides, Settings, check_folder, parse_threshold,
};

/// What the system gives when neither the user nor the environment chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub downloads: PathBuf,
    pub lang: Lang,
}

/// The settings as saved, and what decides over them.
#[derive(Debug, Clone)]
pub(super) struct Prefs {
    pub(super) saved: Settings,
    env: Overrides,
    /// `None` until the app says (the controller's tests and some UI tests never do): then the
    /// download folder shown is the one chosen, if any.
    system: Option<System>,
    /// The server's receipts setting for this account, once known.
    receipts: Option<bool>,
    open: bool,
}

impl Prefs {
    pub(super) fn new(saved: Settings) -> Prefs {
        Prefs { saved, env: Overrides::default(), system: None, receipts: None, open: false }
    }

    fn effective(&self, lang_now: Lang) -> Effective {
        let system = self.system.clone();
        let system_lang = system.as_ref().map_or(lang_now, |s| s.lang);
        Effective::of(
            &self.saved,
            &self.env,
            || system.map(|s| s.downloads).unwrap_or_default(),
            || system_lang,
        )
    }
}

impl Controller {
    /// What the environment says and the system's defaults, as the network thread was started
    /// with them ([`crate::start`] builds both from the same [`Effective`]).
    pub fn use_environment(&self, env: Overrides, system: System) {
        let mut prefs = self.prefs.borrow_mut();
        prefs.env = env;
        prefs.system = Some(system);
    }

    /// The "Settings" button of the conversation list.
    pub fn open_settings(&self) {
        self.prefs.borrow_mut().open = true;
        self.show(Show::Settings(SettingsShow::FolderError(String::new())));
        self.show(Show::Settings(SettingsShow::ThresholdError(String::new())));
        self.refresh_settings();
        self.show(Show::Settings(SettingsShow::Open(true)));
    }

    /// Signed out: the page closes, and the next account's receipts setting is its own.
    pub(super) fn signed_out_of_settings(&self) {
        self.prefs.borrow_mut().receipts = None;
        self.close_settings();
    }

    /// Close or Esc.
    pub fn close_settings(&self) {
        self.prefs.borrow_mut().open = false;
        self.show(Show::Settings(SettingsShow::Open(false)));
    }

    /// Everything the page shows, as it is now.
    fn refresh_settings(&self) {
        let page = {
            let prefs = self.prefs.borrow();
            let effective = prefs.effective(self.texts().lang());
            SettingsPage {
                download_dir: effective.download_dir.display().to_string(),
                download_dir_from_env: prefs.env.download_dir.is_some(),
                notifications: prefs.saved.notifications,
                sound: prefs.saved.sound,
                language: prefs.saved.language.key().into(),
                language_from_env: prefs.env.lang.is_some(),
                receipts: prefs.receipts.unwrap_or(false),
                receipts_known: prefs.receipts.is_some(),
                ask_above_mib: effective.ask_above_mib.to_string(),
                ask_above_from_env: prefs.env.ask_above_mib.is_some(),
            }
        };
        self.show(Show::Settings(SettingsShow::Page(page)));
    }

    /// Saves the page's choices, keeping the sign-in details the file holds.
    fn save_settings(&self) {
        let Some(path) = &self.settings_path else { return };
        let on_disk = Settings::load(path);
        let settings = Settings {
            server: on_disk.server,
            nickname: on_disk.nickname,
            ..self.prefs.borrow().saved.clone()
        };
        if let Err(e) = settings.save(path) {
            tracing::warn!(cause = %e, "cannot save the settings");
        }
    }

    /// A folder typed (Apply) or chosen in the dialog: used if it exists and takes files, else
    /// the page says why.
    pub fn set_download_dir(&self, typed: &str) {
        let path = Path::new(typed.trim());
        if let Err(problem) = check_folder(path) {
            let text = self.texts().folder_problem(problem);
            self.show(Show::Settings(SettingsShow::FolderError(text)));
            return;
        }
        self.show(Show::Settings(SettingsShow::FolderError(String::new())));
        let overridden = {
            let mut prefs = self.prefs.borrow_mut();
            prefs.saved.download_dir = Some(path.to_owned());
            prefs.env.download_dir.is_some()
        };
        self.save_settings();
        if !overridden {
            self.network.command(Command::Configure {
                downloads: Some(path.to_owned()),
                ask_above_bytes: None,
            });
        }
        self.refresh_settings();
    }

    /// "Choose…": the system's folder dialog, answered by [`Controller::folder_chosen`].
    pub fn pick_folder(&self) {
        self.network.command(Command::PickFolder);
    }

    /// `None` (cancelled, or no dialog on this system): the field stays to type a path into.
    pub(super) fn folder_chosen(&self, folder: Option<PathBuf>) {
        if let Some(folder) = folder {
            self.set_download_dir(&folder.to_string_lossy());
        }
    }

    /// The "ask above N MiB" field: a whole number, or the page says what is wrong with it.
    pub fn set_ask_above(&self, typed: &str) {
        let mib = match parse_threshold(typed) {
            Ok(mib) => mib,
            Err(problem) => {
                let text = self.texts().threshold_problem(problem);
                self.show(Show::Settings(SettingsShow::ThresholdError(text)));
                return;
            }
        };
        self.show(Show::Settings(SettingsShow::ThresholdError(String::new())));
        let overridden = {
            let mut prefs = self.prefs.borrow_mut();
            prefs.saved.ask_above_mib = Some(mib);
            prefs.env.ask_above_mib.is_some()
        };
        self.save_settings();
        if !overridden {
            self.network.command(Command::Configure {
                downloads: None,
                ask_above_bytes: Some(settings::mib_to_bytes(mib)),
            });
        }
        self.refresh_settings();
    }

    pub fn set_notifications(&self, on: bool) {
        self.prefs.borrow_mut().saved.notifications = on;
        self.save_settings();
        self.refresh_settings();
    }

    /// Reaches the notifier at once: the next notification plays a sound, or does not.
    pub fn set_sound(&self, on: bool) {
        self.prefs.borrow_mut().saved.sound = on;
        if let Some(notifier) = self.notifier.borrow().clone() {
            notifier.set_sound(on);
        }
        self.save_settings();
        self.refresh_settings();
    }

    /// "system", "en" or "zh"; the window changes language at once (unless `QUICQ_LANG`
    /// decides).
    pub fn set_language(&self, key: &str) {
        let Some(choice) = LangChoice::from_key(key) else { return };
        let lang = {
            let mut prefs = self.prefs.borrow_mut();
            prefs.saved.language = choice;
            prefs.effective(self.texts().lang()).lang
        };
        self.save_settings();
        if lang != self.texts().lang() {
            self.texts.set(Texts::new(lang));
            self.show(Show::Settings(SettingsShow::Language(lang)));
            self.relabel();
        }
        self.refresh_settings();
    }

    /// The texts made here, again in the language now chosen: the list, the title, the
    /// status line, the transfers and the open conversation's bubbles.
    fn relabel(&self) {
        {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            // Rebuilt from the histories as each is opened again.
            state.timelines.clear();
            state.activity.relabel(&state.me, &self.texts());
        }
        self.refresh_users();
        self.refresh_transfers();
        let (signed_in, up, me) = {
            let state = self.state.borrow();
            (state.signed_in, state.roster.link_up(), state.me.clone())
        };
        if signed_in {
            self.refresh_title();
            self.open_timeline();
            if up {
                let text = self.texts().connected(&me);
                self.show(Show::Status(StatusShow::Line { connected: true, text }));
            }
        }
    }

    /// Asks the server to share (or stop sharing) how far one has read.
    pub fn set_receipts(&self, on: bool) {
        self.network.command(Command::SetReceipts(on));
    }

    pub(super) fn receipts_setting(&self, on: bool) {
        self.prefs.borrow_mut().receipts = Some(on);
        if self.prefs.borrow().open {
            self.refresh_settings();
        }
    }

    /// The switch goes back to what the server has, and a notice says why.
    pub(super) fn receipts_not_changed(&self, why: &SendFailure) {
        self.notice(self.texts().receipts_not_changed(&self.texts().send_failure(why)));
        self.refresh_settings();
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use slint::Model;

    use super::super::tests::Rig;
    use super::*;
    use crate::backend::Update;
    use crate::notify::{Notice, Notifier};

    /// The page's values from a rig's recorded changes (the last ones shown).
    fn page(shown: &[Show]) -> SettingsPage {
        shown
            .iter()
            .rev()
            .find_map(|s| match s {
                Show::Settings(SettingsShow::Page(page)) => Some(page.clone()),
                _ => None,
            })
            .expect("the page was shown")
    }

    fn configured(commands: &[Command]) -> Vec<Command> {
        commands.iter().filter(|c| matches!(c, Command::Configure { .. })).cloned().collect()
    }

    #[test]
    fn each_choice_is_applied_saved_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ui.json");
        let files = dir.path().join("files");
        std::fs::create_dir(&files).unwrap();
        let rig = Rig::new(Some(path.clone()));
        rig.controller.use_environment(
            Overrides::default(),
            System { downloads: "/sys/dl".into(), lang: Lang::English },
        );
        rig.controller.open_settings();
        let (_, shown) = rig.take();
        assert!(shown.contains(&Show::Settings(SettingsShow::Open(true))));
        let first = page(&shown);
        assert_eq!(
            (first.download_dir.as_str(), first.ask_above_mib.as_str(), first.language.as_str()),
            ("/sys/dl", "100", "system")
        );
        assert!(first.notifications && !first.sound && !first.receipts_known);

        rig.controller.set_download_dir(&files.to_string_lossy());
        rig.controller.set_ask_above("0");
        rig.controller.set_notifications(false);
        rig.controller.set_sound(true);
        let (commands, shown) = rig.take();
        assert_eq!(
            configured(&commands),
            [
                Command::Configure { downloads: Some(files.clone()), ask_above_bytes: None },
                Command::Configure { downloads: None, ask_above_bytes: Some(0) },
            ]
        );
        let now = page(&shown);
        assert_eq!(
            (now.download_dir.as_str(), now.ask_above_mib.as_str()),
            (files.to_str().unwrap(), "0")
        );
        assert!(!now.notifications && now.sound);

        // The next run starts from the file.
        let saved = Settings::load(&path);
        assert_eq!(
            (saved.download_dir, saved.ask_above_mib, saved.notifications, saved.sound),
            (Some(files.clone()), Some(0), false, true)
        );
        let again = Rig::new(Some(path.clone()));
        again.controller.open_settings();
        assert_eq!(page(&again.take().1), now);
    }

    #[test]
    fn refused_values_are_said_on_the_page_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ui.json");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let rig = Rig::new(Some(path.clone()));
        rig.take();
        // (what is typed, where, the words shown)
        type Apply = fn(&Controller, &str);
        let cases: [(&str, Apply, SettingsShow); 4] = [
            (
                "",
                Controller::set_download_dir,
                SettingsShow::FolderError("Type a folder, or choose one.".into()),
            ),
            (
                "/no/such/folder",
                Controller::set_download_dir,
                SettingsShow::FolderError("That folder does not exist.".into()),
            ),
            (
                file.to_str().unwrap(),
                Controller::set_download_dir,
                SettingsShow::FolderError("That is a file, not a folder.".into()),
            ),
            (
                "ten",
                Controller::set_ask_above,
                SettingsShow::ThresholdError(
                    "Type a whole number of MiB (0 asks about every file).".into(),
                ),
            ),
        ];
        for (typed, apply, want) in cases {
            apply(&rig.controller, typed);
            let (commands, shown) = rig.take();
            assert_eq!((commands, shown), (vec![], vec![Show::Settings(want)]), "{typed:?}");
        }
        assert!(!path.exists(), "nothing saved");
    }

    #[test]
    fn the_environment_decides_over_the_page_and_the_page_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let rig = Rig::new(Some(dir.path().join("ui.json")));
        rig.controller.use_environment(
            Overrides {
                download_dir: Some("/env".into()),
                ask_above_mib: Some(3),
                lang: Some(Lang::English),
            },
            System { downloads: "/sys".into(), lang: Lang::Chinese },
        );
        rig.controller.set_download_dir(&dir.path().to_string_lossy());
        rig.controller.set_ask_above("9");
        rig.controller.set_language("zh");
        let (commands, shown) = rig.take();
        assert_eq!(configured(&commands), [], "the network keeps the environment's");
        assert!(!shown.iter().any(|s| matches!(s, Show::Settings(SettingsShow::Language(_)))));
        let page = page(&shown);
        assert_eq!((page.download_dir.as_str(), page.ask_above_mib.as_str()), ("/env", "3"));
        assert!(page.download_dir_from_env && page.ask_above_from_env && page.language_from_env);
        assert_eq!(page.language, "zh", "the choice is kept for when the variable is gone");
    }

    #[test]
    fn the_language_changes_at_once_with_the_texts_made_here() {
        let rig = Rig::signed_in();
        let to_bob = quicq_common::protocol::Address::User("bob".into());
        let mut recalled = super::super::tests::msg(1, "alice", to_bob, "");
        recalled.recalled = true;
        rig.controller.apply(Update::Event(quicq_client::Event::Message(recalled)));
        // (choice, the language then, whether it changed; the system speaks Chinese)
        rig.controller.use_environment(
            Overrides::default(),
            System { downloads: "/d".into(), lang: Lang::Chinese },
        );
        let cases = [
            ("en", Lang::English, false),
            ("zh", Lang::Chinese, true),
            ("system", Lang::Chinese, false),
            ("en", Lang::English, true),
            ("klingon", Lang::English, false),
        ];
        for (key, lang, changed) in cases {
            rig.controller.set_language(key);
            let (_, shown) = rig.take();
            assert_eq!(rig.controller.texts().lang(), lang, "{key}");
            let switched = shown.contains(&Show::Settings(SettingsShow::Language(lang)));
            assert_eq!(switched, changed, "{key}");
            if changed {
                let status = shown.iter().find_map(|s| match s {
                    Show::Status(StatusShow::Line { text, .. }) => Some(text.clone()),
                    _ => None,
                });
                let want = Texts::new(lang).connected("alice");
                assert_eq!(status, Some(want), "the status line in the new language");
                assert!(shown.iter().any(|s| matches!(
                    s,
                    Show::Conversation(crate::screen::ConversationShow::Title(_))
                )));
                let users = rig.controller.users();
                let preview = users.iter().find(|r| r.key == "bob").map(|r| r.preview.to_string());
                let want = match lang {
                    Lang::English => "(message recalled)",
                    Lang::Chinese => "（消息已撤回）",
                };
                assert_eq!(
                    preview.as_deref(),
                    Some(want),
                    "the list's preview in the new language"
                );
            }
        }
    }

    #[test]
    fn read_receipts_go_to_the_server_and_the_switch_shows_its_answer() {
        let rig = Rig::signed_in();
        rig.controller.apply(Update::ReceiptsSetting(true));
        rig.controller.open_settings();
        let page_now = page(&rig.take().1);
        assert!(page_now.receipts && page_now.receipts_known);
        rig.controller.set_receipts(false);
        assert_eq!(rig.take().0, [Command::SetReceipts(false)]);
        rig.controller.apply(Update::ReceiptsSetting(false));
        assert!(!page(&rig.take().1).receipts);
        // Not changed: the switch shows the server's setting again, a notice says why.
        rig.controller.set_receipts(true);
        rig.controller.apply(Update::ReceiptsNotChanged(SendFailure::Offline));
        let (_, shown) = rig.take();
        assert!(!page(&shown).receipts);
        assert!(shown.contains(&Show::Status(StatusShow::Notice(
            "Read receipts not changed: not connected".into()
        ))));
        // Signed out: the page closes; the next account's setting is not known yet.
        rig.controller.sign_out();
        assert!(rig.take().1.contains(&Show::Settings(SettingsShow::Open(false))));
        rig.controller.open_settings();
        assert!(!page(&rig.take().1).receipts_known);
    }

    /// Records what reaches the notifier.
    #[derive(Default)]
    struct Recorder {
        shown: std::cell::RefCell<Vec<Notice>>,
        sound: std::cell::Cell<Option<bool>>,
    }

    impl Notifier for Recorder {
        fn focused(&self) -> bool {
            false
        }

        fn notify(&self, notice: Notice) {
            self.shown.borrow_mut().push(notice);
        }

        fn set_sound(&self, on: bool) {
            self.sound.set(Some(on));
        }
    }

    #[test]
    fn the_sound_setting_reaches_the_notifier_and_notifications_can_be_turned_off() {
        use quicq_common::protocol::Address;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ui.json");
        Settings { sound: true, ..Settings::default() }.save(&path).unwrap();
        // A saved choice reaches the notifier as it is set.
        let rig = Rig::new(Some(path));
        let notifier = Rc::new(Recorder::default());
        rig.controller.set_notifier(notifier.clone());
        assert_eq!(notifier.sound.get(), Some(true));
        // (step, the sound the notifier was told, notified)
        let message = |id| {
            Update::Event(quicq_client::Event::Message(super::super::tests::msg(
                id,
                "bob",
                Address::User("alice".into()),
                "hi",
            )))
        };
        rig.controller.apply(Update::SignedIn {
            me: "alice".into(),
            users: vec![],
            groups: vec![],
        });
        rig.controller.set_sound(false);
        assert_eq!(notifier.sound.get(), Some(false));
        rig.controller.set_sound(true);
        assert_eq!(notifier.sound.get(), Some(true));
        rig.controller.apply(message(1));
        assert_eq!(notifier.shown.take().len(), 1, "notified");
        rig.controller.set_notifications(false);
        rig.controller.apply(message(2));
        assert_eq!(notifier.shown.take().len(), 0, "turned off");
        rig.controller.set_notifications(true);
        rig.controller.apply(message(3));
        assert_eq!(notifier.shown.take().len(), 1, "on again");
    }
}
