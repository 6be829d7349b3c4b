//! A [`NodeKey`] on disk, in the `node_key.json` layout CometBFT and tendermint-rs use:
//! `{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"<base64 of seed ‖ public>"}}`.
//! Written atomically (temporary file, fsync, rename, fsync of the directory) and
//! readable by the owner only; read strictly: a file that is not a valid key is an error,
//! never a silently new identity.

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::NodeKey;
use crate::atomic_file::{self, sync_dir};
use crate::base64;
use crate::error::Error;
use crate::json::{self, Json};

/// The key type CometBFT and tendermint-rs write for an Ed25519 key.
const KEY_TYPE: &str = "tendermint/PrivKeyEd25519";
/// A key file is about 150 bytes; anything much larger is not one.
const MAX_FILE: u64 = 64 * 1024;

impl NodeKey {
    /// Reads a key from a `node_key.json` file (CometBFT's and tendermint-rs's layout).
    ///
    /// Errors: [`Error::Io`] naming the file if it cannot be read; [`Error::InvalidConfig`]
    /// naming the file and the problem if it is not a valid Ed25519 key file (not a
    /// regular file of at most 64 KiB, bad JSON, another key type, a value that is not 64
    /// bytes of base64, or a public half that does not belong to the seed).
    pub fn load(path: impl AsRef<Path>) -> Result<NodeKey, Error> {
        let path = path.as_ref();
        let bad = |why: String| Error::InvalidConfig(format!("node key {}: {why}", path.display()));
        // Checked before opening: opening a FIFO blocks until someone writes to it.
        if !fs::metadata(path).map_err(|e| named(path, e))?.is_file() {
            return Err(bad("not a regular file".into()));
        }
        let file = fs::File::open(path).map_err(|e| named(path, e))?;
        // Bounded whatever the file claims (it may grow while we read).
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| named(path, e))?;
        if text.len() as u64 > MAX_FILE {
            return Err(bad(format!(
                "over {MAX_FILE} bytes: too large for a key file"
            )));
        }
        let doc = json::parse(&text).map_err(bad)?;
        let priv_key = doc
            .get("priv_key")
            .ok_or_else(|| bad("no \"priv_key\"".into()))?;
        match priv_key.get("type") {
            Some(Json::Str(t)) if t == KEY_TYPE => {}
            Some(Json::Str(t)) => {
                return Err(bad(format!("key type {t:?}, expected {KEY_TYPE:?}")))
            }
            _ => return Err(bad("no \"priv_key.type\" string".into())),
        }
        let Some(Json::Str(value)) = priv_key.get("value") else {
            return Err(bad("no \"priv_key.value\" string".into()));
        };
        let bytes = Zeroizing::new(base64::decode(value).map_err(bad)?);
        if bytes.len() != 64 {
            return Err(bad(format!(
                "the key is {} bytes, expected 64",
                bytes.len()
            )));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[..32]);
        let key = NodeKey::from_seed(*seed);
        if key.public_key()[..] != bytes[32..] {
            return Err(bad("the public key does not belong to the seed".into()));
        }
        Ok(key)
    }

    /// Writes the key to `path` in the `node_key.json` layout, atomically (a crash leaves
    /// the old file or the new one, never half of one), readable by the owner only (on
    /// Unix; elsewhere with the platform's default permissions). A symbolic link at
    /// `path` is replaced by the file, not followed.
    ///
    /// Errors: [`Error::Io`] naming the file if it cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let tmp = self.write_temporary(path)?;
        let moved = fs::rename(&tmp, path);
        if moved.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        moved.map_err(|e| named(path, e))?;
        sync_dir(path);
        Ok(())
    }

    /// The key in `path`, or, if there is no such file, a new random key saved there. A
    /// file that exists but is not a valid key is an error: an identity is never replaced
    /// silently. Two processes (or threads) starting at once with no file agree on one
    /// key: the new file is put in place only if none appeared meanwhile, and otherwise
    /// the one that did is loaded.
    ///
    /// Errors: as [`load`](Self::load) and [`save`](Self::save).
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<NodeKey, Error> {
        let path = path.as_ref();
        match fs::symlink_metadata(path) {
            Ok(_) => return NodeKey::load(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(named(path, e)),
        }
        let key = NodeKey::generate()?;
        let tmp = key.write_temporary(path)?;
        // A hard link creates `path` only if it does not exist: never replaces a key.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(path);
                Ok(key)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => NodeKey::load(path),
            Err(e) => Err(named(path, e)),
        }
    }

    /// Writes the key file's text to a new temporary file beside `path` (owner-only,
    /// synced) and returns its name.
    fn write_temporary(&self, path: &Path) -> Result<PathBuf, Error> {
        let mut raw = Zeroizing::new([0u8; 64]);
        raw[..32].copy_from_slice(&self.seed());
        raw[32..].copy_from_slice(&self.public_key());
        let value = Zeroizing::new(base64::encode(&raw[..]));
        let text = Zeroizing::new(format!(
            "{{\"priv_key\":{{\"type\":\"{KEY_TYPE}\",\"value\":\"{}\"}}}}",
            value.as_str()
        ));
        if path.file_name().is_none() {
            return Err(Error::InvalidConfig(format!(
                "node key path {} names no file",
                path.display()
            )));
        }
        atomic_file::write_temporary(path, "mconn-key", text.as_bytes()).map_err(|e| named(path, e))
    }
}

/// An I/O error that names the key file.
fn named(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("node key {}: {e}", path.display()),
    ))
}
