//! The real window (Slint's testing backend, no display) against a real server on loopback:
//! sign in through the trust prompt, chat with another client, unread badges, the group root,
//! and a changed certificate being refused.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::rc::Rc;
use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use quicq_client::{Client, ClientConfig, Event, Events, KnownServers, Trust};
use quicq_common::Fingerprint;
use quicq_common::protocol::{Address, ChatMessage};
use quicq_server::{Config, Server};
use quicq_ui::app::App;
use quicq_ui::backend::{Backend, Options};
use quicq_ui::i18n::{Lang, Texts};
use quicq_ui::{
    AppAdapter, ConversationAdapter, MainWindow, SignInAdapter, StatusBarAdapter, TrustAdapter,
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
    _dir: tempfile::TempDir,
}

impl TestServer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let (port, fingerprint) = runtime.block_on(async {
            let server = Server::bind(Config::ephemeral(dir.path())).unwrap();
            let found = (server.local_addr().port(), server.fingerprint());
            tokio::spawn(server.run(shutdown.clone()));
            found
        });
        TestServer { runtime, port, fingerprint, shutdown, _dir: dir }
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

/// The app wired to a real network thread; the known-servers file lives in `dir`.
fn app(dir: &std::path::Path) -> Rc<App> {
    let window = MainWindow::new().unwrap();
    let options = Options {
        known_servers: Some(dir.join("known_servers")),
        downloads: dir.join("downloads"),
        device: Some("ui-test".into()),
        use_system_roots: false,
    };
    // No event loop in the testing backend: the test pumps updates itself.
    let (network, updates) = Backend::start(options, || {});
    App::new(window, Rc::new(network), updates, Texts::new(Lang::English), None)
}

fn find(app: &App, label: &str) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(app.window(), label).next()
}

/// The element with this label and role (a text and a field can share a label).
fn find_role(app: &App, label: &str, role: AccessibleRole) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(app.window(), label)
        .find(|e| e.accessible_role() == Some(role))
}

/// Pumps updates until `cond` holds.
fn wait_until(app: &App, what: &str, cond: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        app.pump();
        if cond(app) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
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
