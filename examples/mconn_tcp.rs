//! A standalone `MConnection` over a plain `TcpStream`: no Switch, no handshake, no
//! encryption. Two ends in one process, two channels, messages both ways.
//!
//! ```text
//! cargo run --example mconn_tcp
//! ```
//!
//! Both ends must use the same channel table. `on_receive` runs on the connection's
//! `mconn-recv` thread (a small stack): keep it short, here it only hands the message to
//! a crossbeam channel that `main` reads.

use std::error::Error;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver};
use mconn::{ChannelDescriptor, ChannelId, MConnConfig, MConnection};

/// Bulk data: priority 1.
const DATA: ChannelId = 0x01;
/// Control messages: priority 5. While both channels have messages waiting, the send
/// thread gives this one five times the bandwidth of DATA, packet by packet, so a short
/// control message is not stuck behind a long bulk one.
const CONTROL: ChannelId = 0x02;

/// How long `main` waits for one message before giving up.
const PATIENCE: Duration = Duration::from_secs(10);

fn channels() -> Vec<ChannelDescriptor> {
    vec![
        // The largest message this end accepts on the channel: one that grows past it
        // stops the connection with Error::MessageTooLarge, so memory stays bounded.
        ChannelDescriptor::new(DATA, 1).recv_message_capacity(1 << 20),
        ChannelDescriptor::new(CONTROL, 5),
    ]
}

/// One end: the connection, what it receives, and how it ended.
struct End {
    conn: MConnection,
    received: Receiver<(ChannelId, Bytes)>,
    ended: Receiver<mconn::Error>,
}

/// Starts an MConnection on `stream`: its two threads run from here on.
fn start(stream: TcpStream) -> Result<End, mconn::Error> {
    let (on_msg, received) = unbounded();
    let (on_end, ended) = unbounded();
    let conn = MConnection::new(
        stream,
        channels(),
        MConnConfig::default(),
        // Called once per complete message, in order per channel.
        move |ch, msg| {
            let _ = on_msg.send((ch, msg));
        },
        // Called at most once, if the connection fails (never after our own stop).
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
        if msg.len() > 64 {
            println!("{name} received on {ch:#04x}: {} bytes", msg.len());
        } else {
            println!(
                "{name} received on {ch:#04x}: {}",
                String::from_utf8_lossy(&msg)
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    // A plain TCP connection over loopback. The connect completes in the listener's
    // backlog, so one thread can connect and then accept.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr)?;
    let (server, from) = listener.accept()?;
    println!("bob listens on {addr}; alice connected from {from}");

    let alice = start(client)?;
    let bob = start(server)?;

    // `send` waits (up to `send_timeout`, 10 s by default) for room in the channel's
    // queue; on error it hands the message back. `&'static str`, `Vec<u8>` and `Bytes`
    // all convert into the `Bytes` it sends.
    alice.conn.send(DATA, "hello bob")?;
    alice.conn.send(DATA, vec![7u8; 100_000])?; // cut into 1024-byte packets, reassembled
    alice.conn.send(CONTROL, "alice: ready")?;
    bob.conn.send(DATA, "hello alice")?;
    bob.conn.send(CONTROL, "bob: ready")?;

    receive("bob", &bob, 3)?;
    receive("alice", &alice, 2)?;

    let st = alice.conn.status();
    println!(
        "alice sent {} bytes and received {} bytes",
        st.bytes_sent, st.bytes_received
    );

    // flush_stop writes what is still queued (within send_timeout), then stops. A
    // local stop never calls on_error; the other end sees the connection close.
    alice.conn.flush_stop();
    let why = bob
        .ended
        .recv_timeout(PATIENCE)
        .map_err(|_| "bob did not see alice leave")?;
    println!("bob's connection ended: {why}");
    // Joins bob's threads (dropping the last handle would too).
    bob.conn.stop();
    println!("done");
    Ok(())
}
