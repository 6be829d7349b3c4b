//! The address book on disk, in Go v0.12.1's layout (`AddrBook.saveToFile`): a JSON
//! object with the placement `Key` (24 hex digits) and `Addrs`, each with `Addr` and
//! `Src` (`{"IP","Port"}`), `Attempts`, `LastAttempt`, `LastSuccess` (RFC 3339),
//! `BucketType` (1 new, 2 old) and `Buckets`. We add `LastSeen`, and an address's `ID`
//! (its node's CometBFT id) when known, which Go ignores, and recompute `Buckets` on
//! reading, so a book written by Go can be carried over.
//!
//! Saved atomically (see `atomic_file.rs`). Read leniently about what is missing and
//! strictly about what is wrong: a file that is not a book is set aside (renamed to
//! `<file>.corrupt-<unix seconds>`, with a suffix if that name is taken) with a WARN,
//! and the book starts empty; an entry the book refuses (an invalid or, when strict,
//! unroutable address) is skipped. Entries go back into the buckets the file names.

use std::fs;
use std::io::{ErrorKind, Read};
use std::net::IpAddr;
use std::path::Path;

use log::warn;

use super::address::NetAddress;
use super::book::{now_secs, AddrBook};
use super::known::{Known, Secs, Table};
use super::rfc3339;
use crate::atomic_file;
use crate::error::Error;
use crate::json::{self, Json};

/// A book file of 20 480 entries is about 6 MiB; anything over this is not one.
const MAX_FILE: u64 = 64 * 1024 * 1024;

impl AddrBook {
    /// The book in `path`: empty (with a new random key) if there is no such file, or
    /// if the file is not a book, which is then set aside with a WARN (never lost).
    ///
    /// Errors: [`Error::Io`] naming the file if it exists but cannot be read or set
    /// aside.
    pub fn load(path: impl AsRef<Path>, strict: bool) -> Result<AddrBook, Error> {
        let path = path.as_ref();
        let text = match read(path) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(AddrBook::new(strict)),
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                return set_aside(path, &e.to_string(), strict)
            }
            Err(e) => return Err(named(path, e)),
        };
        match parse(&text, strict) {
            Ok(book) => Ok(book),
            Err(why) => set_aside(path, &why, strict),
        }
    }

    /// Writes the book to `path` atomically (owner-only).
    ///
    /// Errors: [`Error::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        write_file(path.as_ref(), &self.to_json())
    }

    /// The book file's text.
    pub(super) fn to_json(&self) -> String {
        let (key, entries) = self.parts();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let addrs: Vec<String> = entries.map(entry_json).collect();
        format!(
            "{{\n\t\"Key\": \"{hex}\",\n\t\"Addrs\": [\n{}\n\t]\n}}\n",
            addrs.join(",\n")
        )
    }
}

/// Writes a book file's text to `path` atomically.
pub(super) fn write_file(path: &Path, json: &str) -> Result<(), Error> {
    atomic_file::replace(path, "mconn-addrbook", json.as_bytes()).map_err(|e| named(path, e))
}

fn entry_json(k: &Known) -> String {
    let na = |a: &NetAddress| match a.id() {
        Some(id) => format!(
            "{{\"ID\": \"{id}\", \"IP\": \"{}\", \"Port\": {}}}",
            a.ip(),
            a.port()
        ),
        None => format!("{{\"IP\": \"{}\", \"Port\": {}}}", a.ip(), a.port()),
    };
    let buckets: Vec<String> = k.buckets.iter().map(|b| b.to_string()).collect();
    format!(
        "\t\t{{\"Addr\": {}, \"Src\": {}, \"Attempts\": {}, \"LastAttempt\": \"{}\", \
         \"LastSuccess\": \"{}\", \"LastSeen\": \"{}\", \"BucketType\": {}, \"Buckets\": [{}]}}",
        na(&k.addr),
        na(&k.src),
        k.attempts,
        rfc3339::format(k.last_attempt),
        rfc3339::format(k.last_success),
        rfc3339::format(Some(k.last_seen)),
        if k.table == Table::Old { 2 } else { 1 },
        buckets.join(", ")
    )
}

/// The file's text; `None` if there is no file. A file too large or not UTF-8 is
/// `InvalidData`.
fn read(path: &Path) -> std::io::Result<Option<String>> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(std::io::Error::new(ErrorKind::InvalidData, "over 64 MiB"));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "not UTF-8"))
}

fn parse(text: &str, strict: bool) -> Result<AddrBook, String> {
    let doc = json::parse(text)?;
    let key_hex = match doc.get("Key") {
        Some(Json::Str(s)) if s.len() == 24 && s.bytes().all(|c| c.is_ascii_hexdigit()) => s,
        _ => return Err("no 24-hex-digit Key".into()),
    };
    let mut key = [0u8; 12];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(key_hex.get(2 * i..2 * i + 2).unwrap_or("x"), 16)
            .map_err(|_| "Key is not hex".to_string())?;
    }
    let now = now_secs();
    let mut book = AddrBook::with_key(
        key,
        strict,
        now ^ u64::from_le_bytes([
            key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        ]),
    );
    let entries = match doc.get("Addrs") {
        Some(Json::Arr(a)) => a.as_slice(),
        Some(Json::Null) | None => &[],
        _ => return Err("Addrs is not a list".into()),
    };
    for (i, e) in entries.iter().enumerate() {
        let k = entry(e, now).map_err(|why| format!("entry {i}: {why}"))?;
        book.restore(k, now);
    }
    Ok(book)
}

fn entry(e: &Json, now: Secs) -> Result<Known, String> {
    let addr = net_address(e.get("Addr")).ok_or("no valid Addr")?;
    let src = net_address(e.get("Src")).unwrap_or(addr);
    let time = |field: &str| -> Result<Option<Secs>, String> {
        match e.get(field) {
            Some(Json::Str(s)) => rfc3339::parse(s),
            None | Some(Json::Null) => Ok(None),
            _ => Err(format!("{field} is not a time")),
        }
    };
    let mut k = Known::new(addr, src, now);
    k.attempts = match e.get("Attempts") {
        Some(Json::Num(n)) => n.parse::<u32>().map_err(|_| "bad Attempts")?,
        None => 0,
        _ => return Err("bad Attempts".into()),
    };
    k.last_attempt = time("LastAttempt")?;
    k.last_success = time("LastSuccess")?;
    // Go's file has no LastSeen: count an address as announced when it was read.
    k.last_seen = time("LastSeen")?.unwrap_or(now);
    if let Some(Json::Arr(list)) = e.get("Buckets") {
        k.buckets = list
            .iter()
            .filter_map(|b| match b {
                Json::Num(n) => n.parse::<usize>().ok(),
                _ => None,
            })
            .take(8)
            .collect();
    }
    k.table = match e.get("BucketType") {
        Some(Json::Num(n)) if n == "2" => Table::Old,
        Some(Json::Num(n)) if n == "1" => Table::New,
        None => Table::New,
        _ => return Err("bad BucketType".into()),
    };
    Ok(k)
}

fn net_address(v: Option<&Json>) -> Option<NetAddress> {
    let v = v?;
    let ip: IpAddr = match v.get("IP")? {
        Json::Str(s) => s.parse().ok()?,
        _ => return None,
    };
    let port: u16 = match v.get("Port")? {
        Json::Num(n) => n.parse().ok()?,
        _ => return None,
    };
    let addr = NetAddress::new(ip, port);
    // Optional (Go v0.12 has none): a malformed id is dropped, not the address.
    match v.get("ID") {
        Some(Json::Str(s)) => Some(s.parse().map_or(addr, |id| addr.with_id(id))),
        _ => Some(addr),
    }
}

/// Renames a file that is not a book out of the way and starts an empty book.
fn set_aside(path: &Path, why: &str, strict: bool) -> Result<AddrBook, Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let secs = now_secs();
    let mut n = 0u32;
    // A hard link never replaces: a name already taken (another book set aside in the
    // same second) moves on to the next suffix.
    let aside = loop {
        let candidate = path.with_file_name(match n {
            0 => format!("{name}.corrupt-{secs}"),
            n => format!("{name}.corrupt-{secs}-{n}"),
        });
        match fs::hard_link(path, &candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(named(path, e)),
        }
    };
    fs::remove_file(path).map_err(|e| named(path, e))?;
    atomic_file::sync_dir(path);
    warn!(
        "address book {} is not a book ({why}); kept as {} and starting empty",
        path.display(),
        aside.display()
    );
    Ok(AddrBook::new(strict))
}

fn named(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("address book {}: {e}", path.display()),
    ))
}

#[cfg(test)]
mod tests;
