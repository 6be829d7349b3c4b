//! A [`NodeKey`] on disk, in the `node_key.json` layout CometBFT and tendermint-rs use:
//! `{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"<base64 of seed ‖ public>"}}`.
//! Written atomically (temporary file, fsync, rename, fsync of the directory) and
//! readable by the owner only; read strictly: a file that is not a valid key is an error,
//! never a silently new identity.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::key::NodeKey;
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
    /// Errors: [`Error::Io`] if the file cannot be read; [`Error::InvalidConfig`] naming
    /// the file and the problem if it is not a valid Ed25519 key file (bad JSON, another
    /// key type, a value that is not 64 bytes of base64, or a public half that does not
    /// belong to the seed).
    pub fn load(path: impl AsRef<Path>) -> Result<NodeKey, Error> {
        let path = path.as_ref();
        let bad = |why: String| Error::InvalidConfig(format!("node key {}: {why}", path.display()));
        let len = fs::metadata(path)?.len();
        if len > MAX_FILE {
            return Err(bad(format!("{len} bytes is too large for a key file")));
        }
        let text = fs::read_to_string(path)?;
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
        let bytes = base64::decode(value).map_err(bad)?;
        if bytes.len() != 64 {
            return Err(bad(format!(
                "the key is {} bytes, expected 64",
                bytes.len()
            )));
        }
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[..32]);
        let key = NodeKey::from_seed(*seed);
        if key.public_key()[..] != bytes[32..] {
            return Err(bad("the public key does not belong to the seed".into()));
        }
        Ok(key)
    }

    /// Writes the key to `path` in the `node_key.json` layout, atomically (a crash leaves
    /// the old file or the new one, never half of one) and readable by the owner only.
    ///
    /// Errors: [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let mut raw = zeroize::Zeroizing::new([0u8; 64]);
        raw[..32].copy_from_slice(&self.seed());
        raw[32..].copy_from_slice(&self.public_key());
        let value = zeroize::Zeroizing::new(base64::encode(&raw[..]));
        let text = zeroize::Zeroizing::new(format!(
            "{{\"priv_key\":{{\"type\":\"{KEY_TYPE}\",\"value\":\"{}\"}}}}",
            value.as_str()
        ));
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().ok_or_else(|| {
            Error::InvalidConfig(format!("node key path {} names no file", path.display()))
        })?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        // A file left by a crash of an earlier process with this pid is stale.
        let _ = fs::remove_file(&tmp);
        let written = (|| -> std::io::Result<()> {
            let mut f = owner_only().open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            // The rename itself is durable once the directory is.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    }

    /// The key in `path`, or, if there is no such file, a new random key saved there. A
    /// file that exists but is not a valid key is an error: an identity is never replaced
    /// silently.
    ///
    /// Errors: as [`load`](Self::load) and [`save`](Self::save).
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<NodeKey, Error> {
        let path = path.as_ref();
        match fs::metadata(path) {
            Ok(_) => NodeKey::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = NodeKey::generate()?;
                key.save(path)?;
                Ok(key)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Options that create a new file readable and writable by its owner only.
fn owner_only() -> fs::OpenOptions {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}
