//! Desktop notifications: a message from someone else, in a conversation that is not muted,
//! while the window does not have the focus, shows its sender and text on the desktop. The
//! controller decides ([`wanted`]) and talks to a [`Notifier`]; [`Desktop`] is the real one, a
//! fake records in tests.
//!
//! The notifications go through `notify-rust`: the freedesktop notification service over D-Bus
//! (pure Rust, through the same `zbus` the file dialog and accessibility already bring in), and
//! the native services on macOS and Windows. A failure (no D-Bus session on a CI box, no
//! notification daemon) is logged once and otherwise ignored: nothing else depends on it.
//!
//! The optional sound is the notification's own: the freedesktop sound-name hint
//! ([`SOUND`], played by the notification daemon from the sound theme) and the native
//! services' sound name; no audio stack of our own. With the sound off, the freedesktop
//! notification asks the daemon to stay quiet (`suppress-sound`).

use std::cell::Cell;
use std::sync::mpsc;

use slint::ComponentHandle;

use crate::generated::MainWindow;

/// One desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The conversation: the person, or the group's name.
    pub title: String,
    /// `sender: text`, a file by its name.
    pub body: String,
}

/// Where the controller's notifications go.
pub trait Notifier {
    /// Whether the window has the keyboard focus (then the list and badges are enough).
    fn focused(&self) -> bool;
    fn notify(&self, notice: Notice);
    /// Whether the notifications shown from now on play a sound; one that has none to play
    /// ignores it.
    fn set_sound(&self, _on: bool) {}
}

/// The freedesktop sound theme's name for an instant message. The native services (macOS,
/// Windows) are given the same name; what they make of it is theirs (not tried here).
pub const SOUND: &str = "message-new-instant";

/// Whether a message deserves a notification: news (not an edit or a membership event), from
/// someone else, in a conversation that is not muted, while the window is elsewhere.
pub fn wanted(news: bool, own: bool, muted: bool, focused: bool) -> bool {
    news && !own && !muted && !focused
}

/// The desktop's notification service, on a thread of its own so a slow or absent service never
/// holds up the window.
pub struct Desktop {
    window: slint::Weak<MainWindow>,
    tx: mpsc::Sender<(Notice, bool)>,
    sound: Cell<bool>,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop").finish_non_exhaustive()
    }
}

impl Desktop {
    pub fn start(window: &MainWindow) -> Desktop {
        let (tx, rx) = mpsc::channel::<(Notice, bool)>();
        let spawned = std::thread::Builder::new().name("quicq-notify".into()).spawn(move || {
            let mut failed = false;
            for (notice, sound) in rx {
                let mut notification = notify_rust::Notification::new();
                notification.appname("QuicQ").summary(&notice.title).body(&notice.body);
                if sound {
                    notification.sound_name(SOUND);
                } else {
                    #[cfg(all(unix, not(target_os = "macos")))]
                    notification.hint(notify_rust::Hint::SuppressSound(true));
                }
                let shown = notification.show();
                if let Err(e) = shown
                    && !std::mem::replace(&mut failed, true)
                {
                    tracing::warn!(cause = %e, "desktop notifications do not work (said once)");
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(cause = %e, "no thread for desktop notifications");
        }
        Desktop { window: window.as_weak(), tx, sound: Cell::new(false) }
    }
}

impl Notifier for Desktop {
    /// Asked of the window system; where there is none to ask (a board's screen), the window is
    /// all there is and counts as focused.
    fn focused(&self) -> bool {
        #[cfg(feature = "desktop")]
        {
            use slint::winit_030::WinitWindowAccessor;
            let window = self.window.upgrade();
            window.and_then(|w| w.window().with_winit_window(|w| w.has_focus())).unwrap_or(true)
        }
        #[cfg(not(feature = "desktop"))]
        {
            let _ = &self.window;
            true
        }
    }

    fn notify(&self, notice: Notice) {
        // The thread is gone only if it could not start; that was logged.
        let _ = self.tx.send((notice, self.sound.get()));
    }

    fn set_sound(&self, on: bool) {
        self.sound.set(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_news_from_others_unmuted_while_away_is_notified() {
        // (news, own, muted, focused, wanted)
        let cases = [
            (true, false, false, false, true),
            (true, false, false, true, false),
            (true, false, true, false, false),
            (true, true, false, false, false),
            (false, false, false, false, false),
        ];
        for (news, own, muted, focused, want) in cases {
            assert_eq!(wanted(news, own, muted, focused), want, "{news} {own} {muted} {focused}");
        }
    }
}
