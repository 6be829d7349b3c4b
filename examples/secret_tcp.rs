//! A standalone `MConnection` over an encrypted, authenticated `SecretConnection` (no
//! Switch): each end has a node key, the handshake proves who the other end is, and the
//! MConnection then runs over the encrypted stream.
//!
//! ```text
//! cargo run --example secret_tcp
//! ```
//!
//! Needs the `secret-connection` feature (on by default).

use std::error::Error;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver};
use mconn::{
    ChannelDescriptor, ChannelId, MConnConfig, MConnection, NodeKey, PeerId, SecretConnection,
};

/// Bulk data: priority 1.
const DATA: ChannelId = 0x01;
/// Control messages: priority 5 (five times DATA's share while both have messages waiting).
const CONTROL: ChannelId = 0x02;

/// How long the handshake may wait for the other end at each read or write.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `main` waits for one message before giving up.
const PATIENCE: Duration = Duration::from_secs(10);

fn channels() -> Vec<ChannelDescriptor> {
    vec![
        ChannelDescriptor::new(DATA, 1),
        ChannelDescriptor::new(CONTROL, 5),
    ]
}

/// Runs the SecretConnection handshake on `stream` with `key`. Blocks until the other end
/// has done its half. The handshake has no deadline of its own: the socket's timeouts
/// bound each read and write (`into_transport` clears the read timeout afterwards).
fn handshake(
    stream: TcpStream,
    key: &NodeKey,
) -> Result<SecretConnection<TcpStream>, mconn::Error> {
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    // The handshake writes small frames and waits for answers: without this, each one
    // can wait for a delayed ACK.
    stream.set_nodelay(true)?;
    SecretConnection::handshake(stream, key)
}

/// One end: the connection, what it receives, and how it ended.
struct End {
    conn: MConnection,
    received: Receiver<(ChannelId, Bytes)>,
    ended: Receiver<mconn::Error>,
}

/// Starts an MConnection over a finished handshake.
fn start(secret: SecretConnection<TcpStream>) -> Result<End, Box<dyn Error>> {
    let (on_msg, received) = unbounded();
    let (on_end, ended) = unbounded();
    let conn = MConnection::with_transport(
        // The encrypted stream split into a reader and a writer, one per connection thread.
        secret.into_transport()?,
        channels(),
        MConnConfig::default(),
        move |ch, msg| {
            let _ = on_msg.send((ch, msg));
        },
        move |e| {
            let _ = on_end.send(e);
        },
    )?;
    Ok(End {
        conn,
        received,
        ended,
    })
}

/// Waits for `n` messages on `end` and prints them.
fn receive(name: &str, end: &End, n: usize) -> Result<(), Box<dyn Error>> {
    for _ in 0..n {
        let (ch, msg) = end
            .received
            .recv_timeout(PATIENCE)
            .map_err(|_| format!("{name}: no message within {PATIENCE:?}"))?;
        println!(
            "{name} received on {ch:#04x}: {}",
            String::from_utf8_lossy(&msg)
        );
    }
    Ok(())
}

/// Refuses a peer that proved a key other than the one we meant to reach: the handshake
/// only proves that the peer holds *some* key.
fn check(name: &str, secret: &SecretConnection<TcpStream>, expected: PeerId) -> Result<(), String> {
    let seen = secret.remote_id();
    println!("{name} sees the other end as {seen}");
    if seen == expected {
        Ok(())
    } else {
        Err(format!(
            "{name}: expected {expected}, the peer proved {seen}"
        ))
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // Each node's identity. A real node keeps its key across restarts:
    // NodeKey::load_or_generate("node_key.json").
    let alice_key = NodeKey::generate()?;
    let bob_key = NodeKey::generate()?;
    let (alice_id, bob_id) = (alice_key.id(), bob_key.id());
    println!("alice is {alice_id}");
    println!("bob   is {bob_id}");

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;

    // The handshake is symmetric and each side waits for the other's keys, so the two
    // ends must run at once: bob accepts and handshakes on a thread of his own.
    let bob_side = thread::Builder::new().name("bob-handshake".into()).spawn(
        move || -> Result<_, mconn::Error> {
            let (stream, _) = listener.accept()?;
            handshake(stream, &bob_key)
        },
    )?;
    let alice_secret = handshake(TcpStream::connect(addr)?, &alice_key)?;
    let bob_secret = bob_side
        .join()
        .map_err(|_| "bob's handshake thread panicked")??;

    check("alice", &alice_secret, bob_id)?;
    check("bob", &bob_secret, alice_id)?;

    let alice = start(alice_secret)?;
    let bob = start(bob_secret)?;

    alice.conn.send(DATA, "hello bob, secretly")?;
    alice.conn.send(CONTROL, "alice: ready")?;
    bob.conn.send(DATA, "hello alice, secretly")?;
    bob.conn.send(CONTROL, "bob: ready")?;

    receive("bob", &bob, 2)?;
    receive("alice", &alice, 2)?;

    // Write what is queued, then stop; bob sees the connection close.
    alice.conn.flush_stop();
    let why = bob
        .ended
        .recv_timeout(PATIENCE)
        .map_err(|_| "bob did not see alice leave")?;
    println!("bob's connection ended: {why}");
    bob.conn.stop();
    println!("done");
    Ok(())
}
