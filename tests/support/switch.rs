//! Helpers for switch tests: a reactor that records what it sees, and switch builders.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver, Sender};
use mconn::{
    ChannelDescriptor, ChannelId, Error, NodeInfo, Peer, PeerId, Reactor, Switch, SwitchConfig,
};

/// What a [`Recorder`] saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Added(PeerId),
    Removed(PeerId, String),
    Msg(PeerId, ChannelId, Bytes),
}

/// A reactor that records every callback on a channel.
pub struct Recorder {
    channels: Vec<ChannelDescriptor>,
    tx: Sender<Event>,
    pub events: Receiver<Event>,
}

impl Recorder {
    pub fn new(ids: &[ChannelId]) -> Arc<Recorder> {
        let (tx, events) = unbounded();
        Arc::new(Recorder {
            channels: ids
                .iter()
                .map(|id| ChannelDescriptor::new(*id, 1).send_queue_capacity(64))
                .collect(),
            tx,
            events,
        })
    }

    /// The next event, or a panic after `secs` seconds.
    pub fn next(&self, secs: u64) -> Event {
        self.events
            .recv_timeout(Duration::from_secs(secs))
            .expect("reactor event")
    }

    /// Skips events until a message arrives; returns it.
    pub fn next_msg(&self, secs: u64) -> (PeerId, ChannelId, Bytes) {
        loop {
            if let Event::Msg(p, c, m) = self.next(secs) {
                return (p, c, m);
            }
        }
    }
}

impl Reactor for Recorder {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        self.channels.clone()
    }
    fn add_peer(&self, peer: &Arc<Peer>) {
        let _ = self.tx.send(Event::Added(peer.id()));
    }
    fn remove_peer(&self, peer: &Arc<Peer>, reason: &Error) {
        let _ = self.tx.send(Event::Removed(peer.id(), reason.to_string()));
    }
    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        let _ = self.tx.send(Event::Msg(peer.id(), ch, msg));
    }
}

pub fn node_info(moniker: &str) -> NodeInfo {
    NodeInfo {
        moniker: moniker.into(),
        network: "testnet".into(),
        version: "0.12.1".into(),
        ..NodeInfo::default()
    }
}

/// Plays a node's side of the plaintext handshake by hand on `s`: writes a NodeInfo
/// claiming `key` and reads the other side's.
pub fn fake_handshake(s: &mut std::net::TcpStream, key: [u8; 32]) {
    use std::io::Write;
    let info = NodeInfo {
        pub_key: key,
        ..node_info("")
    };
    s.write_all(&info.encode()).unwrap();
    NodeInfo::decode(s).unwrap();
}

/// Makes `sw` dial a hand-played node claiming `key`: returns the dial (on its own
/// thread) and that node's socket, its side of the handshake done.
pub fn dial_fake(
    sw: &Switch,
    key: [u8; 32],
) -> (
    std::thread::JoinHandle<Result<Arc<mconn::Peer>, mconn::Error>>,
    std::net::TcpStream,
) {
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let sw = sw.clone();
    let dial = std::thread::spawn(move || sw.dial(addr));
    let (mut s, _) = fake.accept().unwrap();
    fake_handshake(&mut s, key);
    (dial, s)
}

/// Test defaults: short timeouts, and the protocol family of [`cometbft_family`]:
/// Tendermint v0.12 over plain TCP (the encryption has its own tests), or CometBFT
/// (always encrypted).
pub fn config() -> SwitchConfig {
    let base = SwitchConfig::default()
        .handshake_timeout(Duration::from_secs(5))
        .dial_timeout(Duration::from_secs(3))
        .filter_timeout(Duration::from_secs(1));
    if cometbft_family() {
        cometbft(base)
    } else {
        base.auth_enc(false)
    }
}

/// Whether the switch tests run with the CometBFT family: `MCONN_TEST_FAMILY=cometbft`
/// (CI runs the contract tests once per family). Tests that play a family's bytes by
/// hand skip themselves then.
pub fn cometbft_family() -> bool {
    match std::env::var("MCONN_TEST_FAMILY").as_deref() {
        Ok("cometbft") => true,
        Ok("tendermint-v0.12") | Ok("") | Err(_) => false,
        Ok(other) => panic!("MCONN_TEST_FAMILY={other}: expected cometbft or tendermint-v0.12"),
    }
}

#[cfg(feature = "cometbft")]
fn cometbft(base: SwitchConfig) -> SwitchConfig {
    base.protocol(mconn::protocol::Protocol::cometbft())
}

#[cfg(not(feature = "cometbft"))]
fn cometbft(_: SwitchConfig) -> SwitchConfig {
    panic!("MCONN_TEST_FAMILY=cometbft needs --features cometbft")
}

/// A switch with the given reactors, listening on a loopback port.
pub fn listening(
    moniker: &str,
    reactors: &[(&str, Arc<Recorder>)],
    cfg: SwitchConfig,
) -> (Switch, std::net::SocketAddr) {
    let sw = Switch::new(cfg, node_info(moniker)).expect("switch");
    for (name, r) in reactors {
        sw.add_reactor(name, r.clone()).expect("add reactor");
    }
    let addr = sw.listen("127.0.0.1:0").expect("listen");
    (sw, addr)
}

/// Waits until `sw` has `n` peers.
pub fn wait_peers(sw: &Switch, n: usize, secs: u64) -> bool {
    super::wait_until(Duration::from_secs(secs), || sw.peers().len() == n)
}

/// An address nothing listens on (bound, then closed).
pub fn dead_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// A reconnect schedule of `tries` quick attempts (20 ms apart), then giving up.
pub fn quick_schedule(tries: u32) -> mconn::ReconnectSchedule {
    let mut s = mconn::ReconnectSchedule::default().scaled(
        Duration::from_millis(20),
        Duration::from_millis(5),
        Duration::from_millis(20),
    );
    s.tries = tries;
    s.backoff_tries = 0;
    s
}

/// A switch whose one reactor is a `ChannelReactor` on `channel` (send queue 8, messages
/// up to 1 MiB) with room for `capacity` events, listening on loopback.
pub fn channel_app(
    name: &str,
    channel: ChannelId,
    capacity: usize,
    cfg: SwitchConfig,
) -> (Switch, std::net::SocketAddr, Receiver<mconn::Event>) {
    let channels = vec![ChannelDescriptor::new(channel, 1)
        .send_queue_capacity(8)
        .recv_message_capacity(1 << 20)];
    let (reactor, events) = mconn::ChannelReactor::new(channels, capacity);
    let sw = Switch::new(cfg, node_info(name)).expect("switch");
    sw.add_reactor("app", reactor).expect("add");
    let addr = sw.listen("127.0.0.1:0").expect("listen");
    (sw, addr, events)
}
