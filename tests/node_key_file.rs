//! NodeKey on disk in the `node_key.json` layout CometBFT and tendermint-rs use: the
//! tendermint-rs fixture loads to the id tendermint-rs expects, what we save is that
//! layout byte for byte, saving is atomic and owner-only, and a file that is not a valid
//! key is an error that leaves it untouched, never a new identity.
//! The same in every build: the feature only adds the connection that proves the key.

mod support;

use std::fs;
use std::path::PathBuf;

use mconn::{Error, NodeKey};
use sha2::{Digest, Sha256};

const FIXTURE: &str = include_str!("vectors/cometbft-v0.38/tendermint-rs_node_key.json");
const IDS: &str = include_str!("vectors/cometbft-v0.38/node_id_vectors.tsv");

/// A fresh directory of this test's own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mconn-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// CometBFT's node id of a key: lowercase hex of the first 20 bytes of SHA-256.
fn cometbft_id(key: &NodeKey) -> String {
    Sha256::digest(key.public_key())[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_tendermint_rs_fixture_loads_to_its_expected_id_and_saves_back_byte_for_byte() {
    let dir = scratch("fixture");
    let path = dir.join("node_key.json");
    fs::write(&path, FIXTURE).unwrap();
    let key = NodeKey::load(&path).expect("the fixture is a valid key");
    let expected = IDS
        .lines()
        .find(|l| l.contains("file=tendermint-rs_node_key.json"))
        .and_then(|l| l.split('\t').nth(2))
        .expect("the fixture's id in node_id_vectors.tsv");
    assert_eq!(cometbft_id(&key), expected);
    // The library's NodeId says the same: the id CometBFT prints for this key file.
    assert_eq!(mconn::NodeId::of(&key.id()).to_string(), expected);

    let out = dir.join("saved.json");
    key.save(&out).expect("save");
    assert_eq!(fs::read_to_string(&out).unwrap(), FIXTURE);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_saved_key_is_owner_only_and_loads_to_the_same_identity() {
    let dir = scratch("roundtrip");
    let path = dir.join("node_key.json");
    let key = NodeKey::generate().unwrap();
    key.save(&path).expect("save");
    assert_eq!(NodeKey::load(&path).unwrap().id(), key.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    // Saving again replaces it whole, and leaves no temporary file behind.
    let other = NodeKey::generate().unwrap();
    other.save(&path).expect("save over");
    assert_eq!(NodeKey::load(&path).unwrap().id(), other.id());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn load_or_generate_creates_once_then_keeps_the_identity() {
    let dir = scratch("keep");
    let path = dir.join("node_key.json");
    let first = NodeKey::load_or_generate(&path).expect("created");
    let again = NodeKey::load_or_generate(&path).expect("loaded");
    assert_eq!(first.id(), again.id(), "a restarted node keeps its id");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_a_valid_key_is_an_error_and_is_left_alone() {
    let dir = scratch("corrupt");
    let good = NodeKey::from_seed([9; 32]);
    let seed_then = |public: [u8; 32]| {
        let mut raw = good.seed().to_vec();
        raw.extend_from_slice(&public);
        raw
    };
    let b64 = |raw: &[u8]| {
        // Standard base64 by hand, to build wrong keys without the crate's encoder.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in raw.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                s.push(if i <= c.len() {
                    A[(n >> (18 - 6 * i) & 63) as usize] as char
                } else {
                    '='
                });
            }
        }
        s
    };
    let file =
        |ty: &str, value: &str| format!(r#"{{"priv_key":{{"type":"{ty}","value":"{value}"}}}}"#);
    let valid = file(
        "tendermint/PrivKeyEd25519",
        &b64(&seed_then(good.public_key())),
    );
    let cases = [
        ("empty", String::new()),
        ("truncated", valid[..valid.len() / 2].to_string()),
        ("not json", "node key".to_string()),
        ("no priv_key", r#"{"key":{}}"#.to_string()),
        (
            "another type",
            file(
                "tendermint/PrivKeySecp256k1",
                &b64(&seed_then(good.public_key())),
            ),
        ),
        (
            "short value",
            file("tendermint/PrivKeyEd25519", &b64(&good.seed())),
        ),
        ("not base64", file("tendermint/PrivKeyEd25519", "!!!!")),
        (
            "foreign public half",
            file("tendermint/PrivKeyEd25519", &b64(&seed_then([1; 32]))),
        ),
    ];
    let path = dir.join("node_key.json");
    for (what, text) in cases {
        fs::write(&path, &text).unwrap();
        for result in [NodeKey::load(&path), NodeKey::load_or_generate(&path)] {
            match result {
                Err(Error::InvalidConfig(m)) => {
                    assert!(m.contains("node_key.json"), "{what}: {m}")
                }
                other => panic!("{what}: expected InvalidConfig, got {other:?}"),
            }
        }
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text,
            "{what}: file left as it was"
        );
    }
    // The valid form of the same file loads.
    fs::write(&path, &valid).unwrap();
    assert_eq!(NodeKey::load(&path).unwrap().id(), good.id());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn threads_starting_at_once_with_no_file_agree_on_one_identity() {
    let _w = support::watchdog(
        "threads_starting_at_once",
        std::time::Duration::from_secs(60),
    );
    let dir = scratch("race");
    for round in 0..40 {
        let path = dir.join(format!("node_key_{round}.json"));
        let ids: Vec<_> = (0..6)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || NodeKey::load_or_generate(&p).map(|k| k.id()))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap().expect("every caller gets the key"))
            .collect();
        let on_disk = NodeKey::load(&path).unwrap().id();
        assert!(
            ids.iter().all(|id| *id == on_disk),
            "round {round}: {ids:?}"
        );
    }
    // Nothing but the key files is left behind.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 40);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn only_a_regular_file_of_bounded_size_is_read() {
    let _w = support::watchdog("only_a_regular_file", std::time::Duration::from_secs(60));
    let dir = scratch("special");
    let fifo = dir.join("fifo.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        // A FIFO with no writer would block a plain read for ever.
        assert!(
            matches!(NodeKey::load(&fifo), Err(Error::InvalidConfig(m)) if m.contains("regular"))
        );
    }
    let big = dir.join("big.json");
    fs::write(&big, vec![b' '; 70 * 1024]).unwrap();
    assert!(matches!(NodeKey::load(&big), Err(Error::InvalidConfig(m)) if m.contains("large")));
    // Repeated members mean different keys to different readers: refused.
    let dup = dir.join("dup.json");
    fs::write(
        &dup,
        r#"{"priv_key":{"type":"x","type":"tendermint/PrivKeyEd25519"}}"#,
    )
    .unwrap();
    assert!(matches!(NodeKey::load(&dup), Err(Error::InvalidConfig(m)) if m.contains("twice")));
    // I/O errors name the file too.
    let missing = dir.join("missing.json");
    match NodeKey::load(&missing) {
        Err(Error::Io(e)) => assert!(e.to_string().contains("missing.json"), "{e}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // A long but valid name fits (the temporary name does not grow with it).
    let long = dir.join("k".repeat(250));
    NodeKey::generate()
        .unwrap()
        .save(&long)
        .expect("a 250-byte file name");
    let _ = fs::remove_dir_all(&dir);
}
