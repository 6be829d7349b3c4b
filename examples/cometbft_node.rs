//! Joins a CometBFT network (v0.34 – v1.0) as a quiet peer: it connects, proves its node
//! key, tells the network which channels it listens to, and counts what arrives on each.
//!
//! ```text
//! cargo run --features cometbft --example cometbft_node -- \
//!     --chain-id CHAIN_ID --peer NODE_ID@HOST:26656 [--peer ...] \
//!     [--key node_key.json] [--listen 0.0.0.0:26656] [--seconds 60]
//! ```
//!
//! Against a real network, take a peer from its docs (a "persistent peer" or "seed"
//! line). Without `--peer` it only listens: run it twice on loopback, the second time
//! with the `--peer` line the first one prints.
//!
//! It does not decode the reactors' messages (consensus, mempool, ...): that is the
//! application's part. The channels it lists are CometBFT v0.38's consensus and mempool
//! channels, with the same receive limits, so a real node gossips to it.

use std::error::Error;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, tick};
use mconn::protocol::Protocol;
use mconn::{
    ChannelDescriptor, ChannelReactor, Event, ExpectedId, NodeId, NodeInfo, NodeKey, Switch,
    SwitchConfig, SwitchEvent,
};

/// CometBFT v0.38's channels this node listens to: id, priority and largest message.
const CHANNELS: [(u8, &str, u32, usize); 5] = [
    (0x20, "consensus state", 6, 1 << 20),
    (0x21, "consensus data", 10, 1 << 20),
    (0x22, "consensus votes", 7, 1 << 20),
    (0x23, "vote set bits", 1, 1 << 20),
    (0x30, "mempool", 5, 1 << 20),
];

struct Args {
    chain_id: String,
    peers: Vec<(ExpectedId, String)>,
    key: Option<String>,
    listen: String,
    seconds: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: cometbft_node --chain-id ID [--peer NODE_ID@HOST:PORT]... [--key FILE] \
         [--listen ADDR] [--seconds N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        chain_id: String::new(),
        peers: Vec::new(),
        key: None,
        listen: "127.0.0.1:0".into(),
        seconds: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--chain-id" => args.chain_id = value,
            "--key" => args.key = Some(value),
            "--listen" => args.listen = value,
            "--seconds" => args.seconds = value.parse().unwrap_or_else(|_| usage()),
            "--peer" => {
                // `id@host:port`, as CometBFT's config and docs write peers.
                let Some((id, addr)) = value.split_once('@') else {
                    usage()
                };
                let id = id.parse().unwrap_or_else(|e| {
                    eprintln!("--peer {value}: {e}");
                    std::process::exit(2)
                });
                args.peers.push((id, addr.to_string()));
            }
            _ => usage(),
        }
    }
    if args.chain_id.is_empty() {
        usage()
    }
    args
}

fn main() -> Result<(), Box<dyn Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = parse_args();
    let key = match &args.key {
        Some(path) => NodeKey::load_or_generate(path)?,
        None => NodeKey::generate()?,
    };

    // The whole setup: CometBFT's protocol, our key, the chain, and what we listen to.
    let config = SwitchConfig::default()
        .protocol(Protocol::cometbft())
        .node_key(Some(key));
    let info = NodeInfo {
        version: "0.38.17".into(),
        ..NodeInfo::new("mconn-example", args.chain_id.as_str())
    };
    let channels = CHANNELS
        .iter()
        .map(|&(id, _, priority, max)| {
            ChannelDescriptor::new(id, priority).recv_message_capacity(max)
        })
        .collect();
    let (reactor, events) = ChannelReactor::new(channels, 1024);
    let switch = Switch::new(config, info)?;
    switch.add_reactor("listener", reactor)?;
    let addr = switch.listen(args.listen.as_str())?;
    println!("listening: --peer {}@{addr}", NodeId::of(&switch.id()));
    for (id, peer) in &args.peers {
        // Redialled whenever it drops; a node other than `id` answering there is refused.
        switch.dial_persistent_expecting(peer.as_str(), *id)?;
    }

    let switch_events = switch.events(64);
    let report = tick(Duration::from_secs(10));
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut counts = [(0u64, 0u64); CHANNELS.len()];
    loop {
        select! {
            recv(events) -> event => match event {
                Ok(Event::PeerAdded(peer)) => {
                    let info = peer.node_info();
                    println!(
                        "connected to {} ({}, CometBFT {}, block protocol {})",
                        NodeId::of(&peer.id()),
                        info.moniker,
                        info.version,
                        info.protocol_version.block
                    );
                }
                Ok(Event::Message { channel, msg, .. }) => {
                    if let Some(i) = CHANNELS.iter().position(|c| c.0 == channel) {
                        counts[i].0 += 1;
                        counts[i].1 += msg.len() as u64;
                    }
                }
                Ok(Event::PeerRemoved { peer, reason }) => {
                    println!("disconnected from {}: {reason}", NodeId::of(&peer.id()));
                }
                Ok(_) => {}
                Err(_) => break,
            },
            recv(switch_events) -> event => match event {
                Ok(SwitchEvent::DialFailed { addr, reason, .. }) => {
                    println!("dial {addr} failed: {reason}")
                }
                Ok(other) => println!("{other:?}"),
                Err(_) => break,
            },
            recv(report) -> _ => {
                for (&(id, name, ..), (n, bytes)) in CHANNELS.iter().zip(counts) {
                    if n > 0 {
                        println!("  {id:#04x} {name}: {n} messages, {bytes} bytes");
                    }
                }
            }
            default(end.saturating_duration_since(Instant::now())) => break,
        }
    }
    switch.stop();
    println!("stopped");
    Ok(())
}
