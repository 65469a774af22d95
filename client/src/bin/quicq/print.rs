//! How the CLI shows things: text for people, JSON lines for scripts.

use std::collections::HashMap;
use std::path::Path;

use chrono::{Local, TimeZone};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use quicq_client::{Client, ConnState, Event, Events, TransferEvent, TransferKey};
use quicq_common::Address;
use quicq_common::protocol::{ChatMessage, UserInfo};
use quicq_common::text::for_terminal;
use serde_json::json;

/// Prints a line for people: whatever a peer chose (text, names, reasons) cannot reach the
/// terminal as control sequences or forged lines.
pub fn say(line: &str) {
    println!("{}", for_terminal(line));
}

pub fn time(at_ms: i64) -> String {
    match Local.timestamp_millis_opt(at_ms).single() {
        Some(t) => t.format("%H:%M").to_string(),
        None => "--:--".into(),
    }
}

pub fn message_line(m: &ChatMessage) -> String {
    match &m.file {
        Some(f) => format!(
            "{} {} → {}: [file] {} ({})",
            time(m.at),
            m.from,
            m.to,
            f.name,
            HumanBytes(f.size)
        ),
        None => format!("{} {} → {}: {}", time(m.at), m.from, m.to, m.text),
    }
}

/// Text for a transfer outcome, or `None` for progress (shown as a bar).
pub fn transfer_line(event: &TransferEvent) -> Option<String> {
    Some(match event {
        TransferEvent::Progress { .. } | TransferEvent::UploadAccepted { .. } => return None,
        TransferEvent::UploadComplete { offline, .. } if offline.is_empty() => {
            "* file sent".to_owned()
        }
        TransferEvent::UploadComplete { offline, .. } => {
            format!("* file sent; kept for {} (offline)", offline.join(", "))
        }
        TransferEvent::UploadFailed { reason, .. } => format!("! file not sent: {reason}"),
        TransferEvent::Delivered { to, .. } => format!("* {to} saved your file"),
        TransferEvent::DownloadStarted { name, from, size, .. } => {
            format!("* receiving {name} ({}) from {from}", HumanBytes(*size))
        }
        TransferEvent::Saved { path, .. } => format!("* saved {}", path.display()),
        TransferEvent::DownloadFailed { reason, .. } => format!("! download failed: {reason}"),
    })
}

/// Progress bars for running transfers, printed on stderr when it is a terminal.
pub struct Bars {
    multi: MultiProgress,
    bars: HashMap<TransferKey, ProgressBar>,
}

impl Bars {
    pub fn new() -> Self {
        Bars { multi: MultiProgress::new(), bars: HashMap::new() }
    }

    /// Prints a line for people above the bars, with control and bidi characters escaped.
    pub fn println(&self, line: &str) {
        self.println_raw(&for_terminal(line));
    }

    /// Prints a line as it is (JSON, which escapes control characters itself).
    pub fn println_raw(&self, line: &str) {
        if self.multi.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    pub fn update(&mut self, event: &TransferEvent) {
        match event {
            // No bars when stderr is not a terminal: they would only litter logs.
            TransferEvent::Progress { .. } if self.multi.is_hidden() => {}
            TransferEvent::Progress { key, name, done, total, .. } => {
                let bar = self.bars.entry(key.clone()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(*total));
                    bar.set_style(style());
                    bar.set_message(name.clone());
                    bar
                });
                bar.set_position(*done);
            }
            TransferEvent::UploadComplete { transfer_id, .. }
            | TransferEvent::UploadFailed { transfer_id, .. } => {
                self.finish(&TransferKey::Upload(transfer_id.clone()))
            }
            TransferEvent::Saved { file_id, .. }
            | TransferEvent::DownloadFailed { file_id, .. } => {
                self.finish(&TransferKey::Download(*file_id))
            }
            _ => {}
        }
    }

    fn finish(&mut self, key: &TransferKey) {
        if let Some(bar) = self.bars.remove(key) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// `quicq send-file`: one progress bar, then the server's verdict.
pub async fn send_file(
    client: &Client,
    to: Address,
    path: &Path,
    mut events: Events,
) -> anyhow::Result<()> {
    let upload = client.send_file(to.clone(), path).await?;
    let bar = ProgressBar::new(upload.size);
    bar.set_style(style());
    bar.set_message(upload.name.clone());
    let name = upload.name.clone();
    let size = upload.size;
    let cancel = upload.canceller();
    let mut done = Box::pin(upload.finished());
    loop {
        tokio::select! {
            result = &mut done => {
                bar.finish_and_clear();
                let sent = result?;
                say(&format!("sent {name} ({}) to {to} as file {}", HumanBytes(size), sent.file_id));
                if !sent.offline.is_empty() {
                    say(&format!("kept on the server for {} (offline)", sent.offline.join(", ")));
                }
                return Ok(());
            }
            event = events.recv() => match event {
                Some(Event::Transfer(TransferEvent::Progress { done, .. })) => bar.set_position(done),
                Some(Event::State(state @ ConnState::Reconnecting { .. })) => bar.println(state_line(&state)),
                Some(_) => {}
                None => anyhow::bail!("connection closed"),
            },
            _ = tokio::signal::ctrl_c() => {
                // Cancel for real so the server discards the partial file and tells the others.
                cancel.cancel();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut done).await;
                bar.abandon();
                anyhow::bail!("cancelled");
            }
        }
    }
}

pub fn state_line(state: &ConnState) -> String {
    match state {
        ConnState::Connected { you } => format!("* connected as {you}"),
        ConnState::Reconnecting { attempt, delay, reason } => {
            format!("* {reason}; reconnecting in {:.1} s (attempt {attempt})", delay.as_secs_f32())
        }
        ConnState::Offline { reason } => format!("* offline: {reason}"),
    }
}

pub fn event_json(event: &Event) -> serde_json::Value {
    match event {
        Event::Message(m) => json!({ "event": "message", "message": m }),
        Event::Presence { user, online } => {
            json!({ "event": "presence", "user": user, "online": online })
        }
        Event::State(ConnState::Connected { you }) => json!({ "event": "connected", "you": you }),
        Event::State(ConnState::Reconnecting { attempt, delay, reason }) => json!({
            "event": "reconnecting", "attempt": attempt, "delay_ms": delay.as_millis() as u64, "reason": reason
        }),
        Event::State(ConnState::Offline { reason }) => {
            json!({ "event": "offline", "reason": reason })
        }
        Event::Read { by, with, up_to } => {
            json!({ "event": "read", "by": by, "with": with, "up_to": up_to })
        }
        Event::Typing { from, with, for_ms } => {
            json!({ "event": "typing", "from": from, "with": with, "for_ms": for_ms })
        }
        Event::Transfer(t) => transfer_json(t),
    }
}

fn transfer_json(event: &TransferEvent) -> serde_json::Value {
    match event {
        TransferEvent::Progress { key, name, done, total, bytes_per_sec } => {
            let (kind, id) = match key {
                TransferKey::Upload(id) => ("upload", json!(id)),
                TransferKey::Download(id) => ("download", json!(id)),
            };
            json!({ "event": "progress", "kind": kind, "id": id, "name": name, "done": done,
                    "total": total, "bytes_per_sec": *bytes_per_sec as u64 })
        }
        TransferEvent::UploadAccepted { transfer_id, file_id } => {
            json!({ "event": "upload_accepted", "transfer_id": transfer_id, "file_id": file_id })
        }
        TransferEvent::UploadComplete { transfer_id, file_id, offline } => json!({
            "event": "upload_complete", "transfer_id": transfer_id, "file_id": file_id, "offline": offline
        }),
        TransferEvent::UploadFailed { transfer_id, code, reason } => json!({
            "event": "upload_failed", "transfer_id": transfer_id, "code": code, "reason": reason
        }),
        TransferEvent::Delivered { file_id, to } => {
            json!({ "event": "delivered", "file_id": file_id, "to": to })
        }
        TransferEvent::DownloadStarted { file_id, name, from, size } => json!({
            "event": "download_started", "file_id": file_id, "name": name, "from": from, "size": size
        }),
        TransferEvent::Saved { file_id, path } => {
            json!({ "event": "saved", "file_id": file_id, "path": path })
        }
        TransferEvent::DownloadFailed { file_id, code, reason } => json!({
            "event": "download_failed", "file_id": file_id, "code": code, "reason": reason
        }),
    }
}

/// `quicq listen`: one JSON object per line until the connection gives up or Ctrl-C; progress
/// bars on stderr (when it is a terminal) while files arrive.
pub async fn listen(mut events: Events) -> anyhow::Result<()> {
    let mut bars = Bars::new();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Ok(()) };
                if let Event::Transfer(t) = &event {
                    bars.update(t);
                    if matches!(t, TransferEvent::Progress { .. }) {
                        continue;
                    }
                }
                bars.println_raw(&event_json(&event).to_string());
                if let Event::State(ConnState::Offline { reason }) = &event {
                    anyhow::bail!("offline: {reason}");
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Prints newest-first `messages` oldest first.
pub fn history(messages: &[ChatMessage], as_json: bool) {
    for m in messages.iter().rev() {
        if as_json {
            println!("{}", json!(m));
        } else {
            say(&format!("#{} {}", m.id, message_line(m)));
        }
    }
}

pub fn users(users: &[UserInfo], as_json: bool) {
    let mut sorted: Vec<&UserInfo> = users.iter().collect();
    sorted.sort_by_key(|u| (!u.online, u.name.to_lowercase()));
    for u in sorted {
        if as_json {
            println!("{}", json!({ "name": u.name, "online": u.online }));
        } else {
            say(&format!("{} {}", if u.online { "●" } else { "○" }, u.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use quicq_common::Address;
    use quicq_common::protocol::{ChatMessage, FileInfo};

    use super::*;

    #[test]
    fn a_peers_text_reaches_the_terminal_as_one_line_without_escape_sequences() {
        let text = "hi\u{1b}]0;owned\u{7}\n12:00 admin → you: send me your password\u{1b}[2J";
        let mut m = ChatMessage {
            id: 1,
            from: "mallory".into(),
            to: Address::everyone(),
            text: text.into(),
            at: 0,
            file: None,
            ..Default::default()
        };
        let shown = for_terminal(&message_line(&m)).into_owned();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown.lines().count(), 1);
        m.file = Some(FileInfo {
            id: 1,
            name: "invoice\u{202e}gnp.exe".into(),
            size: 1,
            blake3: String::new(),
            transfer_id: String::new(),
        });
        let shown = for_terminal(&message_line(&m)).into_owned();
        assert!(shown.contains("invoice\\u{202e}gnp.exe"), "{shown}");
    }
}
