//! Where this device saved each received file. The server sends a device each file once, so
//! after a restart only this record lets a file message still say "saved" and offer Open and
//! Show in folder. One JSON line per saved file, appended (a crash loses at most the line being
//! written, which is skipped on reading); the network thread reads and writes it, never the
//! window.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `saved-files.jsonl` in the user's QuicQ data directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "quicq").map(|d| d.data_dir().join("saved-files.jsonl"))
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// `nickname@server`: file ids are per server, and one device may use several accounts.
    account: String,
    file_id: u64,
    path: PathBuf,
}

/// One account's view of the record.
#[derive(Debug, Clone)]
pub struct SavedFiles {
    path: PathBuf,
    account: String,
}

impl SavedFiles {
    /// The record at `path` for `nickname` on `server` (its address as the user gave it).
    pub fn new(path: PathBuf, server: &str, nickname: &str) -> Self {
        SavedFiles { path, account: format!("{nickname}@{server}") }
    }

    /// Every file this account saved here, the latest path for each. A missing record is
    /// empty; lines that do not parse are skipped.
    pub fn load(&self) -> HashMap<u64, PathBuf> {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return HashMap::new() };
        text.lines()
            .filter_map(|l| serde_json::from_str::<Line>(l).ok())
            .filter(|l| l.account == self.account)
            .map(|l| (l.file_id, l.path))
            .collect()
    }

    pub fn record(&self, file_id: u64, saved: &Path) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let line = Line { account: self.account.clone(), file_id, path: saved.to_owned() };
        let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        text.push('\n');
        let mut file =
            std::fs::OpenOptions::new().create(true).read(true).append(true).open(&self.path)?;
        // A line cut short by a crash gets its end, so it does not swallow this one.
        if !ends_with_newline(&mut file)? {
            text.insert(0, '\n');
        }
        // One write per line, so concurrent windows never interleave inside a line.
        file.write_all(text.as_bytes())
    }
}

/// True for an empty file too.
fn ends_with_newline(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_sees_its_own_files_and_broken_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/saved-files.jsonl");
        let bob = SavedFiles::new(path.clone(), "h:1", "bob");
        let bob_elsewhere = SavedFiles::new(path.clone(), "other:1", "bob");
        let carol = SavedFiles::new(path.clone(), "h:1", "carol");
        assert!(bob.load().is_empty(), "no record yet");
        bob.record(1, Path::new("/dl/a.txt")).unwrap();
        carol.record(1, Path::new("/dl/c.txt")).unwrap();
        bob_elsewhere.record(2, Path::new("/dl/x.txt")).unwrap();
        // A crash in the middle of a line, then a later save of the same file.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"account\":\"bob@h:1\",\"fi")
            .unwrap();
        bob.record(3, Path::new("/dl/文件.pdf")).unwrap();
        bob.record(1, Path::new("/dl/a (1).txt")).unwrap();
        let want: HashMap<u64, PathBuf> =
            [(1, "/dl/a (1).txt".into()), (3, "/dl/文件.pdf".into())].into();
        assert_eq!(bob.load(), want);
        assert_eq!(carol.load(), [(1, PathBuf::from("/dl/c.txt"))].into());
        assert_eq!(bob_elsewhere.load(), [(2, PathBuf::from("/dl/x.txt"))].into());
    }
}
