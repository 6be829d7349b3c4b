//! [`SwitchConfig`] and the persistent-peer [`ReconnectSchedule`].

use std::time::Duration;

use super::protocol::Protocol;
use crate::conn::MConnConfig;
use crate::conn::MAX_QUEUE_CAPACITY;
use crate::error::Error;
use crate::node_key::NodeKey;

/// When to redial a persistent peer (Go v0.12's schedule by default): the first attempt
/// at once, then `tries - 1` more `interval` (+ up to `jitter`) apart, then
/// `backoff_tries` more after `backoff_unit × backoff_factor^i` (+ jitter), then give up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectSchedule {
    /// Attempts in the first phase, the first one immediate (Go: 20).
    pub tries: u32,
    /// Pause between first-phase attempts (Go: 5 s).
    pub interval: Duration,
    /// Up to this much random delay is added to each pause (Go: 3 s).
    pub jitter: Duration,
    /// Attempts in the backoff phase (Go: 10).
    pub backoff_tries: u32,
    /// Backoff pause unit (Go: 1 s).
    pub backoff_unit: Duration,
    /// Backoff growth factor (Go: 3, so 1 s, 3 s, 9 s, ...).
    pub backoff_factor: u32,
}

impl Default for ReconnectSchedule {
    fn default() -> Self {
        ReconnectSchedule {
            tries: 20,
            interval: Duration::from_secs(5),
            jitter: Duration::from_secs(3),
            backoff_tries: 10,
            backoff_unit: Duration::from_secs(1),
            backoff_factor: 3,
        }
    }
}

impl ReconnectSchedule {
    /// The pause before attempt `attempt` (0-based), without jitter; `None` once every
    /// attempt is used up.
    pub fn pause_before(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 {
            return Some(Duration::ZERO);
        }
        if attempt < self.tries {
            return Some(self.interval);
        }
        let i = attempt - self.tries;
        if i < self.backoff_tries {
            let factor = (self.backoff_factor as u64)
                .saturating_pow(i)
                .min(u32::MAX as u64);
            return Some(self.backoff_unit.saturating_mul(factor as u32));
        }
        None
    }

    /// A schedule with every duration scaled down (for tests and demos).
    pub fn scaled(mut self, interval: Duration, jitter: Duration, backoff_unit: Duration) -> Self {
        self.interval = interval;
        self.jitter = jitter;
        self.backoff_unit = backoff_unit;
        self
    }
}

/// Settings of a [`Switch`](super::Switch). `Default` is the README's Configuration table;
/// setters chain.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SwitchConfig {
    /// Settings of every peer's connection.
    pub mconn: MConnConfig,
    /// Longest a handshake may take, all steps together (default 20 s).
    pub handshake_timeout: Duration,
    /// Longest a TCP connect may take (default 3 s).
    pub dial_timeout: Duration,
    /// Longest a user filter may take to decide (default 5 s); a late answer is a refusal.
    pub filter_timeout: Duration,
    /// Most inbound peers (default 40).
    pub max_inbound_peers: usize,
    /// Most outbound peers (default 10).
    pub max_outbound_peers: usize,
    /// Most inbound connections handshaking at once (default 512). When full, a new one
    /// evicts the oldest inbound handshake, so a flood of silent connections cannot lock
    /// peers out; our own dials are never evicted.
    pub max_handshaking: usize,
    /// Dispatch worker threads (default: available parallelism, at least 2).
    pub workers: usize,
    /// Messages each worker's queue holds before the peers feeding it are slowed down
    /// (default 256).
    pub worker_queue_capacity: usize,
    /// Most bytes of one peer's received messages that may wait for, or be inside,
    /// reactor callbacks; beyond it that peer's connection stops reading until reactors
    /// catch up (TCP pushes back on the peer). One message passes whatever its size when
    /// none is waiting. `None` (default): the largest `recv_message_capacity` of the
    /// switch's channels.
    pub peer_queue_bytes: Option<usize>,
    /// Stack size of dispatch workers, where reactor callbacks run (default 2 MiB).
    pub worker_stack_size: usize,
    /// Redial schedule of persistent peers.
    pub reconnect: ReconnectSchedule,
    /// The node key; `None` (default) generates a random one.
    pub node_key: Option<NodeKey>,
    /// Whether to encrypt and authenticate connections (default true in every build, so
    /// turning a feature on or off never changes the wire protocol silently). Tendermint
    /// v0.12 does it with the SecretConnection, which needs the `secret-connection`
    /// feature: without it, set `auth_enc(false)` for plain TCP, or `Switch::new` fails.
    pub auth_enc: bool,
    /// The protocol family (default [`Protocol::tendermint_v012`]): its handshake, and the
    /// packet codec every peer's connection uses (it replaces `mconn.codec`).
    pub protocol: Protocol,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        SwitchConfig {
            mconn: MConnConfig::default(),
            handshake_timeout: Duration::from_secs(20),
            dial_timeout: Duration::from_secs(3),
            filter_timeout: Duration::from_secs(5),
            max_inbound_peers: 40,
            max_outbound_peers: 10,
            max_handshaking: 512,
            workers,
            worker_queue_capacity: 256,
            peer_queue_bytes: None,
            worker_stack_size: 2 * 1024 * 1024,
            reconnect: ReconnectSchedule::default(),
            node_key: None,
            auth_enc: true,
            protocol: Protocol::default(),
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta] $name:ident: $ty:ty),* $(,)?) => {
        $(#[$doc] pub fn $name(mut self, v: $ty) -> Self { self.$name = v; self })*
    };
}

impl SwitchConfig {
    setter! {
        /// Sets `mconn`.
        mconn: MConnConfig,
        /// Sets `handshake_timeout`.
        handshake_timeout: Duration,
        /// Sets `dial_timeout`.
        dial_timeout: Duration,
        /// Sets `filter_timeout`.
        filter_timeout: Duration,
        /// Sets `max_inbound_peers`.
        max_inbound_peers: usize,
        /// Sets `max_outbound_peers`.
        max_outbound_peers: usize,
        /// Sets `max_handshaking`.
        max_handshaking: usize,
        /// Sets `workers`.
        workers: usize,
        /// Sets `worker_queue_capacity`.
        worker_queue_capacity: usize,
        /// Sets `peer_queue_bytes`.
        peer_queue_bytes: Option<usize>,
        /// Sets `worker_stack_size`.
        worker_stack_size: usize,
        /// Sets `reconnect`.
        reconnect: ReconnectSchedule,
        /// Sets `node_key`.
        node_key: Option<NodeKey>,
        /// Sets `auth_enc`.
        auth_enc: bool,
        /// Sets `protocol`.
        protocol: Protocol,
    }

    /// Checks the values (the channel table is checked when reactors are added).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::InvalidConfig(why.to_string()));
        if self.handshake_timeout.is_zero() || self.dial_timeout.is_zero() {
            return bad("handshake_timeout and dial_timeout must be more than zero");
        }
        if self.filter_timeout.is_zero() {
            return bad("filter_timeout must be more than zero");
        }
        if self.workers == 0 || self.worker_queue_capacity == 0 {
            return bad("workers and worker_queue_capacity must be at least 1");
        }
        if self.worker_queue_capacity > MAX_QUEUE_CAPACITY {
            return bad(&format!(
                "worker_queue_capacity must be at most {MAX_QUEUE_CAPACITY}"
            ));
        }
        if self.worker_stack_size < 64 * 1024 {
            return bad("worker_stack_size must be at least 64 KiB");
        }
        if self.max_handshaking == 0 {
            return bad("max_handshaking must be at least 1");
        }
        if self.peer_queue_bytes == Some(0) {
            return bad("peer_queue_bytes must be None (automatic) or at least 1");
        }
        if self.auth_enc && !self.protocol.authenticates() {
            return bad(&format!(
                "auth_enc is on (the default) but the {} protocol cannot authenticate in \
                 this build (Tendermint v0.12 needs the secret-connection feature); set \
                 auth_enc(false) for plain TCP",
                self.protocol.name()
            ));
        }
        if !self.auth_enc && self.protocol.encrypted_only {
            return bad(&format!(
                "auth_enc is off but {} connections are always encrypted and authenticated",
                self.protocol.name()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_gos() {
        let s = ReconnectSchedule::default();
        assert_eq!(s.pause_before(0), Some(Duration::ZERO));
        for i in 1..20 {
            assert_eq!(s.pause_before(i), Some(Duration::from_secs(5)));
        }
        assert_eq!(s.pause_before(20), Some(Duration::from_secs(1)));
        assert_eq!(s.pause_before(21), Some(Duration::from_secs(3)));
        assert_eq!(s.pause_before(22), Some(Duration::from_secs(9)));
        assert_eq!(s.pause_before(29), Some(Duration::from_secs(19683)));
        assert_eq!(s.pause_before(30), None);
    }

    #[test]
    fn defaults_and_validation() {
        let c = SwitchConfig::default();
        assert_eq!((c.max_inbound_peers, c.max_outbound_peers), (40, 10));
        assert_eq!(c.handshake_timeout, Duration::from_secs(20));
        assert_eq!(c.dial_timeout, Duration::from_secs(3));
        assert_eq!(c.filter_timeout, Duration::from_secs(5));
        assert!(c.workers >= 2);
        assert!(c.auth_enc, "encrypted by default in every build");
        assert_eq!(c.validate().is_ok(), cfg!(feature = "secret-connection"));
        assert!(c.clone().auth_enc(false).validate().is_ok());
        assert!(SwitchConfig::default().workers(0).validate().is_err());
    }

    /// Turning the secret-connection feature off must not quietly turn encryption off:
    /// the default asks for it in every build, and a build that cannot do it says so.
    #[test]
    fn auth_enc_defaults_alike_in_every_build_and_is_refused_where_it_cannot_work() {
        let e = SwitchConfig::default().validate();
        if cfg!(feature = "secret-connection") {
            assert!(e.is_ok());
        } else {
            let e = e.expect_err("auth_enc without the feature");
            assert!(
                matches!(&e, Error::InvalidConfig(m) if m.contains("auth_enc(false)")),
                "{e}"
            );
        }
    }

    /// A zero duration, count or budget is refused with a message naming it, never
    /// taken as "no wait" or "no room" (issue 11, item 4's other end).
    #[test]
    fn zero_settings_are_refused_by_name() {
        let z = Duration::ZERO;
        let d = SwitchConfig::default;
        for (c, name) in [
            (d().handshake_timeout(z), "handshake_timeout"),
            (d().dial_timeout(z), "dial_timeout"),
            (d().filter_timeout(z), "filter_timeout"),
            (d().workers(0), "workers"),
            (d().worker_queue_capacity(0), "worker_queue_capacity"),
            (
                d().worker_queue_capacity(usize::MAX),
                "worker_queue_capacity",
            ),
            (d().max_handshaking(0), "max_handshaking"),
            (d().peer_queue_bytes(Some(0)), "peer_queue_bytes"),
        ] {
            match c.validate() {
                Err(Error::InvalidConfig(why)) => assert!(why.contains(name), "{name}: {why}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
