//! The recv thread's loop: read, decode (limits checked), answer pings, reassemble, and
//! deliver each complete message to `on_receive`, in order per channel.
//!
//! It never blocks on the send thread: a ping only sets a flag and wakes it.

use std::io::{self, Read};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use log::{debug, trace, warn};

use super::channel::Reassembly;
use super::flowrate::{Grant, TokenBucket};
use super::readbuf::{ReadBuf, MAX_READ_BLOCK, MIN_READ_BLOCK};
use super::shared::Shared;
use super::wire::{self, PacketRef};
use crate::error::{ChannelId, Error};
use crate::threads;

/// Called with each complete message.
pub type OnReceive = Box<dyn FnMut(ChannelId, Bytes) + Send>;
/// Called once with the error that stopped the connection.
pub type OnError = Box<dyn FnOnce(Error) + Send>;

/// The recv thread: runs until the connection stops, then reports the error (if the
/// connection stopped because of one) once the send thread has finished too.
///
/// A panic (in `on_receive`, in the transport's reader, or in our own code) stops the
/// connection with [`Error::Panicked`], reported like any other error.
pub(crate) fn run(
    shared: Arc<Shared>,
    mut reader: Box<dyn Read + Send>,
    mut chans: Vec<Reassembly>,
    mut on_receive: OnReceive,
    on_error: OnError,
) {
    threads::mark_callback_thread();
    let result = threads::catch(|| recv_loop(&shared, &mut *reader, &mut chans, &mut on_receive))
        .unwrap_or_else(|p| {
            Err(Error::Panicked(format!(
                "the mconn-recv thread panicked: {p}"
            )))
        });
    if let Err(e) = result {
        shared.begin_stop(Some(e));
    }
    // Dropping the user's closure and the transport may run user code too.
    if let Err(p) = threads::catch(move || drop((reader, on_receive))) {
        warn!("dropping on_receive or the transport's reader panicked: {p}");
    }
    // on_error comes after the whole connection has stopped.
    let _ = shared.send_done.recv();
    let error = shared.take_error();
    shared.thread_exited();
    if let Some(e) = error {
        let addr = shared.peer_addr.map(|a| a.to_string()).unwrap_or_default();
        if e.is_protocol_violation() {
            warn!("connection {addr} stopped: peer misbehaved: {e}");
        } else {
            debug!("connection {addr} stopped: {e}");
        }
        if let Err(p) = threads::catch(move || on_error(e)) {
            warn!("on_error panicked: {p}");
        }
    }
}

/// A packet decoded from the read buffer, with its payload as offsets so the buffer can
/// be mutated afterwards.
enum Decoded {
    Ping,
    Pong,
    Msg {
        channel: ChannelId,
        eof: bool,
        header: usize,
        len: usize,
    },
}

fn next_packet(rb: &ReadBuf, max_total: usize) -> Result<Option<Decoded>, Error> {
    Ok(
        wire::decode_packet(rb.data(), max_total)?.map(|(p, used)| match p {
            PacketRef::Ping => Decoded::Ping,
            PacketRef::Pong => Decoded::Pong,
            PacketRef::Msg {
                channel,
                eof,
                payload,
            } => Decoded::Msg {
                channel,
                eof,
                header: used - payload.len(),
                len: payload.len(),
            },
        }),
    )
}

fn recv_loop(
    shared: &Shared,
    reader: &mut (dyn Read + Send),
    chans: &mut [Reassembly],
    on_receive: &mut OnReceive,
) -> Result<(), Error> {
    let mut rb = ReadBuf::new(MIN_READ_BLOCK, MAX_READ_BLOCK);
    let mut rate = shared
        .config
        .recv_rate
        .map(|r| TokenBucket::new(r, Instant::now()));
    loop {
        // Everything complete in the buffer first.
        shared.set_recv_busy(true);
        let handled = handle_packets(shared, &mut rb, chans, on_receive);
        shared.set_recv_busy(false);
        handled?;
        if shared.state() == super::shared::STOPPING {
            return Ok(());
        }

        let mut max = usize::MAX;
        if let Some(bucket) = rate.as_mut() {
            match bucket.grant(Instant::now(), MAX_READ_BLOCK) {
                Grant::Now(n) => max = n,
                Grant::Wait(d) => {
                    std::thread::sleep(d);
                    continue;
                }
            }
        }
        let n = match rb.read_from(reader, max) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        shared.mark_received(now);
        if n == 0 {
            return Err(if rb.data().is_empty() {
                Error::PeerClosed
            } else {
                io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed inside a packet").into()
            });
        }
        if let Some(bucket) = rate.as_mut() {
            bucket.consume(n);
        }
        shared.bytes_recv.fetch_add(n as u64, Relaxed);
        shared.recv_meter.lock().record(now, n);
    }
}

/// Handles every complete packet in `rb`; returns when it needs more bytes.
fn handle_packets(
    shared: &Shared,
    rb: &mut ReadBuf,
    chans: &mut [Reassembly],
    on_receive: &mut OnReceive,
) -> Result<(), Error> {
    while let Some(pkt) = next_packet(rb, shared.max_total)? {
        match pkt {
            Decoded::Ping => {
                trace!("<- ping");
                rb.consume(1);
                if !shared.pong_wanted.swap(true, AcqRel) {
                    shared.wake();
                }
            }
            Decoded::Pong => {
                trace!("<- pong");
                rb.consume(1);
            }
            Decoded::Msg {
                channel,
                eof,
                header,
                len,
            } => {
                let idx = shared
                    .channel_index(channel)
                    .ok_or(Error::UnknownChannel { channel })?;
                let ch = &mut chans[idx];
                ch.check(len)?;
                let msg = if eof && ch.is_empty() {
                    // The whole message is this packet: hand out the bytes as read.
                    rb.consume(header);
                    Some(rb.take(len))
                } else {
                    ch.push(&rb.data()[header..header + len]);
                    rb.consume(header + len);
                    eof.then(|| ch.take())
                };
                if let Some(msg) = msg {
                    trace!("<- msg on {channel:#04x}, {} bytes", msg.len());
                    ch.count(msg.len());
                    if shared.state() == super::shared::STOPPING {
                        return Ok(());
                    }
                    threads::catch(|| on_receive(channel, msg))
                        .map_err(|p| Error::Panicked(format!("on_receive panicked: {p}")))?;
                }
            }
        }
    }
    Ok(())
}
