//! Server settings. Every field has a default; the TOML file and the command line override them
//! (see `quicq-server.example.toml`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use quicq_common::congestion::Congestion;
use quicq_common::protocol::{
    DEFAULT_MAX_TEXT_CHARS, DEFAULT_PORT, Limits, MAX_FRAME_LEN, MAX_HISTORY_PAGE,
};
use quicq_common::socket::Windows;
use serde::Deserialize;

use crate::rate_limit::Rates;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// UDP address to listen on. The default, `[::]:7373`, is every IPv6 and IPv4 address
    /// (one dual-stack socket; IPv4 only on a host without IPv6).
    pub listen: SocketAddr,
    /// Names and addresses written into a newly made self-signed certificate.
    pub hostnames: Vec<String>,
    /// Where the self-signed certificate and key live.
    pub cert_dir: PathBuf,
    /// A CA-issued certificate chain (PEM) to use instead of the self-signed one.
    pub cert: Option<PathBuf>,
    /// The key for `cert` (PEM).
    pub key: Option<PathBuf>,
    /// Where the SQLite database (with `store = "sqlite"`) and the file spool live.
    pub data_dir: PathBuf,
    /// Where shared files' bytes are kept (default: `spool` in `data_dir`). Every node of a
    /// cluster uses the same directory, on a filesystem they all see.
    pub spool_dir: Option<PathBuf>,
    /// Which database keeps accounts, messages and groups: `sqlite` (a file in `data_dir`, the
    /// default) or `postgres` (at `database_url`, which several nodes may share).
    pub store: StoreKind,
    /// The PostgreSQL connection, as a URL (`postgresql://user:password@host/db`) or key=value
    /// pairs (`host=/run/postgresql dbname=quicq`); only with `store = "postgres"`.
    pub database_url: Option<String>,
    /// Where to answer health requests over HTTP (`127.0.0.1:7374`): `200` while the node can
    /// serve, `503` when its database does not answer. Off when unset.
    pub health_listen: Option<SocketAddr>,
    /// Makes this server one node of a cluster: the NATS server the nodes talk through
    /// (`nats://host:4222`). Needs `store = "postgres"`, the same database on every node.
    pub nats_url: Option<String>,
    /// Who may create an account with a free nickname: `open` (anyone), `invite` (with an
    /// invite code), `closed` (nobody). Unset: `invite` when listening on an address other than
    /// loopback, `open` on loopback only.
    pub registration: Option<Registration>,
    pub max_text_chars: u32,
    /// Sustained messages per second per account.
    pub messages_per_second: u32,
    /// Messages an account may send at once.
    pub message_burst: u32,
    /// Messages an account may save up while quiet (offline, or a path that stalled) and then
    /// send faster than the sustained rate, at `backlog_messages_per_second`.
    pub message_backlog: u32,
    pub backlog_messages_per_second: u32,
    /// Connections accepted at once; more are refused.
    pub max_connections: usize,
    /// Deliveries queued for one session before it is closed as too slow.
    pub session_queue: usize,
    /// Bytes of deliveries queued for one session before it is closed as too slow, so a
    /// session that reads nothing holds at most this much server memory.
    pub session_queue_bytes: usize,
    /// Request streams a connection may have open at once. Quinn sets aside state for every
    /// stream a peer may open, so this costs memory on every connection, idle or not.
    pub max_concurrent_requests: u32,
    pub idle_timeout_secs: u64,
    /// How long a client has to send `hello` after connecting.
    pub hello_timeout_secs: u64,
    /// Largest file an upload may declare, in bytes.
    pub max_file_bytes: u64,
    /// Total bytes of files kept or uploading at once.
    pub spool_quota_bytes: u64,
    /// How long a complete file is kept for recipients who have not fetched it.
    pub file_retention_secs: u64,
    /// An interrupted upload that makes no progress for this long is discarded.
    pub upload_stall_secs: u64,
    /// An upload stream that delivers no 256 KiB block for this long fails (`upload_idle`), so
    /// headers without bytes cannot hold quota.
    pub upload_idle_secs: u64,
    /// The most spool space one account's files may hold (complete files, uploads being
    /// received at their declared size, interrupted ones at what arrived).
    pub account_spool_quota_bytes: u64,
    /// Uploads a connection may run at once.
    pub max_concurrent_uploads: u32,
    /// The congestion controller of the server's sending side (files to recipients).
    pub congestion: Congestion,
    /// Flow-control window of each stream, bytes; it must cover bandwidth × round trip for a
    /// file to fill a path. Twice this for a connection, and at most this much unacknowledged
    /// data buffered per connection.
    pub stream_window_bytes: u32,
    /// Named groups one account may be a member of.
    pub max_groups_per_user: u32,
    /// Members one named group may have (at most [`Config::GROUP_MEMBERS_CEILING`], so a member
    /// list fits in one frame).
    pub max_group_members: u32,
    /// Longest group name, in characters (at most the nickname limit, 32).
    pub max_group_name_chars: u32,
    /// Longest group topic, in characters.
    pub max_topic_chars: u32,
    /// How long after sending a message its sender may edit it.
    pub edit_window_secs: u64,
    /// How long after sending a message its sender may recall it (QQ: 2 minutes).
    pub recall_window_secs: u64,
    /// Groups larger than this have no read receipts (each read would go to every member).
    pub receipts_max_members: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, DEFAULT_PORT)),
            hostnames: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            cert_dir: "certs".into(),
            cert: None,
            key: None,
            data_dir: "data".into(),
            spool_dir: None,
            store: StoreKind::Sqlite,
            database_url: None,
            nats_url: None,
            health_listen: None,
            registration: None,
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
            messages_per_second: 10,
            message_burst: 30,
            message_backlog: 300,
            backlog_messages_per_second: 50,
            max_connections: 20_000,
            session_queue: 4096,
            session_queue_bytes: 4 << 20,
            max_concurrent_requests: 32,
            idle_timeout_secs: 30,
            hello_timeout_secs: 10,
            max_file_bytes: 16 << 30,
            spool_quota_bytes: 64 << 30,
            file_retention_secs: 7 * 24 * 3600,
            upload_stall_secs: 24 * 3600,
            upload_idle_secs: 120,
            account_spool_quota_bytes: 16 << 30,
            max_concurrent_uploads: 16,
            congestion: Congestion::default(),
            stream_window_bytes: Windows::SERVER.stream,
            max_groups_per_user: 100,
            max_group_members: 200,
            max_group_name_chars: 32,
            max_topic_chars: 500,
            edit_window_secs: 24 * 3600,
            recall_window_secs: 120,
            receipts_max_members: 20,
        }
    }
}

/// Which database keeps the server's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One SQLite file in `data_dir`.
    #[default]
    Sqlite,
    /// A PostgreSQL database at `database_url`.
    Postgres,
}

/// Where the database is, once the settings agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A connection string, as `database_url`.
    Postgres(String),
}

/// Settings that contradict each other.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("store = \"postgres\" needs database_url (or --database-url)")]
    PostgresWithoutUrl,
    #[error("database_url is only used with store = \"postgres\"")]
    UrlWithoutPostgres,
    #[error("a cluster (nats_url) needs store = \"postgres\", one database for every node")]
    ClusterWithoutPostgres,
}

/// Who may register a free nickname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who connects.
    Open,
    /// Only with an invite code (`quicq-server admin invite create`).
    Invite,
    /// Nobody; existing accounts only.
    Closed,
}

impl Config {
    /// The registration mode in force: as set, or `invite` unless only loopback can connect.
    pub fn registration_mode(&self) -> Registration {
        self.registration.unwrap_or(if self.listen.ip().is_loopback() {
            Registration::Open
        } else {
            Registration::Invite
        })
    }

    /// A config for tests and embedding: loopback, port 0, everything under `dir`.
    pub fn ephemeral(dir: &std::path::Path) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            cert_dir: dir.join("certs"),
            data_dir: dir.join("data"),
            ..Config::default()
        }
    }

    /// The longest text a frame can always carry: even if every character needed a six-byte JSON
    /// escape, a message stays under the 64 KiB frame limit.
    pub const TEXT_CHARS_CEILING: u32 = 8000;
    /// The most members a group may have: a `group_members` answer of this many 32-character
    /// names stays under one frame.
    pub const GROUP_MEMBERS_CEILING: u32 = 300;

    pub fn limits(&self) -> Limits {
        Limits {
            max_frame_bytes: MAX_FRAME_LEN as u32,
            max_text_chars: self.max_text_chars(),
            max_file_bytes: self.max_file_bytes,
            file_retention_secs: self.file_retention_secs,
            messages_per_second: self.messages_per_second,
            message_burst: self.message_burst,
            message_backlog: self.message_backlog,
            backlog_messages_per_second: self.backlog_messages_per_second,
            max_history_page: MAX_HISTORY_PAGE,
            max_concurrent_requests: self.max_concurrent_requests,
            max_groups_per_user: self.max_groups_per_user,
            max_group_members: self.max_group_members(),
            max_group_name_chars: self.max_group_name_chars(),
            max_topic_chars: self.max_topic_chars(),
            edit_window_secs: self.edit_window_secs,
            recall_window_secs: self.recall_window_secs,
            receipts_max_members: self.receipts_max_members,
        }
    }

    pub fn rates(&self) -> Rates {
        Rates {
            per_second: self.messages_per_second,
            burst: self.message_burst,
            backlog: self.message_backlog,
            backlog_per_second: self.backlog_messages_per_second,
        }
    }

    pub fn windows(&self) -> Windows {
        Windows::for_stream(self.stream_window_bytes.max(64 << 10))
    }

    pub fn max_text_chars(&self) -> u32 {
        self.max_text_chars.clamp(1, Self::TEXT_CHARS_CEILING)
    }

    pub fn max_group_members(&self) -> u32 {
        self.max_group_members.clamp(2, Self::GROUP_MEMBERS_CEILING)
    }

    /// A topic is never longer than a message.
    pub fn max_topic_chars(&self) -> u32 {
        self.max_topic_chars.min(self.max_text_chars())
    }

    pub fn max_group_name_chars(&self) -> u32 {
        self.max_group_name_chars.clamp(1, quicq_common::nickname::MAX_CHARS as u32)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    pub fn upload_idle(&self) -> Duration {
        Duration::from_secs(self.upload_idle_secs.max(1))
    }

    pub fn hello_timeout(&self) -> Duration {
        Duration::from_secs(self.hello_timeout_secs.max(1))
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(|| self.data_dir.join("spool"))
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("quicq.sqlite3")
    }

    /// The database to open.
    pub fn database(&self) -> Result<Database, ConfigError> {
        if self.nats_url.is_some() && self.store != StoreKind::Postgres {
            return Err(ConfigError::ClusterWithoutPostgres);
        }
        match (self.store, &self.database_url) {
            (StoreKind::Sqlite, None) => Ok(Database::Sqlite(self.database_path())),
            (StoreKind::Sqlite, Some(_)) => Err(ConfigError::UrlWithoutPostgres),
            (StoreKind::Postgres, Some(url)) => Ok(Database::Postgres(url.clone())),
            (StoreKind::Postgres, None) => Err(ConfigError::PostgresWithoutUrl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_matches_the_defaults() {
        let text = include_str!("../../quicq-server.example.toml");
        let parsed: Config = toml::from_str(text).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn the_database_settings_must_agree() {
        let parse = |toml: &str| toml::from_str::<Config>(toml).unwrap().database();
        assert!(matches!(parse(""), Ok(Database::Sqlite(p)) if p.ends_with("data/quicq.sqlite3")));
        assert_eq!(
            parse("store = \"postgres\"\ndatabase_url = \"dbname=q\"").unwrap(),
            Database::Postgres("dbname=q".into())
        );
        assert!(matches!(parse("store = \"postgres\""), Err(ConfigError::PostgresWithoutUrl)));
        assert!(matches!(
            parse("database_url = \"dbname=q\""),
            Err(ConfigError::UrlWithoutPostgres)
        ));
        assert!(matches!(
            parse("nats_url = \"nats://127.0.0.1:4222\""),
            Err(ConfigError::ClusterWithoutPostgres)
        ));
        assert!(toml::from_str::<Config>("store = \"mysql\"").is_err());
    }

    #[test]
    fn registration_needs_an_invite_unless_only_loopback_can_connect() {
        let on = |listen: &str, set| {
            Config { listen: listen.parse().unwrap(), registration: set, ..Config::default() }
                .registration_mode()
        };
        assert_eq!(on("[::]:7373", None), Registration::Invite);
        assert_eq!(on("0.0.0.0:7373", None), Registration::Invite);
        assert_eq!(on("192.0.2.1:7373", None), Registration::Invite);
        assert_eq!(on("127.0.0.1:0", None), Registration::Open);
        assert_eq!(on("[::1]:7373", None), Registration::Open);
        assert_eq!(on("[::]:7373", Some(Registration::Open)), Registration::Open);
        assert_eq!(on("127.0.0.1:0", Some(Registration::Closed)), Registration::Closed);
        let parsed: Config = toml::from_str("registration = \"invite\"").unwrap();
        assert_eq!(parsed.registration, Some(Registration::Invite));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("listne = \"0.0.0.0:1\"").is_err());
    }

    #[test]
    fn text_limit_is_capped_so_messages_fit_a_frame() {
        let config = Config { max_text_chars: 1_000_000, ..Config::default() };
        assert_eq!(config.limits().max_text_chars, Config::TEXT_CHARS_CEILING);
    }
}
