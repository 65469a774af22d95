//! How the client decides to trust a server: pinned fingerprints, a known-servers file (trust on
//! first use, like SSH's `known_hosts`), a CA file, or the system's roots.

use std::io::Write;
use std::path::{Path, PathBuf};

use quicq_common::Fingerprint;
use quicq_common::tls::Roots;

/// The client's trust settings.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The known-servers file; `None` means remember nothing (pins and CAs only).
    pub known_servers: Option<PathBuf>,
    /// A fingerprint the server must present (from `--fingerprint` or a join link). It is
    /// recorded in the known-servers file on success.
    pub fingerprint: Option<Fingerprint>,
    /// Trust certificates issued by the CA (or the exact certificate) in this PEM file.
    pub ca: Option<PathBuf>,
    /// Trust an unknown server's fingerprint without asking and remember it.
    pub accept_new: bool,
    /// Accept CA-issued certificates trusted by the operating system.
    pub system_roots: bool,
}

impl Default for Trust {
    fn default() -> Self {
        Trust {
            known_servers: default_known_servers(),
            fingerprint: None,
            ca: None,
            accept_new: false,
            system_roots: true,
        }
    }
}

/// `known_servers` in the user's config directory (e.g. `~/.config/quicq/known_servers`).
pub fn default_known_servers() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "quicq").map(|d| d.config_dir().join("known_servers"))
}

/// What the client will require of a server at one address.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub pin: Option<Fingerprint>,
    /// Where the pin came from: `Some(path)` if from the known-servers file.
    pub pinned_by_file: Option<PathBuf>,
    pub roots: Roots,
}

impl Trust {
    pub(crate) fn decide(&self, authority: &str) -> Result<Decision, std::io::Error> {
        let known = match &self.known_servers {
            Some(path) => KnownServers::load(path)?.get(authority),
            None => None,
        };
        let (pin, pinned_by_file) = match (self.fingerprint, known) {
            (Some(fp), _) => (Some(fp), None),
            (None, Some(fp)) => (Some(fp), self.known_servers.clone()),
            (None, None) => (None, None),
        };
        let roots = match (&self.ca, pin) {
            (Some(ca), _) => Roots::File(ca.clone()),
            // A remembered or given fingerprint is the whole trust: a different certificate is
            // refused even if some CA vouches for it.
            (None, Some(_)) => Roots::None,
            (None, None) if self.system_roots => Roots::System,
            (None, None) => Roots::None,
        };
        Ok(Decision { pin, pinned_by_file, roots })
    }

    /// Records `fingerprint` for `authority` in the known-servers file (if there is one).
    pub fn remember(&self, authority: &str, fingerprint: Fingerprint) -> std::io::Result<()> {
        match &self.known_servers {
            Some(path) => KnownServers::add(path, authority, fingerprint),
            None => Ok(()),
        }
    }
}

/// The parsed known-servers file: lines of `host:port fingerprint`, `#` for comments.
#[derive(Debug, Default, Clone)]
pub struct KnownServers {
    entries: Vec<(String, Fingerprint)>,
}

impl KnownServers {
    /// A missing file is an empty list; unparsable lines are skipped with a warning.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next().map(str::parse::<Fingerprint>)) {
                (Some(authority), Some(Ok(fp))) => entries.push((authority.to_owned(), fp)),
                _ => {
                    tracing::warn!(file = %path.display(), line = n + 1, "skipping malformed known-servers line")
                }
            }
        }
        Ok(KnownServers { entries })
    }

    pub fn get(&self, authority: &str) -> Option<Fingerprint> {
        self.entries.iter().find(|(a, _)| a.eq_ignore_ascii_case(authority)).map(|(_, fp)| *fp)
    }

    /// Records `fingerprint` for `authority`, creating the file and its directory if needed.
    /// An older entry for the same authority is replaced: callers only do this with the user's
    /// consent (a fingerprint they gave, or one they confirmed for a new server).
    pub fn add(path: &Path, authority: &str, fingerprint: Fingerprint) -> std::io::Result<()> {
        match Self::load(path)?.get(authority) {
            Some(known) if known == fingerprint => return Ok(()),
            Some(_) => return Self::replace(path, authority, fingerprint),
            None => {}
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(file, "{authority} {fingerprint}")?;
        file.sync_all()
    }
}

impl KnownServers {
    fn replace(path: &Path, authority: &str, fingerprint: Fingerprint) -> std::io::Result<()> {
        let text = std::fs::read_to_string(path)?;
        let mut out = String::new();
        for line in text.lines() {
            let first = line.split_whitespace().next().unwrap_or_default();
            if !first.eq_ignore_ascii_case(authority) {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(&format!("{authority} {fingerprint}\n"));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, out)?;
        std::fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_servers_round_trip_and_pin_decision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_servers");
        let fp = Fingerprint([1; 32]);
        KnownServers::add(&path, "chat.example.org:7373", fp).unwrap();
        KnownServers::add(&path, "chat.example.org:7373", fp).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"# c\ngarbage\n")
            .unwrap();
        let known = KnownServers::load(&path).unwrap();
        assert_eq!(known.get("CHAT.example.org:7373"), Some(fp));
        assert_eq!(known.get("other:7373"), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap().matches("chat.example.org").count(), 1);
        // A fingerprint the user gives replaces the old entry instead of adding a dead line.
        let newer = Fingerprint([2; 32]);
        KnownServers::add(&path, "chat.example.org:7373", newer).unwrap();
        assert_eq!(KnownServers::load(&path).unwrap().get("chat.example.org:7373"), Some(newer));
        assert_eq!(std::fs::read_to_string(&path).unwrap().matches("chat.example.org").count(), 1);
        assert!(std::fs::read_to_string(&path).unwrap().contains("# c"));
        KnownServers::add(&path, "chat.example.org:7373", fp).unwrap();

        let trust = Trust { known_servers: Some(path.clone()), ..Trust::default() };
        let d = trust.decide("chat.example.org:7373").unwrap();
        assert_eq!(d.pin, Some(fp));
        assert_eq!(d.pinned_by_file, Some(path));
        assert!(matches!(d.roots, Roots::None));
        let d = trust.decide("new.example.org:7373").unwrap();
        assert_eq!(d.pin, None);
        assert!(matches!(d.roots, Roots::System));
    }
}
