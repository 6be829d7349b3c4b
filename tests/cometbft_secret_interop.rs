//! CometBFT's SecretConnection against tendermint-rs's (`tendermint-p2p` 0.41, which
//! was run against CometBFT v0.34's Go code): a loopback handshake whichever side dials,
//! both sides learning the right key, then megabytes of data both ways at once in
//! writes of random sizes (smaller and larger than a frame), compared byte for byte.
#![cfg(feature = "cometbft")]

mod support;

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use mconn::cometbft::SecretConnection;
use mconn::NodeKey;
use support::{watchdog, Rng};
use tendermint_p2p::secret_connection::{SecretConnection as TheirConnection, Version};

const LIMIT: Duration = Duration::from_secs(240);
/// Bytes each side sends.
const EACH_WAY: usize = 2 << 20;

/// `len` bytes from `seed`.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// The sizes of the writes that send `total` bytes: tiny, around a frame (1023, 1024,
/// 1025 included), a few frames, and more than one `write` call seals (64 KiB).
fn write_sizes(total: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut sizes = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = match rng.below(5) {
            0 => 1 + rng.below(100) as usize,
            1 => 1020 + rng.below(10) as usize,
            2 => 1 + rng.below(5000) as usize,
            3 => 60_000 + rng.below(20_000) as usize,
            _ => 1 + rng.below(1024) as usize,
        };
        let n = n.min(left);
        sizes.push(n);
        left -= n;
    }
    sizes
}

/// tendermint-rs's side: handshake, then write `out` from one thread while reading
/// `expect_len` bytes on another. Returns the peer key it authenticated and what it
/// read.
fn their_side(
    stream: TcpStream,
    seed: [u8; 32],
    out: Vec<u8>,
    expect_len: usize,
) -> ([u8; 32], Vec<u8>) {
    let key = ed25519_consensus::SigningKey::from(seed);
    let conn = TheirConnection::new(stream, key, Version::V0_34).expect("their handshake");
    let remote = conn
        .remote_pubkey()
        .ed25519()
        .expect("an ed25519 key")
        .to_bytes();
    let (mut sender, receiver) = conn.split().expect("their split");
    let writer = thread::spawn(move || {
        let mut at = 0;
        for n in write_sizes(out.len(), 7) {
            sender.write_all(&out[at..at + n]).expect("their write");
            at += n;
        }
        sender.flush().expect("their flush");
    });
    // A read shorter than a frame's data panics inside tendermint-p2p: a BufReader of
    // at least 1024 bytes always reads whole frames.
    let mut reader = BufReader::with_capacity(4096, receiver);
    let mut got = vec![0u8; expect_len];
    reader.read_exact(&mut got).expect("their read");
    writer.join().expect("their writer");
    (remote, got)
}

/// Our side: write `out` in random sizes, reading between writes under a short read
/// timeout (a stalled read must resume mid-frame), then read the rest.
fn our_side(sc: &mut SecretConnection<TcpStream>, out: &[u8], expect_len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(expect_len);
    let mut buf = vec![0u8; 3000];
    sc.get_ref()
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut at = 0;
    for n in write_sizes(out.len(), 11) {
        sc.write_all(&out[at..at + n]).unwrap();
        sc.flush().unwrap();
        at += n;
        loop {
            match sc.read(&mut buf) {
                // tendermint-rs closes once it has read everything and written
                // everything, which may all sit in the socket buffers by now; the
                // read below says whether anything was missing.
                Ok(0) => break,
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => panic!("our read: {e}"),
            }
        }
    }
    sc.get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = vec![0u8; expect_len - got.len()];
    sc.read_exact(&mut rest).unwrap();
    got.extend_from_slice(&rest);
    got
}

fn session(we_dial: bool) {
    let ours_key = NodeKey::from_secret(b"mconn");
    let their_seed = [0x17u8; 32];
    let their_pub = ed25519_consensus::SigningKey::from(their_seed)
        .verification_key()
        .to_bytes();
    let (to_them, to_us) = (data(EACH_WAY, 1), data(EACH_WAY + 333, 2));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect_or_accept = move |dial: bool| -> TcpStream {
        if dial {
            TcpStream::connect(addr).unwrap()
        } else {
            listener.accept().unwrap().0
        }
    };
    let (our_stream, their_stream) = if we_dial {
        let s = TcpStream::connect(addr).unwrap();
        (s, connect_or_accept(false))
    } else {
        let theirs = TcpStream::connect(addr).unwrap();
        (connect_or_accept(false), theirs)
    };
    // Their side blocks in its reads with no timeout of its own: bound it too.
    their_stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let (out, len) = (to_us.clone(), to_them.len());
    let theirs = thread::spawn(move || their_side(their_stream, their_seed, out, len));

    our_stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sc = SecretConnection::handshake(our_stream, &ours_key).unwrap();
    assert_eq!(sc.remote_pubkey(), their_pub, "we learn their key");
    let got = our_side(&mut sc, &to_them, to_us.len());
    let (they_saw, they_got) = theirs.join().expect("their side");
    assert_eq!(they_saw, ours_key.public_key(), "they learn our key");
    assert!(got == to_us, "what tendermint-rs wrote arrives intact");
    assert!(they_got == to_them, "what we wrote arrives intact");
}

#[test]
fn we_dial_tendermint_rs() {
    let _w = watchdog("cometbft_interop_we_dial", LIMIT);
    session(true);
}

#[test]
fn tendermint_rs_dials_us() {
    let _w = watchdog("cometbft_interop_they_dial", LIMIT);
    session(false);
}
