//! The MConnection: many prioritised channels multiplexed over one connection. This file
//! is the handle; the send side is `outbox.rs` + `send.rs` (+ `send_timing.rs`), the
//! receive side `inbox.rs` + `recv.rs`, and what they share `shared.rs`.

pub mod codec;
pub(crate) mod config;
pub mod wire;

mod batch;
mod channel;
mod enqueue;
mod flowrate;
mod handle;
pub(crate) mod inbox;
mod keepalive;
mod outbox;
mod ping_stats;
mod readbuf;
mod recv;
mod schedule;
mod send;
mod send_timing;
mod shared;
mod stage;
mod status;

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{bounded, select};

use self::channel::{ChannelCounters, SendChannel};
pub(crate) use self::config::MAX_QUEUE_CAPACITY;
pub use self::config::{ChannelDescriptor, MConnConfig};
use self::handle::Handle;
pub use self::handle::WeakMConnection;
use self::inbox::Inbox;
use self::outbox::{Outbox, OutboxParts};
use self::recv::{OnError, OnReceive};
use self::shared::{ChannelHandle, Shared, SharedParts};
use self::stage::Stage;
pub use self::status::{ChannelStatus, ConnectionStatus};
use crate::error::{ChannelId, Error};
use crate::send_error::{SendError, TrySendError};
use crate::threads;
pub use crate::transport::Transport;

/// A running multiplex connection: many prioritised channels over one stream.
///
/// # Threads
///
/// Each connection owns two named OS threads, `mconn-send` and `mconn-recv`, with
/// `io_thread_stack_size` stacks. `on_receive` and `on_error` run on the recv thread.
/// [`send`](MConnection::send) may write directly from the caller's thread when the
/// connection is idle (nothing queued, nothing unwritten), which saves a thread hop for a
/// lone message. Otherwise a message of one packet is usually encoded by the caller
/// straight into the send thread's next batch (the *stage*: at most `send_buffer_size`
/// bytes and never more than 128 KiB, one channel at a time, and only while no channel
/// has messages queued, so the scheduler's priorities still decide between busy
/// channels and each channel keeps its order); any other message waits in its
/// channel's bounded queue.
///
/// # Handles
///
/// `MConnection` is a cheap `Clone` handle (`Send + Sync`). Dropping the last handle
/// stops the connection. A callback that needs the connection should hold a
/// [`WeakMConnection`], so the connection does not keep itself alive.
///
/// # Example
///
/// Two channels over one TCP connection, without a switch (`examples/mconn_tcp.rs` is
/// the same as a program). Both ends must declare the same channel table: the v0.12
/// protocol has no way to check it, and a message on a channel the other end lacks
/// stops the connection.
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use mconn::{ChannelDescriptor, MConnConfig, MConnection};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Consensus-like traffic first (priority 10), bulk after (priority 1).
/// let channels = || vec![ChannelDescriptor::new(0x20, 10), ChannelDescriptor::new(0x30, 1)];
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// let (tx, received) = crossbeam_channel::unbounded();
/// let on_receive = move |ch, msg| { let _ = tx.send((ch, msg)); }; // recv thread, in order
/// let on_error = |err| eprintln!("connection failed: {err}"); // once, if it fails
/// let config = MConnConfig::default();
/// let server = MConnection::new(listener.accept()?.0, channels(), config.clone(), on_receive, on_error)?;
/// let client = MConnection::new(client, channels(), config, |_, _| {}, |_| {})?;
/// client.send(0x30, vec![0u8; 100_000])?; // chopped into packets, reassembled
/// client.send(0x20, "vote")?;
/// let mut got: Vec<_> = received.iter().take(2).collect();
/// got.sort_by_key(|(ch, _)| *ch);
/// assert_eq!((got[0].0, &got[0].1[..], got[1].1.len()), (0x20, &b"vote"[..], 100_000));
/// client.flush_stop(); // sends what is queued, then stops
/// server.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MConnection {
    inner: Arc<Handle>,
}

impl MConnection {
    /// Starts a connection over a TCP stream: validates the config and channel table,
    /// sets `TCP_NODELAY` and a write timeout, and starts the send and recv threads.
    ///
    /// `on_receive(channel, message)` is called on the recv thread once per complete
    /// message, in order per channel. `on_error(error)` is called once, on the recv thread,
    /// after the connection has stopped because of an error (never after a local `stop`).
    ///
    /// Errors: [`Error::InvalidConfig`] for a bad config or channel table, [`Error::Io`]
    /// if the socket cannot be set up or a thread cannot be spawned.
    pub fn new<R, E>(
        stream: TcpStream,
        channels: Vec<ChannelDescriptor>,
        config: MConnConfig,
        on_receive: R,
        on_error: E,
    ) -> Result<Self, Error>
    where
        R: FnMut(ChannelId, Bytes) + Send + 'static,
        E: FnOnce(Error) + Send + 'static,
    {
        config.validate(&channels)?;
        let transport = Transport::tcp(stream, config.send_timeout)?;
        Self::with_transport(transport, channels, config, on_receive, on_error)
    }

    /// Starts a connection over any [`Transport`] (for example an encrypted stream). Same
    /// contract as [`new`](Self::new).
    pub fn with_transport<R, E>(
        transport: Transport,
        channels: Vec<ChannelDescriptor>,
        config: MConnConfig,
        on_receive: R,
        on_error: E,
    ) -> Result<Self, Error>
    where
        R: FnMut(ChannelId, Bytes) + Send + 'static,
        E: FnOnce(Error) + Send + 'static,
    {
        config.validate(&channels)?;
        let now = Instant::now();
        let mut handles = Vec::new();
        let mut send_chans = Vec::new();
        let mut all_counters = Vec::new();
        for d in &channels {
            let (tx, rx) = bounded(d.send_queue_capacity);
            let counters = Arc::new(ChannelCounters::default());
            send_chans.push(SendChannel::new(d.id, d.priority, rx, counters.clone()));
            all_counters.push(counters.clone());
            handles.push(ChannelHandle {
                id: d.id,
                priority: d.priority,
                capacity: d.send_queue_capacity,
                tx,
                counters,
            });
        }
        let Transport {
            reader,
            writer,
            closer,
            peer_addr,
            vectored,
        } = transport;
        // Boxed: moved by value into the recv thread, its channel index (512 bytes) was
        // copied into several frames of a thread with a small stack, and the bench
        // measured one more stack page touched per connection (35 -> 38 KiB per peer).
        let inbox = Box::new(Inbox::with_counters(&channels, &config, all_counters));
        let batch = flowrate::batch_size(config.send_buffer_size, config.send_rate);
        let outbox = Outbox::new(
            OutboxParts {
                channels: send_chans,
                writer,
                codec: config.codec.clone(),
                max_payload: config.max_packet_msg_payload_size,
                batch,
                vectored,
            },
            now,
        );
        let (wake_tx, wake_rx) = bounded(1);
        let (send_done_tx, send_done) = bounded::<()>(0);
        let (recv_done_tx, recv_done) = bounded::<()>(0);
        let stack = config.io_thread_stack_size;
        let shared = Arc::new(Shared::new(SharedParts {
            config,
            peer_addr,
            wake_tx,
            outbox,
            stage: Stage::new(batch),
            channels: handles,
            closer,
            send_done,
            recv_done,
        }));

        let s = shared.clone();
        let send_thread = threads::spawn("mconn-send", Some(stack), move || {
            let _done = send_done_tx;
            send::run(s, wake_rx);
        });
        let send_thread = match send_thread {
            Ok(h) => h,
            Err(e) => {
                shared.begin_stop(None);
                shared.thread_exited();
                shared.thread_exited();
                return Err(e.into());
            }
        };
        let s = shared.clone();
        let on_receive: OnReceive = Box::new(on_receive);
        let on_error: OnError = Box::new(on_error);
        let recv_thread = threads::spawn("mconn-recv", Some(stack), move || {
            let _done = recv_done_tx;
            recv::run(s, reader, inbox, on_receive, on_error);
        });
        let recv_thread = match recv_thread {
            Ok(h) => h,
            Err(e) => {
                shared.begin_stop(None);
                shared.thread_exited();
                let _ = send_thread.join();
                return Err(e.into());
            }
        };
        Ok(MConnection {
            inner: Arc::new(Handle::new(shared, vec![send_thread, recv_thread])),
        })
    }

    /// Queues `msg` on channel `ch`, waiting up to `send_timeout` for room in the queue.
    /// A message of one packet (up to `max_packet_msg_payload_size` bytes) is usually
    /// encoded at once into the send thread's next batch instead, needing no queue slot
    /// (up to `send_buffer_size` bytes of such messages, at most 128 KiB, wait there; see
    /// the type's docs).
    /// On an idle connection the message may instead be written directly from this thread
    /// (a write stalled by a full socket is handed to the send thread after at most 250 ms).
    ///
    /// Errors hand the message back: [`SendError::UnknownChannel`], [`SendError::Closed`]
    /// (stopped, stopping or flushing), [`SendError::Timeout`].
    pub fn send(&self, ch: ChannelId, msg: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_timeout(ch, msg, self.inner.shared.config.send_timeout)
    }

    /// Like [`send`](Self::send), waiting at most `timeout` instead of `send_timeout`.
    pub fn send_timeout(
        &self,
        ch: ChannelId,
        msg: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        let msg = msg.into();
        let s = &self.inner.shared;
        let Some(idx) = s.channel_index(ch) else {
            return Err(SendError::UnknownChannel(ch, msg));
        };
        // A quick refusal; the check that counts is made again where the message is
        // staged or registered as pending (see `enqueue.rs`).
        if !s.is_running() {
            return Err(SendError::Closed(msg));
        }
        match send::direct(s, idx, msg, timeout) {
            Ok(result) => result,
            Err(msg) => enqueue::send(s, idx, msg, timeout),
        }
    }

    /// Queues `msg` on channel `ch` (or encodes it into the next batch, as
    /// [`send`](Self::send) does) if there is room right now; never blocks.
    ///
    /// Errors hand the message back: [`TrySendError::UnknownChannel`],
    /// [`TrySendError::Closed`], [`TrySendError::Full`].
    pub fn try_send(&self, ch: ChannelId, msg: impl Into<Bytes>) -> Result<(), TrySendError> {
        let msg = msg.into();
        let s = &self.inner.shared;
        let Some(idx) = s.channel_index(ch) else {
            return Err(TrySendError::UnknownChannel(ch, msg));
        };
        if !s.is_running() {
            return Err(TrySendError::Closed(msg));
        }
        enqueue::try_send(s, idx, msg)
    }

    /// Whether a `try_send` on `ch` of a message of up to one packet would find room now
    /// (false for an unknown channel or a stopped connection).
    pub fn can_send(&self, ch: ChannelId) -> bool {
        let s = &self.inner.shared;
        s.is_running() && s.channel_index(ch).is_some_and(|i| enqueue::has_room(s, i))
    }

    /// Whether the connection is running (not flushing, stopping or stopped).
    pub fn is_running(&self) -> bool {
        self.inner.shared.is_running()
    }

    /// The remote address, if the transport knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.shared.peer_addr
    }

    /// A snapshot of the connection and its channels. Never waits for the I/O threads.
    pub fn status(&self) -> ConnectionStatus {
        status::snapshot(&self.inner.shared, Instant::now())
    }

    /// Stops taking sends, writes everything already queued (waiting at most
    /// `send_timeout`), then stops. Blocks until done.
    pub fn flush_stop(&self) {
        let s = &self.inner.shared;
        if s.begin_flush() {
            self.wait_flushed(crate::time::after(s.config.send_timeout));
        }
        self.stop();
    }

    /// Starts a flush (no more sends; the send thread writes what is queued) without
    /// waiting. False if the connection was not running.
    pub(crate) fn begin_flush(&self) -> bool {
        self.inner.shared.begin_flush()
    }

    /// Waits until a flush has written everything, the send thread has stopped, or
    /// `deadline` has come.
    pub(crate) fn wait_flushed(&self, deadline: Instant) {
        let s = &self.inner.shared;
        select! {
            recv(s.flushed.signal()) -> _ => {}
            recv(s.send_done) -> _ => {}
            recv(crossbeam_channel::at(deadline)) -> _ => {}
        }
    }

    /// Stops the connection now: shuts the transport down and waits for both threads to
    /// exit. Idempotent. Does not call `on_error`.
    ///
    /// From inside a callback (`on_receive` or `on_error` of any connection, or a reactor
    /// of any switch) it starts the stop and returns without waiting for the threads, so
    /// that callbacks stopping each other cannot deadlock: the threads exit on their own
    /// and are joined by the next `stop()` outside a callback, or by the last handle's
    /// drop. An `on_receive` already running may finish after such a `stop()` returns;
    /// no new one starts.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Starts stopping (shuts the transport down, wakes both threads) without waiting.
    pub(crate) fn begin_stop(&self) {
        self.inner.shared.begin_stop(None);
    }

    /// A channel that becomes ready (disconnected) as soon as the connection starts
    /// stopping. A blocking `on_receive` can `select!` on it so that it never holds up a
    /// `stop()`.
    pub fn stop_signal(&self) -> crossbeam_channel::Receiver<()> {
        self.inner.shared.stopping.signal().clone()
    }

    /// A handle that does not keep the connection alive.
    pub fn downgrade(&self) -> WeakMConnection {
        WeakMConnection {
            inner: Arc::downgrade(&self.inner),
        }
    }
}

impl WeakMConnection {
    /// The connection, if a strong handle still exists.
    pub fn upgrade(&self) -> Option<MConnection> {
        self.inner.upgrade().map(|inner| MConnection { inner })
    }
}

impl fmt::Debug for MConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MConnection")
            .field("peer_addr", &self.peer_addr())
            .field("running", &self.is_running())
            .finish()
    }
}
