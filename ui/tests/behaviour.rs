//! The real window (Slint's testing backend, no display) against a real server on loopback:
//! sign in through the trust prompt, chat with another client, unread badges, the group root,
//! a changed certificate being refused, and the conversation list (one bubble changed per edit,
//! following new messages, the "new messages" button); a bubble's text selected and copied, its
//! menu (reply, edit, recall, reactions), read receipts and typing.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use quicq_client::{Client, ClientConfig, Event, Events, KnownServers, Trust};
use quicq_common::Fingerprint;
use quicq_common::protocol::{Address, ChatMessage};
use quicq_server::{Config, Server};
use quicq_ui::app::App;
use quicq_ui::backend::{Backend, Options};
use quicq_ui::i18n::{Lang, Texts};
use quicq_ui::{
    AppAdapter, ComposerAdapter, ConversationAdapter, GroupAdapter, MainWindow, SettingsAdapter,
    SignInAdapter, StatusBarAdapter, TrustAdapter, UserTreeAdapter,
};
use slint::{ComponentHandle, Model};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(20);

/// A real server on 127.0.0.1:0 in a runtime of its own.
struct TestServer {
    runtime: tokio::runtime::Runtime,
    port: u16,
    fingerprint: Fingerprint,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// A server whose configuration `change` adjusts first (shorter windows, say).
    fn start_with(change: impl FnOnce(&mut Config)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let mut config = Config::ephemeral(dir.path());
        change(&mut config);
        let (port, fingerprint, task) = runtime.block_on(async {
            let server = Server::bind(config).unwrap();
            let found = (server.local_addr().port(), server.fingerprint());
            (found.0, found.1, tokio::spawn(server.run(shutdown.clone())))
        });
        TestServer { runtime, port, fingerprint, shutdown, task: Some(task), _dir: dir }
    }

    /// The server dies without a word (a crash, a pulled cable): no connection is closed, the
    /// clients must notice the silence.
    fn kill(&mut self) {
        let dead = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        std::mem::replace(&mut self.runtime, dead).shutdown_background();
    }

    /// Shuts down in order and starts again on the same port with a new certificate (and a
    /// new, empty store). Returns the new fingerprint.
    fn restart_with_new_certificate(&mut self) -> Fingerprint {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            self.runtime.block_on(task).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        self.run_again(dir.path());
        self._dir = dir;
        self.fingerprint
    }

    /// Shuts down in order; [`TestServer::start_again`] brings it back.
    fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            self.runtime.block_on(task).unwrap();
        }
    }

    /// Starts again after [`TestServer::stop`]: the same port, certificate and store.
    fn start_again(&mut self) {
        let (dir, before) = (self._dir.path().to_owned(), self.fingerprint);
        self.run_again(&dir);
        assert_eq!(self.fingerprint, before, "the same certificate");
    }

    /// Serves from `dir` on the same port again, once the port is free.
    fn run_again(&mut self, dir: &std::path::Path) {
        self.shutdown = CancellationToken::new();
        let deadline = Instant::now() + WAIT;
        let server = loop {
            let mut config = Config::ephemeral(dir);
            config.listen = ([127, 0, 0, 1], self.port).into();
            match self.runtime.block_on(async { Server::bind(config) }) {
                Ok(server) => break server,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("port {} not free yet: {e}", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot bind port {} again: {e}", self.port),
            }
        };
        self.fingerprint = server.fingerprint();
        let _guard = self.runtime.enter();
        self.task = Some(self.runtime.spawn(server.run(self.shutdown.clone())));
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Another user, through the client library, pinned to this server.
    fn other_client(&self, nick: &str) -> (Client, Events) {
        let link =
            format!("quicq://127.0.0.1:{}#fp={}", self.port, self.fingerprint).parse().unwrap();
        let mut config = ClientConfig::new(link, nick, PASSWORD);
        config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
        self.runtime.block_on(Client::connect(config)).unwrap()
    }

    fn next_message(&self, events: &mut Events) -> ChatMessage {
        self.runtime.block_on(async {
            tokio::time::timeout(WAIT, async {
                loop {
                    if let Some(Event::Message(m)) = events.recv().await {
                        return m;
                    }
                }
            })
            .await
            .expect("a message in time")
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Where the network thread keeps things: all in `dir`.
fn options(dir: &std::path::Path) -> Options {
    Options {
        known_servers: Some(dir.join("known_servers")),
        downloads: dir.join("downloads"),
        device: Some("ui-test".into()),
        use_system_roots: false,
        saved_files: Some(dir.join("saved-files.jsonl")),
        // Larger files are offered, not downloaded by themselves.
        ask_above_bytes: Some(64 << 10),
    }
}

/// The app wired to a real network thread; the known-servers file lives in `dir`.
fn app(dir: &std::path::Path) -> Rc<App> {
    app_in(dir, Lang::English)
}

/// The app remembering sign-in details and accounts in `dir`, as the real one does.
fn app_remembering(dir: &std::path::Path) -> Rc<App> {
    let window = MainWindow::new().unwrap();
    let (network, updates) = Backend::start(options(dir), || {});
    let settings = Some(dir.join("ui.json"));
    App::new(window, Rc::new(network), updates, Texts::new(Lang::English), settings)
}

fn app_in(dir: &std::path::Path, lang: Lang) -> Rc<App> {
    let window = MainWindow::new().unwrap();
    quicq_ui::select_language(lang);
    // No event loop in the testing backend: the test pumps updates itself.
    let (network, updates) = Backend::start(options(dir), || {});
    App::new(window, Rc::new(network), updates, Texts::new(lang), None)
}

fn find(app: &App, label: &str) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(app.window(), label).next()
}

/// The element with this label and role (a text and a field can share a label).
fn find_role(app: &App, label: &str, role: AccessibleRole) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(app.window(), label)
        .find(|e| e.accessible_role() == Some(role))
}

/// Pumps updates until `cond` holds. There is no event loop: this also runs the views' change
/// handlers and animations, as the event loop would between frames, and Slint's (mock) clock
/// moves on as the real one does, so its timers (the status bar's countdown) run.
fn wait_until(app: &App, what: &str, cond: impl Fn(&App) -> bool) {
    wait_longer(app, what, WAIT, cond)
}

fn wait_longer(app: &App, what: &str, wait: Duration, cond: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + wait;
    let mut last = Instant::now();
    while Instant::now() < deadline {
        app.pump();
        settle(app);
        if cond(app) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        i_slint_backend_testing::mock_elapsed_time(now - last);
        last = now;
    }
    panic!("timed out waiting for {what}");
}

fn click(app: &App, label: &str) {
    find_role(app, label, AccessibleRole::Button)
        .unwrap_or_else(|| panic!("no button {label:?}"))
        .invoke_accessible_default_action();
}

fn type_into(app: &App, label: &str, text: &str) {
    find_role(app, label, AccessibleRole::TextInput)
        .unwrap_or_else(|| panic!("no text field {label:?}"))
        .set_accessible_value(text);
}

fn shown_texts(app: &App) -> Vec<String> {
    let model = app.window().global::<ConversationAdapter>().get_messages();
    (0..model.row_count()).filter_map(|i| model.row_data(i)).map(|r| r.text.to_string()).collect()
}

fn unread(app: &App, label: &str) -> String {
    find_role(app, label, AccessibleRole::Button)
        .and_then(|e| e.accessible_value())
        .map(|v| v.to_string())
        .unwrap_or_default()
}

fn sign_in(app: &App, server: &TestServer, nick: &str) {
    type_into(app, "Server", &server.address());
    type_into(app, "Nickname", nick);
    type_into(app, "Password", PASSWORD);
    click(app, "Sign in");
}

#[test]
fn sign_in_chat_unread_badges_and_the_group_root() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let (_bob, mut bob_events) = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());

    // First contact: the fingerprint is shown and must be accepted.
    sign_in(&app, &server, "alice");
    wait_until(&app, "the trust prompt", |a| find(a, "New server").is_some());
    assert!(find(&app, "Fingerprint").is_some());
    let shown = app.window().global::<TrustAdapter>().get_fingerprint();
    assert_eq!(shown.as_str(), server.fingerprint.pretty());
    click(&app, "Trust");
    wait_until(&app, "signed in", |a| a.window().global::<AppAdapter>().get_signed_in());
    assert_eq!(
        KnownServers::load(&dir.path().join("known_servers")).unwrap().get(&server.address()),
        Some(server.fingerprint),
        "the trusted fingerprint is remembered"
    );

    // The other user is in the tree, under the root.
    wait_until(&app, "bob in the tree", |a| find_role(a, "bob", AccessibleRole::Button).is_some());
    assert!(find_role(&app, "Everyone", AccessibleRole::Button).is_some());

    // Select bob, type, send: the message shows here and reaches bob.
    click(&app, "bob");
    type_into(&app, "Message", "hello bob");
    click(&app, "Send");
    wait_until(&app, "own message shown", |a| shown_texts(a).contains(&"hello bob".to_owned()));
    let got = server.next_message(&mut bob_events);
    assert_eq!((got.from.as_str(), got.text.as_str()), ("alice", "hello bob"));
    assert_eq!(got.to, Address::User("bob".into()));

    // While alice looks at the group, bob writes to her: the badge counts up, then clears.
    click(&app, "Everyone");
    for text in ["one", "two"] {
        server.runtime.block_on(_bob.send(Address::User("alice".into()), text)).unwrap();
    }
    wait_until(&app, "two unread", |a| unread(a, "bob") == "2");
    assert!(
        !shown_texts(&app).contains(&"one".to_owned()),
        "bob's messages are not in the group view"
    );
    click(&app, "bob");
    wait_until(&app, "badge cleared", |a| unread(a, "bob") == "0");
    wait_until(&app, "bob's messages shown", |a| shown_texts(a).contains(&"two".to_owned()));

    // The root talks to everyone.
    let _ = server.next_message(&mut bob_events); // bob's own "one"
    let _ = server.next_message(&mut bob_events); // bob's own "two"
    click(&app, "Everyone");
    type_into(&app, "Message", "hi all");
    click(&app, "Send");
    let got = server.next_message(&mut bob_events);
    assert_eq!((got.text.as_str(), got.to.clone()), ("hi all", Address::everyone()));
    wait_until(&app, "group message shown", |a| shown_texts(a).contains(&"hi all".to_owned()));
    assert!(app.window().global::<StatusBarAdapter>().get_status().contains("alice"));
}

#[test]
fn changed_fingerprint_is_a_blocking_warning() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let old = Fingerprint([9; 32]);
    KnownServers::add(&dir.path().join("known_servers"), &server.address(), old).unwrap();
    let app = app(dir.path());

    sign_in(&app, &server, "alice");
    wait_until(&app, "the warning", |a| find(a, "Certificate changed").is_some());
    assert!(
        find_role(&app, "Trust", AccessibleRole::Button).is_none(),
        "no way to accept a changed certificate"
    );
    assert!(!app.window().global::<AppAdapter>().get_signed_in());
    click(&app, "Close");
    wait_until(&app, "warning closed", |a| find(a, "Certificate changed").is_none());
    assert!(!app.window().global::<AppAdapter>().get_signed_in());
    // The file still holds the old fingerprint.
    let known = KnownServers::load(&dir.path().join("known_servers")).unwrap();
    assert_eq!(known.get(&server.address()), Some(old));
}

#[test]
fn wrong_password_is_said_in_words() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let _ = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    type_into(
        &app,
        "Server",
        &format!("quicq://127.0.0.1:{}#fp={}", server.port, server.fingerprint),
    );
    type_into(&app, "Nickname", "bob");
    type_into(&app, "Password", "not bob's password");
    click(&app, "Sign in");
    wait_until(&app, "an error", |a| find(a, "Sign-in error").is_some());
    let sign_in = app.window().global::<SignInAdapter>();
    assert_eq!(sign_in.get_error().as_str(), "Wrong nickname or password.");
    assert!(!sign_in.get_busy());
}

fn press(app: &App, key: slint::platform::Key) {
    use slint::platform::WindowEvent;
    let text: slint::SharedString = key.into();
    app.window().window().dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
    app.window().window().dispatch_event(WindowEvent::KeyReleased { text });
}

/// Clicks a text field, so the keyboard goes there.
fn focus(app: &App, label: &str) {
    find_role(app, label, AccessibleRole::TextInput)
        .unwrap_or_else(|| panic!("no text field {label:?}"))
        .mock_single_click(slint::platform::PointerEventButton::Left);
}

/// What the event loop does between frames, which the testing backend without one leaves to the
/// test: change handlers and animations run, and lists make the rows now scrolled into view
/// (which Slint does before it delivers input, so a pointer move in a corner does it).
fn settle(app: &App) {
    slint::platform::update_timers_and_animations();
    let corner = slint::LogicalPosition::new(1.0, 1.0);
    app.window()
        .window()
        .dispatch_event(slint::platform::WindowEvent::PointerMoved { position: corner });
    slint::platform::update_timers_and_animations();
}

/// Signs `nick` in to `server` through the first-contact prompt and waits for the chat page;
/// the group is open afterwards.
fn sign_in_trusting(app: &App, server: &TestServer, nick: &str) {
    sign_in(app, server, nick);
    wait_until(app, "the trust prompt", |a| find(a, "New server").is_some());
    click(app, "Trust");
    wait_until(app, "signed in", |a| a.window().global::<AppAdapter>().get_signed_in());
}

fn status(app: &App) -> String {
    app.window().global::<StatusBarAdapter>().get_status().to_string()
}

/// The tree's labels below the root, in order.
fn tree(app: &App) -> Vec<String> {
    let users = app.window().global::<UserTreeAdapter>().get_users();
    users.iter().map(|r| r.label.to_string()).collect()
}

#[test]
fn badges_are_capped_names_sort_naturally_and_blank_drafts_cannot_be_sent() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let others: Vec<_> =
        ["user10", "user2", "User3", "bob"].map(|n| server.other_client(n)).into_iter().collect();
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");
    wait_until(&app, "everyone in the tree", |a| tree(a).len() == 5);
    assert_eq!(tree(&app)[1..], ["bob", "user2", "User3", "user10"]);

    let bob = &others[3].0;
    server.runtime.block_on(async {
        for i in 0..100 {
            bob.send(Address::User("alice".into()), format!("m{i}")).await.unwrap();
        }
    });
    let badge = |a: &App| {
        find_role(a, "bob", AccessibleRole::Button)
            .and_then(|e| e.accessible_description())
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    wait_until(&app, "a capped badge", |a| unread(a, "bob") == "100");
    assert_eq!(badge(&app), "99+");

    let send = || find_role(&app, "Send", AccessibleRole::Button).unwrap();
    type_into(&app, "Message", "  \n \u{3000}");
    assert_eq!(send().accessible_enabled(), Some(false), "nothing to send");
    type_into(&app, "Message", " hi ");
    assert_eq!(send().accessible_enabled(), Some(true));
}

#[test]
fn enter_signs_in_escape_closes_dialogs_and_the_fingerprint_is_large_and_whole() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    // Room for the pointer click that focuses a field, which lands by position.
    app.window().window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    type_into(&app, "Server", &server.address());
    type_into(&app, "Nickname", "alice");
    type_into(&app, "Password", PASSWORD);
    focus(&app, "Nickname");
    press(&app, slint::platform::Key::Return);
    wait_until(&app, "the trust prompt after Enter", |a| find(a, "New server").is_some());

    // Four lines of eight bytes: never broken inside a byte.
    let lines = app.window().global::<TrustAdapter>().get_fingerprint_lines().to_string();
    let pretty = server.fingerprint.pretty();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert!(lines.lines().all(|l| l.len() == 23), "{lines}");
    assert_eq!(lines.replace('\n', ":"), pretty);

    // Esc is "Don't trust".
    press(&app, slint::platform::Key::Escape);
    wait_until(&app, "the prompt closed", |a| find(a, "New server").is_none());
    wait_until(&app, "not trusted", |a| {
        a.window().global::<SignInAdapter>().get_error().contains("not trusted")
    });

    sign_in_trusting(&app, &server, "alice");
    click(&app, "About");
    wait_until(&app, "the About box", |a| find(a, "About QuicQ").is_some());
    press(&app, slint::platform::Key::Escape);
    wait_until(&app, "the About box closed", |a| find(a, "About QuicQ").is_none());
}

#[test]
fn a_web_address_is_explained_and_connecting_can_be_cancelled() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let error = |a: &App| a.window().global::<SignInAdapter>().get_error().to_string();

    type_into(&app, "Server", &format!("https://127.0.0.1:{}", server.port));
    type_into(&app, "Nickname", "alice");
    type_into(&app, "Password", PASSWORD);
    click(&app, "Sign in");
    wait_until(&app, "an explanation", |a| !error(a).is_empty());
    assert!(error(&app).contains("web address"), "{}", error(&app));
    assert!(error(&app).contains("quicq://"), "{}", error(&app));

    // A port where nobody answers: "Connecting…" until cancelled.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    type_into(&app, "Server", &silent.local_addr().unwrap().to_string());
    click(&app, "Sign in");
    wait_until(&app, "connecting", |a| a.window().global::<SignInAdapter>().get_busy());
    click(&app, "Cancel");
    wait_until(&app, "the form free again", |a| !a.window().global::<SignInAdapter>().get_busy());
    assert_eq!(error(&app), "");

    // The network thread is not stuck behind the cancelled attempt.
    sign_in_trusting(&app, &server, "alice");
}

#[test]
fn notices_in_chinese_have_no_english_reasons_and_clear_themselves() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path(), Lang::Chinese);
    sign_in_trusting(&app, &server, "alice");
    let composer = app.window().global::<ComposerAdapter>();
    composer.set_typed_path(dir.path().join("no such file.pdf").display().to_string().into());
    composer.invoke_send_typed_path();
    let notice = |a: &App| a.window().global::<StatusBarAdapter>().get_notice().to_string();
    wait_until(&app, "a notice", |a| !notice(a).is_empty());
    assert_eq!(notice(&app), "文件未发送：文件不存在");
    wait_until(&app, "the notice gone", |a| notice(a).is_empty());
}

#[test]
fn a_dead_server_shows_offline_and_the_reconnect_countdown_counts() {
    i_slint_backend_testing::init_no_event_loop();
    let mut server = TestServer::start();
    let _bob = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");
    wait_until(&app, "bob online", |a| tree(a).first().is_some_and(|t| t.contains("2 online")));

    server.kill();
    wait_until(&app, "the loss noticed", |a| status(a).contains("reconnecting"));
    assert_eq!(tree(&app)[0], "Everyone (offline)");
    let users = app.window().global::<UserTreeAdapter>().get_users();
    assert!(users.iter().all(|r| !r.online), "nobody shown online");
    let dot = find(&app, "Connection").and_then(|e| e.accessible_value()).unwrap_or_default();
    assert_eq!(dot.as_str(), "reconnecting");

    let first = status(&app);
    let secs = |s: &str| s.split_whitespace().find_map(|w| w.parse::<u64>().ok());
    wait_until(&app, "the countdown to move", |a| status(a) != first);
    let next = status(&app);
    match (secs(&first), secs(&next)) {
        (Some(1), None) => assert!(next.contains("reconnecting now"), "{next}"),
        (Some(a), Some(b)) => assert_eq!(b + 1, a, "{first} then {next}"),
        _ => panic!("not a countdown: {first} then {next}"),
    }
}

#[test]
fn a_certificate_changed_during_the_session_is_the_blocking_warning() {
    i_slint_backend_testing::init_no_event_loop();
    let mut server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");

    let presented = server.restart_with_new_certificate();
    // One reconnect attempt may still hit the empty port and wait out its connect timeout.
    wait_longer(&app, "the warning", WAIT * 3, |a| find(a, "Certificate changed").is_some());
    let trust = app.window().global::<TrustAdapter>();
    assert_eq!(trust.get_fingerprint().as_str(), presented.pretty(), "shown in full");
    assert!(find_role(&app, "Trust", AccessibleRole::Button).is_none());
    assert!(find_role(&app, "Retry", AccessibleRole::Button).is_some());
    assert_eq!(status(&app), "Offline: the server's certificate has changed");
    let dot = find(&app, "Connection").and_then(|e| e.accessible_value()).unwrap_or_default();
    assert_eq!(dot.as_str(), "offline", "not amber");

    // Retrying meets the same certificate: the same warning again.
    click(&app, "Retry");
    // Closed at once: looked at before the network's answer is let in, which on loopback may
    // already be waiting by the next pump.
    settle(&app);
    assert!(find(&app, "Certificate changed").is_none(), "the warning closed");
    wait_until(&app, "the warning again", |a| find(a, "Certificate changed").is_some());
    click(&app, "Sign out");
    wait_until(&app, "signed out", |a| !a.window().global::<AppAdapter>().get_signed_in());
    assert!(find(&app, "Certificate changed").is_none());
}

/// A bubble's text is on screen: drawn (the list only makes the rows in view) and its middle
/// inside the conversation list's visible area.
fn on_screen(app: &App, text: &str) -> bool {
    let Some(list) = ElementHandle::find_by_accessible_label(app.window(), "Messages").next()
    else {
        return false;
    };
    let (top, height) = (list.absolute_position().y, list.size().height);
    ElementHandle::find_by_accessible_label(app.window(), text).any(|e| {
        let middle = e.absolute_position().y + e.size().height / 2.0;
        e.is_valid() && middle >= top && middle <= top + height
    })
}

/// The mouse wheel over the conversation list; positive `dy` scrolls up (towards older).
fn wheel(app: &App, dy: f32) {
    let list = ElementHandle::find_by_accessible_label(app.window(), "Messages").next().unwrap();
    let (p, size) = (list.absolute_position(), list.size());
    let position = slint::LogicalPosition::new(p.x + size.width / 2.0, p.y + size.height / 2.0);
    app.window().window().dispatch_event(slint::platform::WindowEvent::PointerMoved { position });
    app.window().window().dispatch_event(slint::platform::WindowEvent::PointerScrolled {
        position,
        delta_x: 0.0,
        delta_y: dy,
    });
    // Slint 1.18 may animate a wheel step (180 ms of its clock): let it end before the test goes
    // on, as a user's next action would.
    let end = Instant::now() + Duration::from_millis(400);
    while Instant::now() < end {
        settle(app);
        std::thread::sleep(Duration::from_millis(20));
    }
    settle(app);
}

/// A fresh server with bob on it (through the client library) and alice signed in to the
/// window; the group is open.
struct AliceAndBob {
    server: TestServer,
    bob: Client,
    bob_events: Events,
    _dir: tempfile::TempDir,
    app: Rc<App>,
}

fn alice_and_bob() -> AliceAndBob {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let (bob, bob_events) = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");
    AliceAndBob { server, bob, bob_events, _dir: dir, app }
}

/// The "N new messages" button is showing.
fn new_messages_button(app: &App) -> bool {
    find_role(app, "New messages", AccessibleRole::Button).is_some()
}

#[test]
fn an_edit_changes_its_own_bubble_and_leaves_the_others_drawn() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let first = server.runtime.block_on(bob.send(Address::everyone(), "first words")).unwrap();
    let second = server.runtime.block_on(bob.send(Address::everyone(), "second words")).unwrap();
    assert!(first.id < second.id);
    wait_until(&app, "both shown", |a| on_screen(a, "first words") && on_screen(a, "second words"));
    let drawn = find(&app, "first words").unwrap();

    server.runtime.block_on(bob.edit(second.id, "second words, fixed")).unwrap();
    wait_until(&app, "the edit shown", |a| on_screen(a, "second words, fixed (edited)"));
    // The list was not rebuilt: the untouched bubble is the same drawn element.
    assert!(drawn.is_valid(), "the other bubble was made again: the whole list was rebuilt");
    assert_eq!(shown_texts(&app), ["first words", "second words, fixed (edited)"]);
}

#[test]
fn the_list_follows_new_messages_at_the_bottom_and_counts_them_above_it() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let send = |range: std::ops::Range<u32>| {
        server.runtime.block_on(async {
            for i in range {
                bob.send(Address::everyone(), format!("line {i}")).await.unwrap();
            }
        })
    };
    // More than a screenful arrives while alice is at the bottom: the newest stays in view.
    send(0..40);
    wait_until(&app, "the newest in view", |a| on_screen(a, "line 39"));
    assert!(!on_screen(&app, "line 0"));
    assert!(!new_messages_button(&app));

    // Her own message follows too.
    type_into(&app, "Message", "my own words");
    click(&app, "Send");
    wait_until(&app, "own message in view", |a| on_screen(a, "my own words"));

    // Scrolled up, she stays where she reads, and a button counts what came below.
    wheel(&app, 2000.0);
    wait_until(&app, "scrolled up", |a| !on_screen(a, "my own words"));
    send(40..43);
    wait_until(&app, "the counter", new_messages_button);
    wait_until(&app, "three below", |a| shown_texts(a).contains(&"line 42".to_owned()));
    assert!(!on_screen(&app, "line 42"), "the list moved while she read");

    // The button jumps to the newest and goes away.
    click(&app, "New messages");
    wait_until(&app, "the newest in view", |a| on_screen(a, "line 42"));
    wait_until(&app, "the button gone", |a| !new_messages_button(a));

    // Reaching the bottom by scrolling clears the count as well.
    wheel(&app, 2000.0);
    wait_until(&app, "scrolled up", |a| !on_screen(a, "line 42"));
    send(43..44);
    wait_until(&app, "the counter", new_messages_button);
    wheel(&app, -100000.0);
    wait_until(&app, "the bottom", |a| on_screen(a, "line 43"));
    wait_until(&app, "the button gone", |a| !new_messages_button(a));
}

#[test]
fn a_conversation_opens_at_its_newest_and_older_pages_keep_the_place() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let (bob, _bob_events) = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    // The group's past, from before alice's first sign-in: history, not live messages.
    server.runtime.block_on(async {
        for i in 0..120 {
            bob.send(Address::everyone(), format!("dm {i}")).await.unwrap();
        }
    });
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");

    // Opened, it shows the newest message, not the oldest of the page.
    wait_until(&app, "the newest in view", |a| on_screen(a, "dm 119"));
    let page = shown_texts(&app);
    assert!(page.len() < 120, "one page at first");

    // Up to the top of the page, then up again: the next older page comes, and the message that
    // was at the top is still in view.
    let top = page[0].clone();
    wheel(&app, 100000.0);
    wait_until(&app, "the first row of the page in view", |a| on_screen(a, &top));
    wheel(&app, 200.0);
    wait_until(&app, "an older page", |a| shown_texts(a).len() > page.len());
    settle(&app);
    assert!(on_screen(&app, &top), "the place was lost: {top} is no longer in view");
    assert!(!on_screen(&app, "dm 0"), "jumped to the top of the new page");

    // The keyboard way to older messages stays.
    wait_until(&app, "the rest", |a| {
        if let Some(b) = find_role(a, "Older messages", AccessibleRole::Button) {
            b.invoke_accessible_default_action();
        }
        shown_texts(a).contains(&"dm 0".to_owned())
    });
}

/// The composer's text and placeholder.
fn composer(app: &App) -> (String, String) {
    let field = find_role(app, "Message", AccessibleRole::TextInput).unwrap();
    let text = field.accessible_value().unwrap_or_default().to_string();
    (text, field.accessible_placeholder_text().unwrap_or_default().to_string())
}

#[test]
fn each_conversation_keeps_its_own_draft_and_names_its_recipient() {
    let AliceAndBob { server, bob: _bob, mut bob_events, _dir, app } = alice_and_bob();
    wait_until(&app, "bob in the tree", |a| find_role(a, "bob", AccessibleRole::Button).is_some());
    assert_eq!(composer(&app).1, "Message everyone");

    click(&app, "bob");
    wait_until(&app, "bob's composer", |a| composer(a).1 == "Message bob");
    type_into(&app, "Message", "only for bob");
    click(&app, "Everyone");
    wait_until(&app, "the group's composer", |a| composer(a).1 == "Message everyone");
    assert_eq!(composer(&app).0, "", "bob's draft does not follow to the group");
    // Nothing typed here: Send has nothing to send to everyone.
    assert!(
        !find_role(&app, "Send", AccessibleRole::Button).unwrap().accessible_enabled().unwrap()
    );

    click(&app, "bob");
    wait_until(&app, "bob's draft back", |a| composer(a).0 == "only for bob");
    click(&app, "Send");
    let got = server.next_message(&mut bob_events);
    assert_eq!((got.text.as_str(), got.to.clone()), ("only for bob", Address::User("bob".into())));
}

#[test]
fn a_message_that_is_not_sent_is_not_lost() {
    let AliceAndBob { server, bob: _bob, mut bob_events, _dir, app } = alice_and_bob();
    click(&app, "Everyone");

    // Longer than the server takes: refused, and the text is back in the box to be shortened.
    let long = "x".repeat(quicq_common::protocol::DEFAULT_MAX_TEXT_CHARS as usize + 1);
    type_into(&app, "Message", &long);
    click(&app, "Send");
    wait_until(&app, "the refusal", |a| {
        a.window().global::<StatusBarAdapter>().get_notice().starts_with("Message not sent")
    });
    assert_eq!(
        app.window().global::<StatusBarAdapter>().get_notice().as_str(),
        "Message not sent: the message is too long"
    );
    wait_until(&app, "the text kept", |a| composer(a).0 == long);
    assert!(!shown_texts(&app).contains(&long), "no bubble for a message never sent");

    // Shortened, it goes; its bubble shows until the server's copy takes its place.
    type_into(&app, "Message", "short enough");
    click(&app, "Send");
    assert_eq!(composer(&app).0, "");
    assert!(shown_texts(&app).contains(&"short enough".to_owned()), "shown at once");
    let got = server.next_message(&mut bob_events);
    assert_eq!(got.text, "short enough");
    wait_until(&app, "the stored copy", |a| {
        let model = a.window().global::<ConversationAdapter>().get_messages();
        let rows: Vec<_> = (0..model.row_count()).filter_map(|i| model.row_data(i)).collect();
        // The stored copy has the server's time; the bubble sent from here had none.
        rows.len() == 1 && rows[0].text == "short enough" && !rows[0].time.is_empty()
    });
}

#[test]
fn a_file_saved_before_a_restart_can_still_be_opened_and_a_missing_one_is_said() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app: first } = alice_and_bob();
    let file = _dir.path().join("report.txt");
    std::fs::write(&file, "quarterly figures").unwrap();
    let upload = server.runtime.block_on(bob.send_file(Address::everyone(), &file)).unwrap();
    server.runtime.block_on(upload.finished()).unwrap();
    wait_until(&first, "the file saved", |a| find(a, "Open report.txt").is_some());
    drop(first);

    // A new run on the same device: the server does not send the file again, the record says
    // where it is.
    let app = app(_dir.path());
    sign_in(&app, &server, "alice");
    wait_until(&app, "signed in again", |a| a.window().global::<AppAdapter>().get_signed_in());
    wait_until(&app, "the file message", |a| {
        let m = a.window().global::<ConversationAdapter>().get_messages();
        (0..m.row_count()).filter_map(|i| m.row_data(i)).any(|r| r.file_name == "report.txt")
    });
    wait_until(&app, "Open offered again", |a| find(a, "Open report.txt").is_some());
    assert!(find(&app, "Show report.txt in folder").is_some());

    // Moved away since: opening it says so instead of failing in silence.
    let saved = _dir.path().join("downloads").join("report.txt");
    std::fs::remove_file(&saved).unwrap();
    click(&app, "Open report.txt");
    let notice = |a: &App| a.window().global::<StatusBarAdapter>().get_notice().to_string();
    wait_until(&app, "a notice", |a| !notice(a).is_empty());
    assert_eq!(notice(&app), "Cannot open report.txt: there is no such file");
}

/// The width of the element with this label and role, if it is there.
fn width_of(app: &App, label: &str) -> Option<f32> {
    find_role(app, label, AccessibleRole::Button).map(|e| e.size().width)
}

#[test]
fn an_800x480_screen_shows_one_pane_at_a_time_and_the_on_screen_keyboard_types() {
    let AliceAndBob { server: _server, bob: _bob, bob_events: _bob_events, _dir, app } =
        alice_and_bob();
    quicq_ui::adapters::keyboard::connect(app.window(), true);
    app.window().window().set_size(slint::LogicalSize::new(800.0, 480.0));
    settle(&app);
    // The list first, across the whole screen.
    wait_until(&app, "the list, full width", |a| width_of(a, "Everyone") == Some(800.0));
    click(&app, "Everyone");
    wait_until(&app, "the conversation instead", |a| find(a, "Everyone").is_none());
    click(&app, "Back to conversations");
    wait_until(&app, "the list again", |a| width_of(a, "Everyone") == Some(800.0));
    click(&app, "Everyone");
    wait_until(&app, "the conversation again", |a| find(a, "Everyone").is_none());

    // No keyboard until a field has the focus; then its keys type into the field.
    assert!(find(&app, "On-screen keyboard").is_none());
    focus(&app, "Message");
    wait_until(&app, "the keyboard", |a| find(a, "On-screen keyboard").is_some());
    for key in ["Key h", "Key i", "Key space", "Key x", "Backspace", "Shift", "Key !"] {
        click(&app, key);
        settle(&app);
    }
    let draft = || app.window().global::<ComposerAdapter>().get_draft().to_string();
    assert_eq!(draft(), "hi !");
    click(&app, "Enter");
    wait_until(&app, "sent with the keyboard's Enter", |a| on_screen(a, "hi !"));
    click(&app, "Hide keyboard");
    wait_until(&app, "the keyboard hidden", |a| find(a, "On-screen keyboard").is_none());
    // At full width again, both panes.
    app.window().window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    wait_until(&app, "the list beside the conversation", |a| {
        width_of(a, "Everyone").is_some_and(|w| w < 400.0)
    });
}

/// A bubble's actions through its menu: right click on its text, then the item (a sub-menu's
/// item after its title, as `["React", "👍"]`).
fn menu(app: &App, bubble: &str, items: &[&str]) {
    let text = find_role(app, bubble, AccessibleRole::TextInput)
        .unwrap_or_else(|| panic!("no selectable bubble text {bubble:?}"));
    text.mock_single_click(slint::platform::PointerEventButton::Right);
    for item in items {
        wait_until(app, &format!("the menu item {item}"), |a| find(a, item).is_some());
        let found = ElementHandle::find_by_accessible_label(app.window(), item)
            .find(|e| e.accessible_role() != Some(AccessibleRole::Button))
            .unwrap();
        found.mock_single_click(slint::platform::PointerEventButton::Left);
        settle(app);
    }
}

/// Ctrl (held) with `key`.
fn ctrl(app: &App, key: char) {
    use slint::platform::{Key, WindowEvent};
    let window = app.window().window();
    let control: slint::SharedString = Key::Control.into();
    window.dispatch_event(WindowEvent::KeyPressed { text: control.clone() });
    window.dispatch_event(WindowEvent::KeyPressed { text: key.into() });
    window.dispatch_event(WindowEvent::KeyReleased { text: key.into() });
    window.dispatch_event(WindowEvent::KeyReleased { text: control });
}

/// Alice and bob, with a window large enough for clicks that land by position.
fn alice_and_bob_sized() -> AliceAndBob {
    let rig = alice_and_bob();
    rig.app.window().window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    settle(&rig.app);
    rig
}

/// The next message bob's client gets that `matches`.
fn bob_gets(server: &TestServer, events: &mut Events, matches: impl Fn(&ChatMessage) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "bob never got it");
        if matches(&server.next_message(events)) {
            return;
        }
    }
}

/// The stored copy of a message sent from the window has arrived (it has the server's time).
fn stored(app: &App, text: &str) -> bool {
    let model = app.window().global::<ConversationAdapter>().get_messages();
    (0..model.row_count())
        .filter_map(|i| model.row_data(i))
        .any(|r| r.text == text && !r.time.is_empty())
}

#[test]
fn bubble_text_is_selected_and_copied_with_the_keyboard_and_the_menu_key_opens_its_actions() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob_sized();
    server.runtime.block_on(bob.send(Address::everyone(), "copy me please")).unwrap();
    wait_until(&app, "the bubble", |a| on_screen(a, "copy me please"));

    let text = find_role(&app, "copy me please", AccessibleRole::TextInput)
        .expect("the bubble's text is selectable");
    text.mock_single_click(slint::platform::PointerEventButton::Left);
    ctrl(&app, 'a');
    ctrl(&app, 'c');
    assert_eq!(text.accessible_value().unwrap().as_str(), "copy me please", "read-only");
    focus(&app, "Message");
    ctrl(&app, 'v');
    wait_until(&app, "the copy pasted", |a| composer(a).0 == "copy me please");

    // The keyboard way to the bubble's actions: the Menu key on its focused text.
    text.mock_single_click(slint::platform::PointerEventButton::Left);
    press(&app, slint::platform::Key::Menu);
    wait_until(&app, "the menu", |a| find(a, "Reply").is_some() && find(a, "Copy").is_some());
}

#[test]
fn a_reply_from_the_bubble_menu_quotes_its_message() {
    let AliceAndBob { server, bob, mut bob_events, _dir, app } = alice_and_bob_sized();
    let asked = server.runtime.block_on(bob.send(Address::everyone(), "what time is it")).unwrap();
    wait_until(&app, "the question", |a| on_screen(a, "what time is it"));

    // Esc leaves the reply.
    menu(&app, "what time is it", &["Reply"]);
    let replying = "Replying to bob: what time is it";
    wait_until(&app, "the composer replying", |a| find(a, replying).is_some());
    press(&app, slint::platform::Key::Escape);
    wait_until(&app, "the reply cancelled", |a| find(a, replying).is_none());

    menu(&app, "what time is it", &["Reply"]);
    wait_until(&app, "the composer replying", |a| find(a, replying).is_some());
    type_into(&app, "Message", "noon");
    click(&app, "Send");
    bob_gets(&server, &mut bob_events, |m| {
        m.text == "noon" && m.reply_to.as_ref().is_some_and(|q| q.id == asked.id)
    });
    wait_until(&app, "the quote above the reply", |a| {
        stored(a, "noon") && on_screen(a, "bob: what time is it")
    });
    assert!(find(&app, replying).is_none(), "the next message is a new one");
}

#[test]
fn own_messages_are_edited_and_recalled_from_the_bubble_menu() {
    let AliceAndBob { server, bob: _bob, mut bob_events, _dir, app } = alice_and_bob_sized();
    type_into(&app, "Message", "teh plan");
    click(&app, "Send");
    wait_until(&app, "stored", |a| stored(a, "teh plan"));

    menu(&app, "teh plan", &["Edit"]);
    wait_until(&app, "the text to edit", |a| composer(a).0 == "teh plan");
    assert!(find(&app, "Editing your message (Esc cancels)").is_some());
    type_into(&app, "Message", "the plan");
    click(&app, "Send");
    use quicq_common::protocol::Event as Stored;
    bob_gets(
        &server,
        &mut bob_events,
        |m| matches!(m.event.as_deref(), Some(Stored::Edited { text, .. }) if text == "the plan"),
    );
    wait_until(&app, "the edit shown", |a| on_screen(a, "the plan (edited)"));
    assert_eq!(composer(&app).0, "", "the box is empty again");

    menu(&app, "the plan (edited)", &["Recall"]);
    wait_until(&app, "the question", |a| find(a, "Recall message").is_some());
    click(&app, "Recall");
    bob_gets(&server, &mut bob_events, |m| {
        matches!(m.event.as_deref(), Some(Stored::Recalled { .. }))
    });
    wait_until(&app, "the placeholder", |a| on_screen(a, "(message recalled)"));
}

#[test]
fn a_recall_after_the_window_is_refused_in_words_in_chinese() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start_with(|config| config.recall_window_secs = 1);
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path(), Lang::Chinese);
    sign_in_trusting(&app, &server, "alice");
    app.window().window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    type_into(&app, "Message", "oops");
    click(&app, "Send");
    wait_until(&app, "stored", |a| stored(a, "oops"));
    // The window is one second: wait it out.
    std::thread::sleep(Duration::from_millis(1500));
    menu(&app, "oops", &["撤回"]);
    let notice = |a: &App| a.window().global::<StatusBarAdapter>().get_notice().to_string();
    wait_until(&app, "the refusal", |a| !notice(a).is_empty());
    assert_eq!(notice(&app), "无法撤回：消息只能在发送后 1 秒内撤回。");
    assert!(on_screen(&app, "oops"), "still there");
}

#[test]
fn reactions_toggle_and_are_counted_under_the_bubble() {
    let AliceAndBob { server, bob, mut bob_events, _dir, app } = alice_and_bob_sized();
    let lunch = server.runtime.block_on(bob.send(Address::everyone(), "lunch?")).unwrap();
    wait_until(&app, "the question", |a| on_screen(a, "lunch?"));
    use quicq_common::protocol::Event as Stored;
    fn reacted(emoji: Option<&'static str>) -> impl Fn(&ChatMessage) -> bool {
        move |m| {
            let Some(Stored::Reacted { emoji: e, .. }) = m.event.as_deref() else { return false };
            e.as_deref() == emoji
        }
    }

    menu(&app, "lunch?", &["React", "👍"]);
    bob_gets(&server, &mut bob_events, reacted(Some("👍")));
    wait_until(&app, "one 👍", |a| find(a, "👍 1").is_some());
    server.runtime.block_on(bob.react(lunch.id, Some("👍".into()))).unwrap();
    wait_until(&app, "two 👍", |a| find(a, "👍 2").is_some());

    // The same emoji again takes hers back.
    menu(&app, "lunch?", &["React", "👍"]);
    bob_gets(&server, &mut bob_events, reacted(None));
    wait_until(&app, "one 👍 again", |a| find(a, "👍 1").is_some());
}

#[test]
fn own_bubbles_show_sent_then_read_and_reading_at_the_bottom_is_told() {
    let AliceAndBob { server, bob, mut bob_events, _dir, app } = alice_and_bob_sized();
    wait_until(&app, "bob in the tree", |a| find_role(a, "bob", AccessibleRole::Button).is_some());
    click(&app, "bob");
    type_into(&app, "Message", "are you there");
    click(&app, "Send");
    wait_until(&app, "stored", |a| stored(a, "are you there"));
    wait_until(&app, "sent", |a| find(a, "Sent").is_some());
    assert!(find(&app, "Read").is_none());
    let got = server.next_message(&mut bob_events);
    {
        let _runtime = server.runtime.enter();
        bob.mark_read(Address::User("alice".into()), got.id);
    }
    wait_until(&app, "read", |a| find(a, "Read").is_some());

    // Bob answers while alice is at the bottom of their conversation: she has read it.
    let answer = server.runtime.block_on(bob.send(Address::User("alice".into()), "yes")).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "alice's read position never came");
        app.pump();
        settle(&app);
        let read = server.runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), bob_events.recv()).await
        });
        if let Ok(Some(Event::Read { by, up_to, .. })) = read
            && by == "alice"
            && up_to >= answer.id
        {
            break;
        }
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(100));
    }
}

#[test]
fn typing_is_shown_until_it_expires_and_told_while_the_draft_changes() {
    let AliceAndBob { server, bob, mut bob_events, _dir, app } = alice_and_bob_sized();
    wait_until(&app, "bob in the tree", |a| find_role(a, "bob", AccessibleRole::Button).is_some());
    click(&app, "bob");
    {
        let _runtime = server.runtime.enter();
        bob.typing(Address::User("alice".into()));
    }
    wait_until(&app, "bob typing", |a| find(a, "bob is typing…").is_some());
    wait_until(&app, "the line gone", |a| find(a, "bob is typing…").is_none());

    type_into(&app, "Message", "h");
    let told = server.runtime.block_on(async {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(Event::Typing { from, .. }) = bob_events.recv().await {
                    return from;
                }
            }
        })
        .await
    });
    assert_eq!(told.expect("bob told in time"), "alice");
}

#[test]
fn links_stand_out_and_the_time_shows_in_full_under_the_pointer() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob_sized();
    let sent = server
        .runtime
        .block_on(bob.send(Address::everyone(), "the guide: https://example.org/guide."))
        .unwrap();
    wait_until(&app, "the bubble", |a| on_screen(a, "the guide: https://example.org/guide."));
    assert!(find(&app, "https://example.org/guide").is_some(), "the link, on its own line");

    use chrono::TimeZone;
    let at = chrono::Local.timestamp_millis_opt(sent.at).single().unwrap();
    let short = at.format("%H:%M").to_string();
    let full = at.format("%Y-%m-%d %H:%M:%S").to_string();
    // The bubble's time, not the list's (which shows the same minute beside the preview).
    let list = find(&app, "Messages").unwrap();
    let left = list.absolute_position().x;
    let time = ElementHandle::find_by_accessible_label(app.window(), &short)
        .find(|e| e.absolute_position().x > left)
        .expect("the time");
    let (p, size) = (time.absolute_position(), time.size());
    let position = slint::LogicalPosition::new(p.x + size.width / 2.0, p.y + size.height / 2.0);
    app.window().window().dispatch_event(slint::platform::WindowEvent::PointerMoved { position });
    slint::platform::update_timers_and_animations();
    assert!(find(&app, &full).is_some(), "{full} under the pointer");
}

#[test]
fn consecutive_messages_of_one_sender_show_the_name_once() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob_sized();
    server.runtime.block_on(async {
        for text in ["first of two", "second of two"] {
            bob.send(Address::everyone(), text).await.unwrap();
        }
    });
    wait_until(&app, "both", |a| on_screen(a, "first of two") && on_screen(a, "second of two"));
    let list = ElementHandle::find_by_accessible_label(app.window(), "Messages").next().unwrap();
    let left = list.absolute_position().x;
    let names = ElementHandle::find_by_accessible_label(app.window(), "bob")
        .filter(|e| e.accessible_role() == Some(AccessibleRole::Text))
        .filter(|e| e.absolute_position().x > left)
        .count();
    assert_eq!(names, 1, "bob's name above his first bubble only");
}

/// The list's rows as (label, preview, detail), in order.
fn list_rows(app: &App) -> Vec<(String, String, String)> {
    let users = app.window().global::<UserTreeAdapter>().get_users();
    users
        .iter()
        .map(|r| (r.label.to_string(), r.preview.to_string(), r.detail.to_string()))
        .collect()
}

fn title(app: &App) -> String {
    app.window().global::<AppAdapter>().get_title().to_string()
}

#[test]
fn the_list_orders_by_recent_talk_with_previews_group_presence_and_an_unread_total() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let (alice, _) = server.other_client("alice");
    server.runtime.block_on(alice.close());
    let (bob, _bob_events) = server.other_client("bob");
    let (carol, _carol_events) = server.other_client("carol");
    let (dave, _dave_events) = server.other_client("dave");
    let to_alice = || Address::User("alice".into());
    // Before alice signs in: dave writes, then carol.
    server.runtime.block_on(dave.send(to_alice(), "from dave")).unwrap();
    server.runtime.block_on(carol.send(to_alice(), "来自 carol 的消息")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");

    // Most recent first, under the root; with whom one never talked come last.
    let row = |label: &str, preview: &str| (label.to_owned(), preview.to_owned(), String::new());
    wait_until(&app, "the server's conversations", |a| {
        list_rows(a).len() == 4 && unread(a, "carol") == "1"
    });
    assert_eq!(
        list_rows(&app)[1..],
        [row("carol", "carol: 来自 carol 的消息"), row("dave", "dave: from dave"), row("bob", "")]
    );
    assert_eq!(unread(&app, "dave"), "1", "unread from before this session");
    let total = |a: &App| a.window().global::<UserTreeAdapter>().get_total_unread();
    assert_eq!(total(&app), 2);
    assert_eq!(title(&app), "(2) QuicQ");

    // bob sends a file: he comes first, the preview names the file.
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"some notes").unwrap();
    server.runtime.block_on(async {
        bob.send_file(to_alice(), &file).await.unwrap().finished().await.unwrap();
    });
    wait_until(&app, "bob first", |a| list_rows(a)[1] == row("bob", "bob: notes.txt"));
    assert_eq!(list_rows(&app)[2].0, "carol");
    wait_until(&app, "three unread", |a| total(a) == 3 && title(a) == "(3) QuicQ");

    // Reading a conversation takes it off the total.
    click(&app, "carol");
    wait_until(&app, "carol read", |a| total(a) == 2 && title(a) == "(2) QuicQ");

    // A group alice is in: pinned under the root, with its members online.
    server
        .runtime
        .block_on(bob.create_group("Rust", vec!["alice".into(), "carol".into()]))
        .unwrap();
    let rust = |a: &App| list_rows(a).into_iter().find(|r| r.0 == "# Rust");
    wait_until(&app, "the group with 3 online", |a| rust(a).is_some_and(|r| r.2 == "3 online"));
    assert_eq!(list_rows(&app)[1].0, "# Rust", "groups are pinned on top");
    server.runtime.block_on(carol.close());
    wait_until(&app, "carol gone", |a| rust(a).is_some_and(|r| r.2 == "2 online"));
}

fn signed_in(app: &App) -> bool {
    app.window().global::<AppAdapter>().get_signed_in()
}

#[test]
fn sign_out_switch_account_and_reconnect_now_from_the_offline_banner() {
    i_slint_backend_testing::init_no_event_loop();
    let mut server = TestServer::start();
    let (bob, _bob_events) = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    let app = app_remembering(dir.path());
    sign_in_trusting(&app, &server, "alice");
    assert!(find(&app, "Offline banner").is_none(), "no banner while connected");
    let alice_online = |server: &TestServer, online: bool| {
        let users = server.runtime.block_on(bob.users()).unwrap();
        users.iter().any(|u| u.name == "alice" && u.online == online)
    };
    wait_until(&app, "alice online", |_| alice_online(&server, true));

    // Sign out: the sign-in page, and the session is closed.
    click(&app, "Sign out");
    wait_until(&app, "signed out", |a| !signed_in(a));
    wait_until(&app, "alice gone for bob", |_| alice_online(&server, false));

    // Another account on the same window, then back to the one before it.
    type_into(&app, "Nickname", "carol");
    type_into(&app, "Password", PASSWORD);
    click(&app, "Sign in");
    wait_until(&app, "carol signed in", signed_in);
    click(&app, "Switch account");
    wait_until(&app, "signed out", |a| !signed_in(a));
    let form = app.window().global::<SignInAdapter>();
    assert_eq!(
        (form.get_server().to_string(), form.get_nickname().to_string(), form.get_password().len()),
        (server.address(), "alice".to_owned(), 0),
        "filled in with the other remembered account, without a password"
    );
    type_into(&app, "Password", PASSWORD);
    click(&app, "Sign in");
    wait_until(&app, "alice signed in", signed_in);

    // The server goes away: the banner offers to reconnect at once, and does once it is back.
    server.stop();
    wait_until(&app, "the banner", |a| {
        find_role(a, "Reconnect now", AccessibleRole::Button).is_some()
    });
    assert!(find(&app, "Offline banner").is_some());
    click(&app, "Reconnect now");
    wait_longer(&app, "the attempt to fail", WAIT * 3, |a| status(a).starts_with("Offline"));
    assert!(find(&app, "Offline banner").is_some(), "still offline");
    server.start_again();
    click(&app, "Reconnect now");
    wait_until(&app, "connected again", |a| status(a) == "Connected as alice");
    assert!(find(&app, "Offline banner").is_none());
    assert!(signed_in(&app));
}

/// Notifications as the controller sends them, with the window away (the testing backend has
/// no window system to ask, nor a desktop to show them on).
#[derive(Default)]
struct Notifications(std::cell::RefCell<Vec<quicq_ui::notify::Notice>>);

impl quicq_ui::notify::Notifier for Notifications {
    fn focused(&self) -> bool {
        false
    }

    fn notify(&self, notice: quicq_ui::notify::Notice) {
        self.0.borrow_mut().push(notice);
    }
}

#[test]
fn messages_notify_while_away_count_in_the_title_and_muting_silences_them() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let notifications = Rc::new(Notifications::default());
    app.controller().set_notifier(notifications.clone());
    let to_alice = || Address::User("alice".into());
    wait_until(&app, "bob in the list", |a| find_role(a, "bob", AccessibleRole::Button).is_some());

    server.runtime.block_on(bob.send(to_alice(), "你好，在吗？")).unwrap();
    wait_until(&app, "a notification", |_| !notifications.0.borrow().is_empty());
    let notice = notifications.0.borrow_mut().remove(0);
    assert_eq!((notice.title.as_str(), notice.body.as_str()), ("bob", "bob: 你好，在吗？"));
    wait_until(&app, "the title counts", |a| title(a) == "(1) QuicQ");

    // Muted: the badge still counts (in grey), the title and notifications leave it out.
    click(&app, "bob");
    wait_until(&app, "read", |a| title(a) == "QuicQ");
    click(&app, "Mute");
    wait_until(&app, "muted", |a| {
        find_role(a, "Mute", AccessibleRole::Button).and_then(|e| e.accessible_checked())
            == Some(true)
    });
    click(&app, "Everyone");
    server.runtime.block_on(bob.send(to_alice(), "still there?")).unwrap();
    wait_until(&app, "the badge", |a| unread(a, "bob") == "1");
    let users = app.window().global::<UserTreeAdapter>().get_users();
    assert!(users.iter().any(|r| r.key == "bob" && r.muted), "shown muted");
    assert_eq!(title(&app), "QuicQ");
    assert!(notifications.0.borrow().is_empty(), "no notification for a muted conversation");
}

/// The members panel's rows as (name, role, online).
fn members(app: &App) -> Vec<(String, String, bool)> {
    let members = app.window().global::<GroupAdapter>().get_members();
    members.iter().map(|m| (m.name.to_string(), m.role.to_string(), m.online)).collect()
}

fn group_error(app: &App) -> String {
    app.window().global::<GroupAdapter>().get_error().to_string()
}

#[test]
fn groups_are_created_and_managed_from_the_list_with_refusals_in_words() {
    let AliceAndBob { server, bob: _bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let (_carol, _carol_events) = server.other_client("carol");
    wait_until(&app, "carol in the list", |a| {
        find_role(a, "carol", AccessibleRole::Button).is_some()
    });
    let dialog = |a: &App| a.window().global::<GroupAdapter>().get_mode().to_string();
    let labels = |a: &App| tree(a);

    // The server's name rules, in words.
    click(&app, "New group");
    wait_until(&app, "the form", |a| dialog(a) == "create");
    type_into(&app, "Group name", "a b");
    type_into(&app, "Group members", "bob");
    click(&app, "Create");
    wait_until(&app, "a refusal", |a| !group_error(a).is_empty());
    assert!(group_error(&app).starts_with("That cannot be a group name."), "{}", group_error(&app));
    type_into(&app, "Group name", "Rust");
    click(&app, "Create");
    wait_until(&app, "created and open", |a| {
        dialog(a).is_empty()
            && a.window()
                .global::<UserTreeAdapter>()
                .get_users()
                .iter()
                .any(|r| r.label == "# Rust" && r.selected)
    });

    // The members panel: roles and presence; add, refuse, remove, topic, rename, leave.
    click(&app, "Members");
    let member = |name: &str, role: &str| (name.to_owned(), role.to_owned(), true);
    wait_until(&app, "the members", |a| {
        dialog(a) == "members" && members(a) == [member("alice", "owner"), member("bob", "member")]
    });
    type_into(&app, "Add member", "carol");
    click(&app, "Add");
    wait_until(&app, "carol added", |a| members(a).contains(&member("carol", "member")));
    type_into(&app, "Add member", "nobody");
    click(&app, "Add");
    wait_until(&app, "a refusal", |a| group_error(a) == "There is no user by that nickname.");
    click(&app, "Remove bob");
    wait_until(&app, "bob removed", |a| {
        members(a).len() == 2 && members(a).iter().all(|m| m.0 != "bob")
    });
    type_into(&app, "Topic", "Rust 和中文");
    click(&app, "Set topic");
    wait_until(&app, "the topic", |a| {
        a.window().global::<GroupAdapter>().get_topic() == "Rust 和中文"
    });
    type_into(&app, "New name", "Rustaceans");
    click(&app, "Rename");
    wait_until(&app, "renamed", |a| {
        labels(a).contains(&"# Rustaceans".to_owned())
            && a.window().global::<GroupAdapter>().get_group() == "Rustaceans"
    });
    click(&app, "Leave group");
    wait_until(&app, "left", |a| {
        dialog(a).is_empty() && !labels(a).iter().any(|l| l.starts_with('#'))
    });
    let users = app.window().global::<UserTreeAdapter>().get_users();
    assert!(users.row_data(0).unwrap().selected, "back to Everyone");
}

/// The search results' (conversation, sender, text), in order.
fn results(app: &App) -> Vec<(String, String, String)> {
    let rows = app.window().global::<quicq_ui::SearchAdapter>().get_results();
    rows.iter()
        .map(|r| (r.conversation.to_string(), r.sender.to_string(), r.text.to_string()))
        .collect()
}

#[test]
fn search_finds_chinese_and_english_across_conversations_and_opens_one() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let (carol, _carol_events) = server.other_client("carol");
    let to_alice = || Address::User("alice".into());
    server.runtime.block_on(bob.send(to_alice(), "我们明天去北京吃烤鸭，你来吗？")).unwrap();
    server.runtime.block_on(carol.send(Address::everyone(), "Beijing is 北京 in Chinese")).unwrap();
    server.runtime.block_on(bob.send(Address::everyone(), "nothing to see here")).unwrap();
    wait_until(&app, "bob in the list", |a| find_role(a, "bob", AccessibleRole::Button).is_some());

    type_into(&app, "Search", "北京");
    focus(&app, "Search");
    press(&app, slint::platform::Key::Return);
    let row = |c: &str, s: &str, t: &str| (c.to_owned(), s.to_owned(), t.to_owned());
    wait_until(&app, "two results", |a| results(a).len() == 2);
    assert_eq!(
        results(&app),
        [
            row("Everyone", "carol", "Beijing is 北京 in Chinese"),
            row("bob", "bob", "我们明天去北京吃烤鸭，你来吗？"),
        ],
        "newest first, in every conversation"
    );
    assert!(
        find_role(&app, "bob", AccessibleRole::Button).is_none(),
        "results instead of the list"
    );

    // English, case ignored; nothing found is said.
    type_into(&app, "Search", "BEIJING");
    press(&app, slint::platform::Key::Return);
    wait_until(&app, "one result", |a| {
        results(a).len() == 1 && results(a)[0].2.contains("Beijing")
    });
    type_into(&app, "Search", "上海");
    press(&app, slint::platform::Key::Return);
    // ("Searching…" shows first, with no results either.)
    let status = |a: &App| a.window().global::<quicq_ui::SearchAdapter>().get_status().to_string();
    wait_until(&app, "nothing found", |a| status(a) == "No messages found.");
    assert!(results(&app).is_empty() && find(&app, "Search status").is_some());

    // A result opens its conversation, and the list comes back.
    type_into(&app, "Search", "烤鸭");
    press(&app, slint::platform::Key::Return);
    wait_until(&app, "bob's message", |a| {
        results(a).len() == 1 && results(a)[0].2.contains("烤鸭")
    });
    click(&app, "Result 1");
    wait_until(&app, "bob's conversation", |a| {
        a.window().global::<ConversationAdapter>().get_title() == "Chat with bob"
            && shown_texts(a).iter().any(|t| t.contains("烤鸭"))
    });
    assert!(find_role(&app, "bob", AccessibleRole::Button).is_some(), "the list is back");
}

#[test]
fn a_received_picture_shows_a_preview_and_a_file_that_only_looks_like_one_does_not() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let photo = _dir.path().join("photo.png");
    image::RgbImage::from_pixel(800, 400, image::Rgb([20, 120, 200])).save(&photo).unwrap();
    let fake = _dir.path().join("fake.png");
    std::fs::write(&fake, "not a picture").unwrap();
    for path in [&photo, &fake] {
        let upload = server.runtime.block_on(bob.send_file(Address::everyone(), path)).unwrap();
        server.runtime.block_on(upload.finished()).unwrap();
    }
    wait_until(&app, "both saved", |a| {
        find(a, "Open photo.png").is_some() && find(a, "Open fake.png").is_some()
    });
    wait_until(&app, "the preview", |a| find(a, "Preview of photo.png").is_some());
    let preview = find(&app, "Preview of photo.png").unwrap();
    assert_eq!((preview.size().width, preview.size().height), (240.0, 120.0), "scaled to fit");
    // The other file's preview failed (it is no picture): nothing is shown for it, and it stays
    // an ordinary file bubble.
    settle(&app);
    assert!(find(&app, "Preview of fake.png").is_none());
}

#[test]
fn a_large_file_waits_for_download_or_decline() {
    let AliceAndBob { server, bob, bob_events: _bob_events, _dir, app } = alice_and_bob();
    let downloads = _dir.path().join("downloads");
    for name in ["dataset.bin", "backup.bin"] {
        let path = _dir.path().join(name);
        std::fs::write(&path, vec![7u8; 200 << 10]).unwrap();
        let upload = server.runtime.block_on(bob.send_file(Address::everyone(), &path)).unwrap();
        server.runtime.block_on(upload.finished()).unwrap();
    }
    // Above the limit (64 KiB here): offered, not fetched.
    wait_until(&app, "both offered", |a| {
        find(a, "Download dataset.bin").is_some() && find(a, "Download backup.bin").is_some()
    });
    assert!(!downloads.join("dataset.bin").exists(), "not downloaded by itself");

    click(&app, "Download dataset.bin");
    wait_until(&app, "saved", |a| find(a, "Open dataset.bin").is_some());
    assert_eq!(std::fs::read(downloads.join("dataset.bin")).unwrap().len(), 200 << 10);
    click(&app, "Decline backup.bin");
    wait_until(&app, "declined", |a| find(a, "Download backup.bin").is_none());
    assert!(shown_states(&app).contains(&"declined".to_owned()));
    assert!(!downloads.join("backup.bin").exists());

    // The next run finds it still pending on the server: offered again, not fetched.
    drop(app);
    let app = app_in(_dir.path(), Lang::English);
    sign_in(&app, &server, "alice");
    wait_until(&app, "offered again", |a| find(a, "Download backup.bin").is_some());
    assert!(find(&app, "Download dataset.bin").is_none(), "the saved one is not");
    settle(&app);
    assert!(!downloads.join("backup.bin").exists(), "not downloaded by itself");
}

/// The file lines of the open conversation's bubbles.
fn shown_states(app: &App) -> Vec<String> {
    let model = app.window().global::<ConversationAdapter>().get_messages();
    (0..model.row_count())
        .filter_map(|i| model.row_data(i))
        .map(|r| r.file_state.to_string())
        .collect()
}

#[test]
fn the_owner_promotes_and_demotes_members_and_deletes_the_group_after_asking() {
    let AliceAndBob { server: _server, bob: _bob, mut bob_events, _dir, app } = alice_and_bob();
    let dialog = |a: &App| a.window().global::<GroupAdapter>().get_mode().to_string();
    click(&app, "New group");
    wait_until(&app, "the form", |a| dialog(a) == "create");
    type_into(&app, "Group name", "Crew");
    type_into(&app, "Group members", "bob");
    click(&app, "Create");
    wait_until(&app, "created", |a| dialog(a).is_empty() && tree(a).contains(&"# Crew".into()));
    click(&app, "Members");
    let member = |name: &str, role: &str| (name.to_owned(), role.to_owned(), true);
    wait_until(&app, "the members", |a| members(a).contains(&member("bob", "member")));
    assert!(find(&app, "Make alice admin").is_none(), "nothing for oneself");
    click(&app, "Make bob admin");
    wait_until(&app, "bob is an admin", |a| members(a).contains(&member("bob", "admin")));
    click(&app, "Make bob member");
    wait_until(&app, "bob is a member again", |a| members(a).contains(&member("bob", "member")));

    // Deleting asks first; keeping it changes nothing.
    click(&app, "Delete group");
    settle(&app);
    click(&app, "Keep the group");
    settle(&app);
    assert!(find(&app, "Delete for everyone").is_none() && tree(&app).contains(&"# Crew".into()));
    click(&app, "Delete group");
    settle(&app);
    click(&app, "Delete for everyone");
    wait_until(&app, "deleted", |a| dialog(a).is_empty() && !tree(a).contains(&"# Crew".into()));
    // bob is told, as a stored event of the group.
    let deleted = _server.runtime.block_on(async {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(Event::Message(m)) = bob_events.recv().await
                    && matches!(m.event.as_deref(), Some(quicq_common::protocol::Event::Deleted {}))
                {
                    return m;
                }
            }
        })
        .await
    });
    assert!(deleted.is_ok(), "bob heard of the deletion");
}

/// The app as `quicq-ui` starts it: the settings page's choices in `dir`'s `ui.json` over the
/// system's defaults (the download folder in `dir`, English), the environment saying nothing.
fn app_configured(dir: &std::path::Path) -> Rc<App> {
    let window = MainWindow::new().unwrap();
    let mut options = options(dir);
    let settings = dir.join("ui.json");
    let env = quicq_ui::settings::Overrides::default();
    let (lang, system) = quicq_ui::configure(&mut options, &env, Some(&settings), Lang::English);
    quicq_ui::select_language(lang);
    let (network, updates) = Backend::start(options, || {});
    let app = App::new(window, Rc::new(network), updates, Texts::new(lang), Some(settings));
    app.controller().use_environment(env, system);
    app
}

fn settings_page(app: &App) -> SettingsAdapter<'_> {
    app.window().global::<SettingsAdapter>()
}

fn checked(app: &App, label: &str) -> Option<bool> {
    find_role(app, label, AccessibleRole::Checkbox).and_then(|e| e.accessible_checked())
}

fn toggle(app: &App, label: &str) {
    find_role(app, label, AccessibleRole::Checkbox)
        .unwrap_or_else(|| panic!("no checkbox {label:?}"))
        .invoke_accessible_default_action();
}

/// How far alice has read her conversation with bob, as the server tells bob.
fn alice_read_as_bob_sees_it(server: &TestServer, bob: &Client) -> Option<u64> {
    let read = server.runtime.block_on(bob.receipts(Address::User("alice".into()))).unwrap();
    read.iter().find(|r| r.user == "alice").map(|r| r.up_to)
}

#[test]
fn the_settings_page_applies_each_choice_and_keeps_it_after_a_restart() {
    i_slint_backend_testing::init_no_event_loop();
    let server = TestServer::start();
    let (bob, _bob_events) = server.other_client("bob");
    let dir = tempfile::tempdir().unwrap();
    let app = app_configured(dir.path());
    let notifications = Rc::new(Notifications::default());
    app.controller().set_notifier(notifications.clone());
    sign_in_trusting(&app, &server, "alice");
    let to_alice = || Address::User("alice".into());

    // Read receipts are on: bob sees how far alice has read.
    let hello = server.runtime.block_on(bob.send(to_alice(), "hello")).unwrap();
    wait_until(&app, "bob in the list", |a| find_role(a, "bob", AccessibleRole::Button).is_some());
    click(&app, "bob");
    wait_until(&app, "hello shown", |a| shown_texts(a).contains(&"hello".to_owned()));
    wait_until(&app, "bob sees alice's position", |_| {
        alice_read_as_bob_sees_it(&server, &bob) >= Some(hello.id)
    });

    click(&app, "Settings");
    wait_until(&app, "the page", |a| find(a, "Settings page").is_some());
    let downloads = dir.path().join("downloads");
    assert_eq!(settings_page(&app).get_download_dir(), downloads.display().to_string());
    assert_eq!(settings_page(&app).get_threshold_field(), "100");
    wait_until(&app, "the server's receipts setting", |a| {
        checked(a, "Read receipts") == Some(true)
    });

    // Receipts off: the server stops telling bob about alice.
    toggle(&app, "Read receipts");
    wait_until(&app, "bob no longer sees alice's position", |_| {
        alice_read_as_bob_sees_it(&server, &bob).is_none()
    });
    assert_eq!(checked(&app, "Read receipts"), Some(false));

    // A size that is not a number, a folder that is not there: said, and nothing changes.
    type_into(&app, "Ask above MiB", "ten");
    click(&app, "Apply size limit");
    wait_until(&app, "the size refused", |a| find(a, "Size limit problem").is_some());
    assert_eq!(
        settings_page(&app).get_threshold_error(),
        "Type a whole number of MiB (0 asks about every file)."
    );
    type_into(&app, "Ask above MiB", "0");
    click(&app, "Apply size limit");
    wait_until(&app, "the size taken", |a| find(a, "Size limit problem").is_none());
    type_into(&app, "Download folder", &dir.path().join("nowhere").to_string_lossy());
    click(&app, "Apply download folder");
    wait_until(&app, "the folder refused", |a| find(a, "Download folder problem").is_some());
    assert_eq!(settings_page(&app).get_folder_error(), "That folder does not exist.");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    type_into(&app, "Download folder", &elsewhere.to_string_lossy());
    click(&app, "Apply download folder");
    wait_until(&app, "the folder taken", |a| {
        settings_page(a).get_download_dir() == elsewhere.display().to_string()
    });
    assert!(find(&app, "Download folder problem").is_none());

    // Notifications off (the sound on, for the next run): nothing is notified.
    assert_eq!(checked(&app, "Notification sound"), Some(false));
    toggle(&app, "Notification sound");
    toggle(&app, "Desktop notifications");
    click(&app, "Everyone");
    notifications.0.borrow_mut().clear();
    server.runtime.block_on(bob.send(to_alice(), "anyone?")).unwrap();
    wait_until(&app, "the badge", |a| unread(a, "bob") == "1");
    assert!(notifications.0.borrow().is_empty(), "notifications are off");

    // Chinese at once: the page's own words and the texts made in Rust.
    click(&app, "Language: Chinese");
    wait_until(&app, "the page in Chinese", |a| find(a, "下载文件夹").is_some());
    wait_until(&app, "the status in Chinese", |a| {
        status(a) == Texts::new(Lang::Chinese).connected("alice")
    });
    click(&app, "Close settings");
    wait_until(&app, "the page closed", |a| find(a, "Settings page").is_none());
    click(&app, "Settings");
    wait_until(&app, "the page again", |a| find(a, "Settings page").is_some());
    press(&app, slint::platform::Key::Escape);
    wait_until(&app, "Esc closes it", |a| find(a, "Settings page").is_none());

    // The next run keeps every choice, and the ones for files apply now.
    drop(app);
    let app = app_configured(dir.path());
    wait_until(&app, "the sign-in page in Chinese", |a| {
        find(a, "在你自己的服务器上加密聊天和共享文件").is_some()
    });
    sign_in(&app, &server, "alice");
    wait_until(&app, "signed in", signed_in);
    click(&app, "Settings");
    wait_until(&app, "the page", |a| find(a, "Settings page").is_some());
    let page = settings_page(&app);
    assert_eq!(page.get_download_dir(), elsewhere.display().to_string());
    assert_eq!(page.get_threshold_field(), "0");
    assert_eq!(page.get_language(), "zh");
    assert_eq!(checked(&app, "Desktop notifications"), Some(false));
    assert_eq!(checked(&app, "Notification sound"), Some(true));
    wait_until(&app, "receipts still off", |a| checked(a, "Read receipts") == Some(false));
    click(&app, "Close settings");

    // Every file is asked about now, and one downloaded lands in the new folder.
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "tiny").unwrap();
    let upload = server.runtime.block_on(bob.send_file(Address::everyone(), &small)).unwrap();
    server.runtime.block_on(upload.finished()).unwrap();
    wait_until(&app, "offered", |a| find(a, "Download small.txt").is_some());
    assert!(!elsewhere.join("small.txt").exists() && !downloads.join("small.txt").exists());
    click(&app, "Download small.txt");
    wait_until(&app, "saved", |a| find(a, "Open small.txt").is_some());
    assert_eq!(std::fs::read_to_string(elsewhere.join("small.txt")).unwrap(), "tiny");
    assert!(!downloads.join("small.txt").exists());
}

/// The day separators of the open conversation's rows, in order ("" for a row without one).
fn day_separators(app: &App) -> Vec<(String, String)> {
    let model = app.window().global::<ConversationAdapter>().get_messages();
    (0..model.row_count())
        .filter_map(|i| model.row_data(i))
        .map(|r| (r.day.to_string(), r.text.to_string()))
        .collect()
}

#[test]
fn messages_of_different_days_are_separated_by_the_day() {
    i_slint_backend_testing::init_no_event_loop();
    let mut server = TestServer::start();
    let (bob, _bob_events) = server.other_client("bob");
    // Two messages bob wrote three days ago, put in the store as the server would have.
    server.stop();
    let then = quicq_server::store::now_ms() - 3 * 86_400_000;
    {
        let data = server._dir.path().join("data").join("quicq.sqlite3");
        let mut store = quicq_server::store::Sqlite::open(&data).unwrap();
        use quicq_server::store::Store as _;
        let bob_id = store.account_by_key("bob").unwrap().unwrap().id;
        for (i, text) in ["from three days ago", "and a minute later"].into_iter().enumerate() {
            let at = then + i as i64 * 60_000;
            let everyone = quicq_server::store::Target::Everyone;
            store
                .insert_message(bob_id, &everyone, text, &format!("old-{i}"), at)
                .unwrap()
                .unwrap();
        }
    }
    server.start_again();
    server.runtime.block_on(bob.send(Address::everyone(), "and today")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    sign_in_trusting(&app, &server, "alice");
    wait_until(&app, "the three messages", |a| shown_texts(a).len() == 3);
    let days = day_separators(&app);
    let local = |at: i64| chrono::Local.timestamp_millis_opt(at).unwrap().date_naive();
    let that_day = Texts::english().day(local(then), chrono::Local::now().date_naive());
    assert_eq!(
        days,
        [
            (that_day.clone(), "from three days ago".to_owned()),
            (String::new(), "and a minute later".to_owned()),
            ("Today".to_owned(), "and today".to_owned()),
        ]
    );
    // Drawn above their bubbles.
    settle(&app);
    let shown: Vec<String> = ElementHandle::find_by_accessible_label(app.window(), "Day separator")
        .filter_map(|e| e.accessible_value().map(|v| v.to_string()))
        .collect();
    assert_eq!(shown, [that_day, "Today".to_owned()]);

    // A new message today adds no separator.
    server.runtime.block_on(bob.send(Address::everyone(), "still today")).unwrap();
    wait_until(&app, "the fourth", |a| shown_texts(a).len() == 4);
    assert_eq!(day_separators(&app)[3], (String::new(), "still today".to_owned()));
}
