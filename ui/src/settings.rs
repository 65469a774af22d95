//! What the sign-in page remembers between runs: the last server and nickname, never the
//! password.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub server: String,
    pub nickname: String,
}

/// `ui.json` in the user's QuicQ config directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "quicq").map(|d| d.config_dir().join("ui.json"))
}

impl Settings {
    /// Missing or unreadable settings are simply empty.
    pub fn load(path: &Path) -> Settings {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self).map_err(std::io::Error::other)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/ui.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let s = Settings { server: "h:1".into(), nickname: "小明".into() };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path), s);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("password"));
    }
}
