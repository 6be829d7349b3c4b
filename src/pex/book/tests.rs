//! The address book's rules, with an injected clock and a seeded generator.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::*;

const T0: Secs = 1_700_000_000;
const DAY: Secs = 86_400;

fn na(s: &str) -> NetAddress {
    NetAddress::from(s.parse::<SocketAddr>().expect("addr"))
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> NetAddress {
    NetAddress::from(SocketAddr::from(([a, b, c, d], 26656)))
}

fn book(strict: bool) -> AddrBook {
    AddrBook::with_key(*b"test key 012", strict, 42)
}

#[test]
fn strict_books_refuse_what_go_calls_unroutable_and_ours() {
    let mut b = book(true);
    let src = v4(5, 6, 7, 8);
    assert!(!b.add_at(na("127.0.0.1:1"), src, T0));
    assert!(!b.add_at(na("10.1.2.3:1"), src, T0));
    assert!(!b.add_at(na("0.0.0.0:1"), src, T0));
    assert!(b.add_at(v4(1, 2, 3, 4), src, T0));
    b.add_our_address(v4(9, 9, 9, 9));
    assert!(!b.add_at(v4(9, 9, 9, 9), src, T0), "our own address");
    assert_eq!(b.size(), 1);
    let mut lax = book(false);
    assert!(
        lax.add_at(na("127.0.0.1:1"), src, T0),
        "non-strict takes loopback"
    );
    assert!(
        !lax.add_at(na("0.0.0.0:1"), src, T0),
        "but never an invalid address"
    );
}

#[test]
fn one_source_cannot_fill_more_than_its_share_of_the_book() {
    let mut b = book(true);
    let flooder = v4(66, 66, 66, 66);
    let mut offered = 0;
    for a in 1..=200u8 {
        for c in 0..50u8 {
            b.add_at(v4(a, c, 1, 1), flooder, T0);
            offered += 1;
        }
    }
    // At most 32 buckets of 64: 2048 of the 10 000 offered.
    assert!(b.size() <= 32 * 64, "{} of {offered}", b.size());
    // Another source still gets in, in buckets of its own.
    let honest = v4(77, 1, 1, 1);
    let before = b.size();
    for a in 1..=50u8 {
        b.add_at(v4(a, 200, 2, 2), honest, T0);
    }
    assert!(b.size() >= before + 40, "{} -> {}", before, b.size());
}

#[test]
fn a_good_address_moves_to_the_old_table_and_bad_ones_leave() {
    let mut b = book(true);
    let src = v4(5, 6, 7, 8);
    let (good, dead, never) = (v4(1, 1, 1, 1), v4(2, 2, 2, 2), v4(3, 3, 3, 3));
    for a in [good, dead, never] {
        assert!(b.add_at(a, src, T0));
    }
    b.mark_attempt_at(&good, T0 + 10);
    b.mark_good_at(&good, T0 + 11);
    assert_eq!((b.new_set.len(), b.old_set.len()), (2, 1));
    for i in 0..3 {
        b.mark_attempt_at(&dead, T0 + 100 + i);
    }
    assert_eq!(b.remove_bad_at(T0 + 130), 0, "tried in the last minute");
    assert_eq!(b.remove_bad_at(T0 + 200), 1, "3 failures, never a success");
    assert!(!b.contains(&dead) && b.contains(&good) && b.contains(&never));
    // 30 days unannounced: gone; announced again: stays.
    b.add_at(good, src, T0 + 20 * DAY);
    assert_eq!(b.remove_bad_at(T0 + 31 * DAY), 1);
    assert!(b.contains(&good) && !b.contains(&never));
}

#[test]
fn pick_follows_the_bias_and_selection_follows_gos_sizes() {
    let mut b = book(true);
    let src = v4(5, 6, 7, 8);
    assert_eq!(b.pick(50), None);
    assert!(b.selection().is_empty());
    for i in 0..100u8 {
        b.add_at(v4(1, i, 1, 1), src, T0);
    }
    let n = b.size();
    let olds: Vec<_> = (0..10u8)
        .map(|i| v4(1, i, 1, 1))
        .filter(|a| b.contains(a))
        .collect();
    for a in &olds {
        b.mark_good_at(a, T0);
    }
    let olds: HashSet<_> = olds.into_iter().collect();
    let from_old = |b: &mut AddrBook, bias| {
        (0..1000)
            .filter(|_| b.pick(bias).is_some_and(|a| olds.contains(&a)))
            .count()
    };
    assert_eq!(from_old(&mut b, 100), 0, "bias 100: only new");
    assert_eq!(from_old(&mut b, 0), 1000, "bias 0: only old");
    let half = from_old(&mut b, 50);
    assert!((150..450).contains(&half), "sqrt-weighted: {half}");
    // Selection: max(min(32, n), 23 % of n), at most 250, distinct, all known.
    let s = b.selection();
    assert_eq!(s.len(), 32.min(n).max(n * 23 / 100));
    assert_eq!(s.iter().collect::<HashSet<_>>().len(), s.len());
    assert!(s.iter().all(|a| b.contains(a)));
}

#[test]
fn a_big_book_is_bounded_and_its_limits_hold() {
    let mut b = book(true);
    for s in 0..=255u8 {
        let src = v4(s, 1, 2, 3);
        for i in 0..=255u8 {
            b.add_at(v4(i, s, 9, 9), src, T0);
        }
    }
    assert!(b.size() <= NEW_BUCKETS * BUCKET_SIZE);
    assert!(!b.need_more());
    assert_eq!(b.selection().len(), SELECTION_MAX);
    // Every bucket holds at most 64, and every known address is in its buckets.
    assert!(b.new_buckets.iter().all(|x| x.len() <= BUCKET_SIZE));
    for k in b.known.values() {
        assert!(!k.buckets.is_empty() && k.buckets.len() <= MAX_NEW_BUCKETS_PER_ADDRESS);
        for bk in &k.buckets {
            assert!(b.new_buckets[*bk].contains(&k.addr));
        }
    }
    assert_eq!(b.new_set.len(), b.size());
}

#[test]
fn a_node_id_is_learned_once_and_changed_only_by_a_proven_connection() {
    use crate::node_id::NodeId;
    let mut b = book(false);
    let src = v4(5, 6, 7, 8);
    let a = v4(1, 2, 3, 4);
    let (first, second, proven) = (NodeId([1; 20]), NodeId([2; 20]), NodeId([3; 20]));
    assert!(b.add_at(a, src, T0));
    assert!(b.add_at(a.with_id(first), src, T0 + 1), "the same address");
    assert_eq!(b.size(), 1);
    assert_eq!(b.pick(100).and_then(|p| p.id()), Some(first), "learned");
    // Another peer's claim does not replace it...
    b.add_at(a.with_id(second), src, T0 + 2);
    assert_eq!(b.selection()[0].id(), Some(first));
    // ...a connection that proved the key does.
    b.mark_good_at(&a.with_id(proven), T0 + 3);
    assert_eq!(b.pick(0).and_then(|p| p.id()), Some(proven));
    assert_eq!(b.selection()[0].id(), Some(proven));
}
