//! A request/response service run from one `select!` loop: no callbacks, no reactor of
//! your own. A `ChannelReactor` turns the switch's messages and peers into `Event`s on a
//! channel; `Switch::events` adds what the switch did on its own (a refused peer, a
//! failed dial); a ticker and a shutdown channel join them in the same loop.
//!
//! ```text
//! cargo run --example select_loop
//! ```
//!
//! The server answers `sum a b ...` with the sum and anything else with an error. Three
//! clients in the same process ask it a question each, and a fourth connection comes
//! from a node on the wrong network, which the server refuses; then it shuts down.

use std::error::Error;
use std::time::Duration;

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};
use mconn::{
    ChannelDescriptor, ChannelId, ChannelReactor, Event, NodeInfo, Switch, SwitchConfig,
    SwitchEvent,
};

/// The one channel of the service: requests and answers.
const RPC: ChannelId = 0x60;
/// How long a client waits for its answer.
const PATIENCE: Duration = Duration::from_secs(10);

/// A switch with a `ChannelReactor` on RPC, and where its events arrive.
fn node(name: &str, network: &str) -> Result<(Switch, Receiver<Event>), mconn::Error> {
    // The capacity bounds what waits for the loop; a full channel slows the peers down
    // (back-pressure), it never drops their messages.
    let (reactor, events) = ChannelReactor::new(vec![ChannelDescriptor::new(RPC, 1)], 128);
    let switch = Switch::new(SwitchConfig::default(), NodeInfo::new(name, network))?;
    switch.add_reactor("rpc", reactor)?;
    Ok((switch, events))
}

/// The service: what a request gets back.
fn answer(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let mut words = text.split_whitespace();
    if words.next() != Some("sum") {
        return format!("error: unknown request {text:?}");
    }
    let mut sum = 0i64;
    for w in words {
        match w.parse::<i64>() {
            Ok(n) => sum = sum.saturating_add(n),
            Err(_) => return format!("error: {w:?} is not a number"),
        }
    }
    sum.to_string()
}

/// The server's loop: every source of work in one `select!`. Returns on shutdown.
/// Returns on shutdown; `refused` hears of each refused connection (for `main`'s demo).
fn serve(
    switch: &Switch,
    events: &Receiver<Event>,
    shutdown: &Receiver<()>,
    refused: &Sender<()>,
) -> u64 {
    let switch_events = switch.events(32);
    let ticker = tick(Duration::from_secs(1));
    let mut served = 0u64;
    loop {
        select! {
            recv(events) -> event => match event {
                Ok(Event::PeerAdded(peer)) => {
                    println!("server: {} joined", peer.node_info().moniker)
                }
                Ok(Event::Message { peer, channel, msg }) => {
                    let reply = answer(&msg);
                    println!(
                        "server: {} asked {:?}, answering {reply:?}",
                        peer.node_info().moniker,
                        String::from_utf8_lossy(&msg)
                    );
                    // try_send never blocks the loop; a full queue hands the reply back.
                    if let Err(e) = peer.try_send(channel, reply) {
                        println!("server: could not answer {}: {e}", peer.id());
                    }
                    served += 1;
                }
                Ok(Event::PeerRemoved { peer, reason }) => {
                    println!("server: {} left ({reason})", peer.node_info().moniker)
                }
                Ok(_) => {}
                Err(_) => return served, // the switch is gone
            },
            recv(switch_events) -> event => {
                if let Ok(event) = event {
                    report(&event);
                    if matches!(event, SwitchEvent::InboundRefused { .. }) {
                        let _ = refused.try_send(());
                    }
                }
            },
            recv(ticker) -> _ => {
                let (outbound, inbound) = switch.num_peers();
                println!("server: {} peers, {served} served", outbound + inbound);
            },
            recv(shutdown) -> _ => {
                // Stop first, then report the events already sent. (A stopping switch
                // reports nothing more: a refusal still in progress is not an event.)
                switch.stop();
                switch_events.try_iter().for_each(|e| report(&e));
                return served;
            }
        }
    }
}

/// Prints what the switch did on its own.
fn report(event: &SwitchEvent) {
    match event {
        SwitchEvent::InboundRefused { reason, .. } => {
            println!("server: refused a connection: {reason}")
        }
        SwitchEvent::DialFailed { addr, reason, .. } => {
            println!("server: dial to {addr} failed: {reason}")
        }
        other => println!("server: {other:?}"),
    }
}

/// One client: connects, asks `question`, prints the answer.
fn client(name: &str, server: std::net::SocketAddr, question: &str) -> Result<(), Box<dyn Error>> {
    let (switch, events) = node(name, "sums")?;
    let peer = switch.dial(server)?;
    peer.send(RPC, question.to_string())?;
    loop {
        match events.recv_timeout(PATIENCE)? {
            Event::Message { msg, .. } => {
                println!("{name}: {question:?} -> {}", String::from_utf8_lossy(&msg));
                break;
            }
            _ => continue,
        }
    }
    // Sends what is queued, then stops: the server sees the peer leave.
    switch.flush_stop(PATIENCE);
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let (server, events) = node("server", "sums")?;
    let addr = server.listen("127.0.0.1:0")?;
    println!("server: listening on {addr}");
    let (stop_tx, shutdown) = bounded(1);
    let (refused_tx, refused_rx) = bounded(1);
    let loop_switch = server.clone();
    let server_loop = std::thread::Builder::new()
        .name("server-loop".into())
        .spawn(move || serve(&loop_switch, &events, &shutdown, &refused_tx))?;

    for (name, question) in [
        ("ann", "sum 1 2 3"),
        ("bo", "sum 40 2"),
        ("cy", "what is the time?"),
    ] {
        client(name, addr, question)?;
    }
    // A node of another network: the handshake refuses it on both sides.
    let (stranger, _) = node("stranger", "other-net")?;
    match stranger.dial(addr) {
        Ok(_) => return Err("a node of another network was admitted".into()),
        Err(e) => println!("stranger: refused: {e}"),
    }
    stranger.stop();
    // The server decides on its own thread: wait until its loop has heard of it.
    let _ = refused_rx.recv_timeout(PATIENCE);

    let _ = stop_tx.send(());
    let served = server_loop.join().map_err(|_| "the server loop panicked")?;
    println!("server: served {served} requests; done");
    Ok(())
}
