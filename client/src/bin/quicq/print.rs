//! How the CLI shows things: text for people, JSON lines for scripts.

use chrono::{Local, TimeZone};
use quicq_client::{ConnState, Event, Events};
use quicq_common::protocol::{ChatMessage, UserInfo};
use serde_json::json;

pub fn time(at_ms: i64) -> String {
    match Local.timestamp_millis_opt(at_ms).single() {
        Some(t) => t.format("%H:%M").to_string(),
        None => "--:--".into(),
    }
}

pub fn message_line(m: &ChatMessage) -> String {
    format!("{} {} → {}: {}", time(m.at), m.from, m.to, m.text)
}

pub fn state_line(state: &ConnState) -> String {
    match state {
        ConnState::Connected { you } => format!("* connected as {you}"),
        ConnState::Reconnecting {
            attempt,
            delay,
            reason,
        } => {
            format!(
                "* {reason}; reconnecting in {:.1} s (attempt {attempt})",
                delay.as_secs_f32()
            )
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
        Event::State(ConnState::Reconnecting {
            attempt,
            delay,
            reason,
        }) => json!({
            "event": "reconnecting", "attempt": attempt, "delay_ms": delay.as_millis() as u64, "reason": reason
        }),
        Event::State(ConnState::Offline { reason }) => {
            json!({ "event": "offline", "reason": reason })
        }
    }
}

/// `quicq listen`: one JSON object per line until the connection gives up or Ctrl-C.
pub async fn listen(mut events: Events) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Ok(()) };
                println!("{}", event_json(&event));
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
            println!("#{} {}", m.id, message_line(m));
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
            println!("{} {}", if u.online { "●" } else { "○" }, u.name);
        }
    }
}
