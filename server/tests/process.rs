//! The real `quicq-server` binary as a process: start-up output, SIGTERM handling, restart.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use quicq_client::{Client, ClientConfig, ConnState, Event, Trust};
use quicq_common::{Address, JoinLink};

const PASSWORD: &str = "correct horse battery";

/// A server process, killed if a test ends without stopping it (a failed assertion must not
/// leave it holding the test's output open).
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the binary in `dir` and reads its join link from the log.
fn start(dir: &Path) -> (Server, JoinLink) {
    start_with(dir, "127.0.0.1:0", &[], "join link")
}

/// Starts the binary in `dir` on `listen` with `extra` flags and reads the first link on a log
/// line containing `marker`.
fn start_with(dir: &Path, listen: &str, extra: &[&str], marker: &str) -> (Server, JoinLink) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quicq-server"))
        .args(["--listen", listen, "--hostname", "127.0.0.1"])
        .args(extra)
        .current_dir(dir)
        .env("RUST_LOG", "quicq_server=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let link = loop {
        let line = lines.next().expect("server printed its join link").unwrap();
        if let Some(at) = line.find("quicq://")
            && line.contains(marker)
        {
            break line[at..].trim().parse::<JoinLink>().unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), link)
}

fn terminate(child: &Server) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

fn wait_exit(mut child: Server) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("server did not exit after SIGTERM");
}

fn config(link: &JoinLink, nick: &str) -> ClientConfig {
    let mut config = ClientConfig::new(link.clone(), nick, PASSWORD);
    config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_clients_and_keeps_messages_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (child, link) = start(dir.path());
    assert!(link.fingerprint.is_some(), "join link carries the fingerprint");
    let key_mode = std::fs::metadata(dir.path().join("certs/key.pem")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);
    }
    #[cfg(not(unix))]
    let _ = key_mode;

    let (alice, mut events) = Client::connect(config(&link, "alice")).await.unwrap();
    let sent = alice.send(Address::everyone(), "before shutdown").await.unwrap();

    terminate(&child);
    let reason = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(Event::State(ConnState::Reconnecting { reason, .. })) = events.recv().await
            {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(reason.contains("shutting down"), "clients are told why: {reason}");
    let status = tokio::task::spawn_blocking(move || wait_exit(child)).await.unwrap();
    assert!(status.success(), "clean exit: {status}");
    alice.close().await;

    // Same directory: same certificate, same messages.
    let (child, link2) = start(dir.path());
    assert_eq!(link2.fingerprint, link.fingerprint);
    let (bob, _) = Client::connect(config(&link2, "alice")).await.unwrap();
    let page = bob.history(Address::everyone(), None, 10).await.unwrap();
    assert_eq!(page.messages[0].id, sent.id);
    assert_eq!(page.messages[0].text, "before shutdown");
    bob.close().await;
    terminate(&child);
    assert!(tokio::task::spawn_blocking(move || wait_exit(child)).await.unwrap().success());
}

/// Runs `quicq-server admin …` in `dir` and returns what it printed.
fn admin(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quicq-server"))
        .args(["--hostname", "127.0.0.1", "admin"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_server_prints_a_first_invite_and_admin_makes_more_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (child, first) =
        start_with(dir.path(), "127.0.0.1:0", &["--registration", "invite"], "register the first");
    let code = first.invite.clone().expect("the first start prints an invite link");
    let (owner, _) = Client::connect(config(&first, "owner")).await.unwrap();
    assert!(owner.welcome().registered);

    // While the server runs: a two-use invite, listed, then revoked after one use.
    let made = admin(dir.path(), &["invite", "create", "--uses", "2", "--expires", "7d"]);
    let link_line = made.lines().find(|l| l.starts_with("join link: ")).unwrap();
    let mut link: JoinLink = link_line["join link: ".len()..].parse().unwrap();
    assert_eq!(link.fingerprint, first.fingerprint, "the link pins the server's certificate");
    link.port = first.port; // the config has port 0; the test server's is random
    let second = link.invite.clone().unwrap();
    assert!(admin(dir.path(), &["invite", "list"]).contains(&format!("{second}  2 use(s) left")));
    let (friend, mut friend_events) = Client::connect(config(&link, "friend")).await.unwrap();
    assert!(friend.welcome().registered);
    admin(dir.path(), &["invite", "revoke", &second]);
    let refused = Client::connect(config(&link, "third")).await.unwrap_err();
    assert!(refused.to_string().contains("invite"), "{refused}");
    let users = admin(dir.path(), &["users"]);
    assert_eq!(users.lines().collect::<Vec<_>>(), ["friend", "owner"]);
    assert!(admin(dir.path(), &["invite", "list"]).contains(&format!("{code}  used up")));

    // Disabling ends the account's live session, and it cannot sign in again.
    admin(dir.path(), &["disable", "friend"]);
    let offline = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(Event::State(ConnState::Offline { reason })) = friend_events.recv().await {
                return reason;
            }
        }
    })
    .await
    .expect("the disabled account's client is told");
    assert!(offline.contains("disabled"), "{offline}");
    admin(dir.path(), &["enable", "friend"]);
    let (friend, _) = Client::connect(config(&first, "friend")).await.unwrap();

    // A reset password replaces the old one.
    let reset = admin(dir.path(), &["reset-password", "owner"]);
    let new_password = reset.trim().rsplit(' ').next().unwrap().to_owned();
    owner.close().await;
    let mut cfg = config(&first, "owner");
    cfg.credentials.password = new_password;
    let (owner, _) = Client::connect(cfg).await.unwrap();
    assert!(Client::connect(config(&first, "owner")).await.is_err(), "the old password is gone");

    owner.close().await;
    friend.close().await;
    terminate(&child);
    assert!(tokio::task::spawn_blocking(move || wait_exit(child)).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_clients_notice_the_restarted_server_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, link) = start(dir.path());
    let (alice, _events) = Client::connect(config(&link, "alice")).await.unwrap();
    alice.send(Address::everyone(), "before the crash").await.unwrap();

    // kill -9: no goodbye reaches the client, which still thinks it is connected.
    child.kill().unwrap();
    child.wait().unwrap();
    let port = link.port.to_string();
    let listen = format!("127.0.0.1:{port}");
    let (child, _) = start_with(dir.path(), &listen, &[], "join link");

    // The restarted server (same key, same reset key) resets the old connection as soon as the
    // client's next packet arrives; without that the client would wait for its 30 s idle
    // timeout before reconnecting.
    let sent = tokio::time::timeout(
        Duration::from_secs(20),
        alice.send(Address::everyone(), "after the crash"),
    )
    .await
    .expect("the client reconnected well before its idle timeout");
    sent.unwrap();
    alice.close().await;
    terminate(&child);
    assert!(tokio::task::spawn_blocking(move || wait_exit(child)).await.unwrap().success());
}
