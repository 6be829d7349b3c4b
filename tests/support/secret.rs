//! Helpers for the SecretConnection tests.
#![allow(dead_code)]

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

use mconn::{NodeKey, SecretConnection};

use super::tcp_pair;

/// Two SecretConnections with fresh random node keys over one loopback connection, and
/// the keys (`(a, b, a_key, b_key)`).
pub fn secret_pair() -> (
    SecretConnection<TcpStream>,
    SecretConnection<TcpStream>,
    NodeKey,
    NodeKey,
) {
    let (sa, sb) = tcp_pair();
    let ka = NodeKey::generate().expect("key");
    let kb = NodeKey::generate().expect("key");
    let kb2 = kb.clone();
    let t = std::thread::spawn(move || SecretConnection::handshake(sb, &kb2));
    let a = SecretConnection::handshake(sa, &ka).expect("handshake a");
    let b = t.join().expect("thread").expect("handshake b");
    assert_eq!(a.remote_pubkey(), kb.public_key());
    assert_eq!(b.remote_pubkey(), ka.public_key());
    (a, b, ka, kb)
}

#[allow(unused_imports)]
pub use super::common::Recorder;

/// Whether an error only means "retry later" (as the MConnection treats it).
pub fn is_stall(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Writes all of `data` the way the MConnection's send thread does: a stall is retried
/// with the same remaining bytes, `Ok(n)` advances by `n`; then flushes, retrying stalls.
/// Returns how many stalls were seen.
pub fn write_like_mconn<W: Write + ?Sized>(w: &mut W, data: &[u8]) -> io::Result<usize> {
    let mut stalls = 0;
    let mut at = 0;
    while at < data.len() {
        match w.write(&data[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if is_stall(&e) => {
                stalls += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(stalls + flush_like_mconn(w)?)
}

/// Flushes, retrying stalls; returns how many stalls were seen.
pub fn flush_like_mconn<W: Write + ?Sized>(w: &mut W) -> io::Result<usize> {
    let mut stalls = 0;
    loop {
        match w.flush() {
            Ok(()) => return Ok(stalls),
            Err(e) if is_stall(&e) => {
                stalls += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
    }
}
