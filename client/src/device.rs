//! A stable random id for this device, kept in a file, so the server can tell an account's
//! devices apart (each gets every file once).

use std::path::{Path, PathBuf};

/// `device_id` in the user's config directory (e.g. `~/.config/quicq/device_id`).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "quicq").map(|d| d.config_dir().join("device_id"))
}

/// Reads the id from `path`, or makes one and writes it there.
pub fn load_or_create(path: &Path) -> std::io::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let id = text.trim();
        if !id.is_empty() && id.len() <= 64 {
            return Ok(id.to_owned());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(path, format!("{id}\n"))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/device_id");
        let first = super::load_or_create(&path).unwrap();
        assert_eq!(super::load_or_create(&path).unwrap(), first);
        assert_eq!(first.len(), 36);
    }
}
