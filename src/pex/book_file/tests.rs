//! The book file: a round trip, Go's own file, a corrupt file kept aside, and a crash
//! between writing and renaming that leaves the old book whole.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::*;

const GO_SAMPLE: &str = include_str!("../../../tests/vectors/addrbook-v0.12.1-sample.json");

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mconn-book-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("temp dir");
    d
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> NetAddress {
    NetAddress::from(SocketAddr::from(([a, b, c, d], 26656)))
}

#[test]
fn a_saved_book_loads_back_the_same() {
    let d = dir("roundtrip");
    let path = d.join("addrbook.json");
    let mut book = AddrBook::with_key(*b"roundtripkey", true, 1);
    let src = v4(5, 6, 7, 8);
    for i in 1..=50u8 {
        assert!(book.add_at(v4(1, i, 1, 1), src, 1_000));
    }
    book.mark_attempt_at(&v4(1, 2, 1, 1), 2_000);
    let id = crate::node_id::NodeId([0x5a; 20]);
    book.mark_good_at(&v4(1, 3, 1, 1).with_id(id), 3_000);
    book.save(&path).expect("save");
    let back = AddrBook::load(&path, true).expect("load");
    assert_eq!(back.size(), 50);
    let (key, entries) = back.parts();
    assert_eq!(key, b"roundtripkey");
    let find = |a: NetAddress| back.parts().1.find(|k| k.addr == a).cloned().unwrap();
    let _ = entries;
    assert_eq!(find(v4(1, 2, 1, 1)).attempts, 1);
    assert_eq!(find(v4(1, 2, 1, 1)).last_attempt, Some(2_000));
    let good = find(v4(1, 3, 1, 1));
    assert_eq!((good.table, good.last_success), (Table::Old, Some(3_000)));
    assert_eq!(good.addr.id(), Some(id), "the node id is kept");
    assert_eq!(find(v4(1, 4, 1, 1)).addr.id(), None);
    assert_eq!(find(v4(1, 9, 1, 1)).last_seen, 1_000);
    // No temporary file is left beside it.
    let names: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_book_written_by_go_v0_12_1_is_read() {
    let d = dir("go");
    let path = d.join("addrbook.json");
    fs::write(&path, GO_SAMPLE).unwrap();
    let lax = AddrBook::load(&path, false).expect("load");
    assert_eq!(lax.size(), 3, "Go's three loopback addresses");
    assert_eq!(
        lax.parts().0,
        &[0x7b, 0x7e, 0x28, 0x22, 0x1c, 0x38, 0x6c, 0x07, 0x8c, 0x2a, 0x84, 0x7e]
    );
    let tried = lax
        .parts()
        .1
        .find(|k| k.addr.port() == 22301)
        .cloned()
        .unwrap();
    assert_eq!(tried.attempts, 1);
    // A strict book refuses loopback addresses: it loads empty, and the file stays.
    let strict = AddrBook::load(&path, true).expect("load");
    assert_eq!(strict.size(), 0);
    assert!(path.exists());
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_corrupt_file_is_kept_aside_and_the_book_starts_empty() {
    let d = dir("corrupt");
    let path = d.join("addrbook.json");
    for (i, junk) in [
        &b"{\"Key\": \"7b7e\", \"Addrs\": [{"[..],
        b"\xff\xfe not utf-8",
        b"{\"Key\": \"7b7e28221c386c078c2a847e\", \"Addrs\": [{\"Addr\": 5}]}",
    ]
    .iter()
    .enumerate()
    {
        fs::write(&path, junk).unwrap();
        let book = AddrBook::load(&path, false).expect("starts empty");
        assert_eq!(book.size(), 0);
        assert!(!path.exists(), "case {i}: moved aside");
        let aside: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "case {i}");
        assert_eq!(fs::read(&aside[0]).unwrap(), *junk, "kept as it was");
        fs::remove_file(&aside[0]).unwrap();
    }
    // No file at all: empty, and nothing is created.
    let book = AddrBook::load(&path, false).expect("empty");
    assert_eq!(book.size(), 0);
    assert!(!path.exists());
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_crash_between_write_and_rename_leaves_the_old_book() {
    let d = dir("crash");
    let path = d.join("addrbook.json");
    let mut book = AddrBook::with_key(*b"crash key 12", false, 3);
    book.add_at(v4(9, 9, 9, 9), v4(9, 9, 9, 9), 1);
    book.save(&path).expect("save");
    let before = fs::read(&path).unwrap();
    // The next save wrote its temporary file and "crashed" before the rename.
    let tmp = atomic_file::write_temporary(&path, "mconn-addrbook", b"{half a bo").unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "the book itself is untouched"
    );
    let back = AddrBook::load(&path, false).expect("load");
    assert_eq!(back.size(), 1);
    let _ = fs::remove_file(tmp);
    let _ = fs::remove_dir_all(&d);
}
