//! [`MConnConfig`] and [`ChannelDescriptor`]: defaults (listed in the README's Configuration
//! section) and validation.
//!
//! Invalid values are an [`Error::InvalidConfig`] from the constructor, never a panic.

use std::time::Duration;

use super::codec::Codec;
use crate::error::{ChannelId, Error};

/// Go's default `SendQueueCapacity`.
pub(crate) const DEFAULT_SEND_QUEUE_CAPACITY: usize = 1;
/// The most messages any queue (a channel's send queue, a dispatch worker's queue, an
/// event channel) may hold: queues allocate their slots up front, so a huge setting
/// must be refused (or clamped), never tried.
pub(crate) const MAX_QUEUE_CAPACITY: usize = 65_536;
/// The largest reassembly buffer kept between messages (16 MiB): it is allocated at the
/// first packet, so a huge setting must be refused, not tried.
pub(crate) const MAX_RECV_BUFFER_CAPACITY: usize = 16 * 1024 * 1024;
/// Go's default `RecvBufferCapacity`.
pub(crate) const DEFAULT_RECV_BUFFER_CAPACITY: usize = 4096;
/// Go's default `RecvMessageCapacity` (21 MiB).
pub(crate) const DEFAULT_RECV_MESSAGE_CAPACITY: usize = 22_020_096;
/// Go's default `maxMsgPacketPayloadSize`.
pub(crate) const DEFAULT_MAX_PACKET_MSG_PAYLOAD_SIZE: usize = 1024;
/// Default `send_timeout` (Go's `defaultSendTimeout`).
pub(crate) const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `ping_interval` (CometBFT's).
pub(crate) const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(60);
/// Default `pong_timeout` (CometBFT's).
pub(crate) const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(45);
/// Default stack size of the send and recv threads.
pub(crate) const DEFAULT_IO_THREAD_STACK_SIZE: usize = 256 * 1024;
/// Default most bytes the send thread gathers before one write.
pub(crate) const DEFAULT_SEND_BUFFER_SIZE: usize = 512 * 1024;
/// The largest `max_packet_msg_payload_size` accepted (16 MiB). A packet is read and
/// written whole, so it bounds what one packet can make either side hold; beyond 1 KiB
/// larger packets gain little (the bench's 1 KiB messages already run at raw TCP speed).
pub(crate) const MAX_PACKET_MSG_PAYLOAD_SIZE: usize = 16 * 1024 * 1024;

/// One channel of a connection: its id and how it is scheduled and bounded.
///
/// Both ends of a connection must declare the same channel ids; a packet on an unknown
/// channel is a protocol error that stops the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelDescriptor {
    /// The channel id (one byte on the wire).
    pub id: ChannelId,
    /// Scheduling weight: a channel with priority 4 gets four times the bytes of a
    /// channel with priority 1 when both are saturated. Must be at least 1.
    pub priority: u32,
    /// Messages that may wait in this channel's send queue, besides the one being sent
    /// (1..=65 536).
    pub send_queue_capacity: usize,
    /// Initial size of the reassembly buffer; after a larger message it shrinks back
    /// (1 byte ..= 16 MiB).
    pub recv_buffer_capacity: usize,
    /// The largest message the peer may send on this channel; exactly this many bytes
    /// are accepted, one more stops the connection.
    pub recv_message_capacity: usize,
}

impl ChannelDescriptor {
    /// A channel with Go's default capacities (queue 1, buffer 4096, message 22020096).
    pub fn new(id: ChannelId, priority: u32) -> Self {
        ChannelDescriptor {
            id,
            priority,
            send_queue_capacity: DEFAULT_SEND_QUEUE_CAPACITY,
            recv_buffer_capacity: DEFAULT_RECV_BUFFER_CAPACITY,
            recv_message_capacity: DEFAULT_RECV_MESSAGE_CAPACITY,
        }
    }

    /// Sets `send_queue_capacity`.
    pub fn send_queue_capacity(mut self, n: usize) -> Self {
        self.send_queue_capacity = n;
        self
    }

    /// Sets `recv_buffer_capacity`.
    pub fn recv_buffer_capacity(mut self, n: usize) -> Self {
        self.recv_buffer_capacity = n;
        self
    }

    /// Sets `recv_message_capacity`.
    pub fn recv_message_capacity(mut self, n: usize) -> Self {
        self.recv_message_capacity = n;
        self
    }
}

/// Settings of one MConnection. `Default` is the README's Configuration table; setters chain:
///
/// ```
/// use std::time::Duration;
/// let cfg = mconn::MConnConfig::default()
///     .ping_interval(Duration::from_secs(30))
///     .pong_timeout(Duration::from_secs(10));
/// assert_eq!(cfg.send_rate, None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MConnConfig {
    /// Most bytes per second written to the socket; `None` (default) is unlimited.
    pub send_rate: Option<u64>,
    /// Most bytes per second read from the socket; `None` (default) is unlimited.
    pub recv_rate: Option<u64>,
    /// Most message bytes per packet (default 1024, at most
    /// 16 MiB). Both peers must agree: a packet over the
    /// receiver's limit stops the connection. Memory follows the packets that actually
    /// arrive: an idle connection holds a few KiB whatever this is.
    pub max_packet_msg_payload_size: usize,
    /// Extra delay before writing a batch (default zero: write as soon as no channel has
    /// more data). Go v0.12 uses 100 ms.
    pub flush_throttle: Duration,
    /// Ping the peer after this long without receiving anything (default 60 s).
    pub ping_interval: Duration,
    /// Stop with `PongTimeout` if nothing arrives this long after our ping (default 45 s).
    /// Must be shorter than `ping_interval`.
    pub pong_timeout: Duration,
    /// How long `send` waits for room in a full queue (default 10 s); also bounds
    /// `flush_stop`.
    pub send_timeout: Duration,
    /// Stack size of the send and recv threads (default 256 KiB). `on_receive` runs on
    /// the recv thread, so heavy callbacks may need more.
    pub io_thread_stack_size: usize,
    /// Most bytes the send thread gathers from the channels before one write (default
    /// 512 KiB; measured here, 64 KiB writes held 1 MiB messages to ~0.6 × raw TCP and
    /// 512 KiB writes reach ~0.9 ×). One-packet messages that callers encode themselves
    /// (the stage, see [`MConnection`](crate::MConnection)) fill at most 128 KiB of it.
    /// The buffer grows only as needed and is given back when the connection goes idle.
    pub send_buffer_size: usize,
    /// How packets look on the wire (default [`GoWire`](crate::protocol::GoWire), Tendermint
    /// v0.12's go-wire packets). Both peers must use the same.
    pub codec: Codec,
}

impl Default for MConnConfig {
    fn default() -> Self {
        MConnConfig {
            send_rate: None,
            recv_rate: None,
            max_packet_msg_payload_size: DEFAULT_MAX_PACKET_MSG_PAYLOAD_SIZE,
            flush_throttle: Duration::ZERO,
            ping_interval: DEFAULT_PING_INTERVAL,
            pong_timeout: DEFAULT_PONG_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            io_thread_stack_size: DEFAULT_IO_THREAD_STACK_SIZE,
            send_buffer_size: DEFAULT_SEND_BUFFER_SIZE,
            codec: Codec::default(),
        }
    }
}

impl MConnConfig {
    /// Sets `send_rate` (bytes per second; `None` is unlimited).
    pub fn send_rate(mut self, rate: Option<u64>) -> Self {
        self.send_rate = rate;
        self
    }

    /// Sets `recv_rate` (bytes per second; `None` is unlimited).
    pub fn recv_rate(mut self, rate: Option<u64>) -> Self {
        self.recv_rate = rate;
        self
    }

    /// Sets `max_packet_msg_payload_size`.
    pub fn max_packet_msg_payload_size(mut self, n: usize) -> Self {
        self.max_packet_msg_payload_size = n;
        self
    }

    /// Sets `flush_throttle`.
    pub fn flush_throttle(mut self, d: Duration) -> Self {
        self.flush_throttle = d;
        self
    }

    /// Sets `ping_interval`.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }

    /// Sets `pong_timeout`.
    pub fn pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }

    /// Sets `send_timeout`.
    pub fn send_timeout(mut self, d: Duration) -> Self {
        self.send_timeout = d;
        self
    }

    /// Sets `io_thread_stack_size`.
    pub fn io_thread_stack_size(mut self, n: usize) -> Self {
        self.io_thread_stack_size = n;
        self
    }

    /// Sets `send_buffer_size`.
    pub fn send_buffer_size(mut self, n: usize) -> Self {
        self.send_buffer_size = n;
        self
    }

    /// Sets the packet `codec`.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Checks the config and the channel table together.
    pub fn validate(&self, channels: &[ChannelDescriptor]) -> Result<(), Error> {
        let bad = |why: String| Err(Error::InvalidConfig(why));
        if self.max_packet_msg_payload_size == 0 {
            return bad("max_packet_msg_payload_size must be at least 1".into());
        }
        if self.max_packet_msg_payload_size > MAX_PACKET_MSG_PAYLOAD_SIZE {
            return bad(format!(
                "max_packet_msg_payload_size must be at most {MAX_PACKET_MSG_PAYLOAD_SIZE} (16 MiB)"
            ));
        }
        if self.ping_interval.is_zero() {
            return bad("ping_interval must be more than zero".into());
        }
        if self.pong_timeout.is_zero() || self.pong_timeout >= self.ping_interval {
            return bad(format!(
                "pong_timeout ({:?}) must be more than zero and less than ping_interval ({:?})",
                self.pong_timeout, self.ping_interval
            ));
        }
        if self.send_timeout.is_zero() {
            return bad("send_timeout must be more than zero".into());
        }
        if self.send_rate == Some(0) || self.recv_rate == Some(0) {
            return bad("send_rate and recv_rate must be None (unlimited) or at least 1".into());
        }
        if self.io_thread_stack_size < 64 * 1024 {
            return bad("io_thread_stack_size must be at least 64 KiB".into());
        }
        if self.send_buffer_size == 0 {
            return bad("send_buffer_size must be at least 1".into());
        }
        if channels.is_empty() {
            return bad("a connection needs at least one channel".into());
        }
        let mut seen = [false; 256];
        for ch in channels {
            let id = ch.id;
            if std::mem::replace(&mut seen[id as usize], true) {
                return bad(format!("channel {id:#04x} is declared twice"));
            }
            if ch.priority == 0 {
                return bad(format!("channel {id:#04x}: priority must be at least 1"));
            }
            if !(1..=MAX_QUEUE_CAPACITY).contains(&ch.send_queue_capacity) {
                return bad(format!(
                    "channel {id:#04x}: send_queue_capacity must be 1..={MAX_QUEUE_CAPACITY}"
                ));
            }
            if !(1..=MAX_RECV_BUFFER_CAPACITY).contains(&ch.recv_buffer_capacity) {
                return bad(format!(
                    "channel {id:#04x}: recv_buffer_capacity must be 1..={MAX_RECV_BUFFER_CAPACITY} \
                     (16 MiB)"
                ));
            }
            if ch.recv_message_capacity == 0 {
                return bad(format!(
                    "channel {id:#04x}: recv_message_capacity must be at least 1"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cfg: &MConnConfig, chans: &[ChannelDescriptor]) -> String {
        match cfg.validate(chans) {
            Err(Error::InvalidConfig(why)) => why,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_designs() {
        let c = MConnConfig::default();
        assert_eq!(c.max_packet_msg_payload_size, 1024);
        assert_eq!(c.send_timeout, Duration::from_secs(10));
        assert_eq!(c.flush_throttle, Duration::ZERO);
        assert_eq!(c.ping_interval, Duration::from_secs(60));
        assert_eq!(c.pong_timeout, Duration::from_secs(45));
        assert_eq!(c.io_thread_stack_size, 256 * 1024);
        assert_eq!((c.send_rate, c.recv_rate), (None, None));
        let ch = ChannelDescriptor::new(1, 1);
        assert_eq!(
            (
                ch.send_queue_capacity,
                ch.recv_buffer_capacity,
                ch.recv_message_capacity
            ),
            (1, 4096, 22_020_096)
        );
        assert!(c.validate(&[ch]).is_ok());
    }

    #[test]
    fn invalid_values_are_errors() {
        let ok = MConnConfig::default();
        let ch = ChannelDescriptor::new(1, 1);
        assert!(err(&ok, &[ChannelDescriptor::new(1, 0)]).contains("priority"));
        assert!(err(&ok, &[ch.clone().send_queue_capacity(0)]).contains("send_queue_capacity"));
        // Queues and buffers are allocated up front: a huge setting is refused, not tried.
        assert!(
            err(&ok, &[ch.clone().send_queue_capacity(usize::MAX)]).contains("send_queue_capacity")
        );
        assert!(err(&ok, &[ch.clone().recv_buffer_capacity(usize::MAX)])
            .contains("recv_buffer_capacity"));
        assert!(ok
            .validate(&[ch
                .clone()
                .send_queue_capacity(MAX_QUEUE_CAPACITY)
                .recv_buffer_capacity(MAX_RECV_BUFFER_CAPACITY)])
            .is_ok());
        assert!(err(&ok, &[ch.clone().recv_buffer_capacity(0)]).contains("recv_buffer_capacity"));
        assert!(err(&ok, &[ch.clone().recv_message_capacity(0)]).contains("recv_message_capacity"));
        assert!(err(&ok, &[ch.clone(), ChannelDescriptor::new(1, 5)]).contains("twice"));
        assert!(err(&ok, &[]).contains("at least one channel"));
        let c = ok.clone().pong_timeout(Duration::from_secs(60));
        assert!(err(&c, std::slice::from_ref(&ch)).contains("pong_timeout"));
        let c = ok.clone().max_packet_msg_payload_size(0);
        assert!(err(&c, std::slice::from_ref(&ch)).contains("max_packet_msg_payload_size"));
        let c = ok
            .clone()
            .max_packet_msg_payload_size(MAX_PACKET_MSG_PAYLOAD_SIZE + 1);
        assert!(err(&c, std::slice::from_ref(&ch)).contains("16 MiB"));
        let c = ok
            .clone()
            .max_packet_msg_payload_size(MAX_PACKET_MSG_PAYLOAD_SIZE);
        assert!(c.validate(std::slice::from_ref(&ch)).is_ok());
        let c = ok.clone().send_rate(Some(0));
        assert!(err(&c, std::slice::from_ref(&ch)).contains("send_rate"));
        let c = ok.send_timeout(Duration::ZERO);
        assert!(err(&c, &[ch]).contains("send_timeout"));
    }
}
