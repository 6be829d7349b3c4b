//! What `status()` reports about a connection and its channels.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::shared::Shared;
use crate::error::ChannelId;

/// A snapshot of one connection. Taking it never waits for the I/O threads.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionStatus {
    /// Time since the connection started.
    pub duration: Duration,
    /// Whether the connection is still running (not stopping or stopped).
    pub running: bool,
    /// Bytes written to the transport (packet bytes, after batching).
    pub bytes_sent: u64,
    /// Bytes read from the transport.
    pub bytes_received: u64,
    /// Current send rate, bytes per second (moving average, one-second half-life).
    pub send_rate: f64,
    /// Current receive rate, bytes per second.
    pub recv_rate: f64,
    /// The round-trip time of our last ping that the peer answered with a pong: from the
    /// moment the send thread decided to ping to the moment the pong was decoded, so it
    /// includes the peer's queues. `None` until the first pong. We ping every
    /// `ping_interval`, whether or not other traffic flows.
    pub rtt: Option<Duration>,
    /// Pings we sent.
    pub pings_sent: u64,
    /// Pongs the peer sent (answers to our pings, or not).
    pub pongs_received: u64,
    /// Pings the peer sent.
    pub pings_received: u64,
    /// Pongs we sent; fewer than `pings_received` when pings came faster than we answer
    /// (pongs are coalesced and rate-limited).
    pub pongs_sent: u64,
    /// One entry per channel, in the order they were declared.
    pub channels: Vec<ChannelStatus>,
}

/// A snapshot of one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStatus {
    /// The channel id.
    pub id: ChannelId,
    /// Its priority.
    pub priority: u32,
    /// Its send queue's capacity.
    pub send_queue_capacity: usize,
    /// Messages waiting in its send queue (not counting one being sent, nor those its
    /// callers encoded into the send thread's next batch, which are counted as sent once
    /// the send thread takes them).
    pub send_queue_size: usize,
    /// Wire bytes sent recently (decays ×0.8 every 2 s); what the scheduler compares.
    pub recently_sent: u64,
    /// Whole messages sent.
    pub messages_sent: u64,
    /// Message bytes sent.
    pub bytes_sent: u64,
    /// Whole messages received.
    pub messages_received: u64,
    /// Message bytes received.
    pub bytes_received: u64,
}

/// Reads a connection's status from what its threads share, at `now`.
pub(crate) fn snapshot(s: &Shared, now: Instant) -> ConnectionStatus {
    let pings = s.pings.counts();
    ConnectionStatus {
        duration: now.duration_since(s.epoch),
        running: s.is_running(),
        bytes_sent: s.bytes_sent.load(Relaxed),
        bytes_received: s.bytes_recv.load(Relaxed),
        send_rate: s.send_meter.lock().rate(now),
        recv_rate: s.recv_meter.lock().rate(now),
        rtt: pings.rtt,
        pings_sent: pings.pings_sent,
        pongs_received: pings.pongs_received,
        pings_received: pings.pings_received,
        pongs_sent: pings.pongs_sent,
        channels: s
            .channels
            .iter()
            .map(|c| ChannelStatus {
                id: c.id,
                priority: c.priority,
                send_queue_capacity: c.capacity,
                send_queue_size: c.tx.len(),
                recently_sent: c.counters.send.recently_sent.load(Relaxed),
                messages_sent: c.counters.send.msgs_sent.load(Relaxed),
                bytes_sent: c.counters.send.bytes_sent.load(Relaxed),
                messages_received: c.counters.recv.msgs_recv.load(Relaxed),
                bytes_received: c.counters.recv.bytes_recv.load(Relaxed),
            })
            .collect(),
    }
}
