//! The recv thread's loop: read into the [`Inbox`] (which decodes, checks limits and
//! reassembles), have pings answered, and deliver each complete message to
//! `on_receive`, in order per channel.
//!
//! It never blocks on the send thread: a ping only sets a flag and wakes it.

use std::cell::Cell;
use std::io::{self, Read};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use log::{debug, trace, warn};

use super::flowrate::{Grant, TokenBucket};
use super::inbox::{Event, Inbox};
use super::readbuf::MAX_READ_BLOCK;
use super::shared::{ConnState, Shared};
use crate::error::{ChannelId, Error};
use crate::threads;

/// Called with each complete message.
pub(crate) type OnReceive = Box<dyn FnMut(ChannelId, Bytes) + Send>;
/// Called once with the error that stopped the connection.
pub(crate) type OnError = Box<dyn FnOnce(Error) + Send>;

/// The recv thread: runs until the connection stops, then reports the error (if the
/// connection stopped because of one) once the send thread has finished too.
///
/// A panic (in `on_receive`, in the transport's reader, or in our own code) stops the
/// connection with [`Error::Panicked`], reported like any other error.
pub(crate) fn run(
    shared: Arc<Shared>,
    mut reader: Box<dyn Read + Send>,
    mut inbox: Box<Inbox>,
    mut on_receive: OnReceive,
    on_error: OnError,
) {
    threads::mark_callback_thread();
    let result = threads::catch(|| recv_loop(&shared, &mut *reader, &mut inbox, &mut on_receive))
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

fn recv_loop(
    shared: &Shared,
    reader: &mut (dyn Read + Send),
    inbox: &mut Inbox,
    on_receive: &mut OnReceive,
) -> Result<(), Error> {
    let mut rate = shared
        .config
        .recv_rate
        .map(|r| TokenBucket::new(r, Instant::now()));
    loop {
        // Everything complete in the buffer first.
        shared.set_recv_busy(true);
        let handled = deliver(shared, inbox, on_receive);
        shared.set_recv_busy(false);
        handled?;
        if shared.state() == ConnState::Stopping {
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
        let n = match inbox.read_from(reader, max) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        shared.mark_received(now);
        if n == 0 {
            return Err(inbox.closed_error());
        }
        if let Some(bucket) = rate.as_mut() {
            bucket.consume(n);
        }
        shared.bytes_recv.fetch_add(n as u64, Relaxed);
        shared.recv_meter.lock().record(now, n);
    }
}

/// Acts on every event the buffered bytes complete; returns when more bytes are needed.
/// One unwind guard for the whole batch of events, not one per message: a panic is
/// told apart by whether it came from inside `on_receive`.
fn deliver(shared: &Shared, inbox: &mut Inbox, on_receive: &mut OnReceive) -> Result<(), Error> {
    let in_callback = Cell::new(false);
    threads::catch(|| {
        while let Some(event) = inbox.next_event()? {
            match event {
                Event::Ping => {
                    trace!("<- ping");
                    shared.want_pong();
                }
                Event::Pong => {
                    trace!("<- pong");
                    shared.pong_received(Instant::now());
                }
                Event::Message(channel, msg) => {
                    trace!("<- msg on {channel:#04x}, {} bytes", msg.len());
                    if shared.state() == ConnState::Stopping {
                        return Ok(());
                    }
                    in_callback.set(true);
                    on_receive(channel, msg);
                    in_callback.set(false);
                }
            }
        }
        Ok(())
    })
    .unwrap_or_else(|p| {
        Err(Error::Panicked(if in_callback.get() {
            format!("on_receive panicked: {p}")
        } else {
            format!("the mconn-recv thread panicked: {p}")
        }))
    })
}
