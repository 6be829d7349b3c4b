//! A network grows from one seed: ten switches with a PEX reactor, each told only one
//! other's address (a chain, or a star around one seed), end as a full mesh (every node
//! with at least `min(9, min_outbound)` peers) within a bounded number of ensure periods.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mconn::pex::{AddrBook, NetAddress, PexConfig, PexReactor};
use mconn::Switch;
use support::switch::{config, node_info};
use support::{wait_until, watchdog};

const NODES: usize = 10;
const PERIOD: Duration = Duration::from_millis(200);

struct Node {
    switch: Switch,
    addr: SocketAddr,
    pex: Arc<PexReactor>,
}

fn node(i: usize) -> Node {
    let switch = Switch::new(config(), node_info(&format!("n{i}"))).expect("switch");
    // Loopback addresses: a non-strict book.
    let pex = PexReactor::new(
        AddrBook::new(false),
        PexConfig::default().ensure_period(PERIOD).min_outbound(10),
    );
    switch.add_reactor("pex", pex.clone()).expect("reactor");
    let addr = switch.listen("127.0.0.1:0").expect("listen");
    pex.start(&switch).expect("start pex");
    Node { switch, addr, pex }
}

/// Starts the nodes, gives node `i` the seed `seed_of(i)`, and waits for the mesh.
fn grows_into_a_mesh(seed_of: impl Fn(usize) -> Option<usize>) {
    let nodes: Vec<Node> = (0..NODES).map(node).collect();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(s) = seed_of(i) {
            let seed = nodes[s].addr;
            n.pex
                .with_book(|b| b.add(NetAddress::from(seed), NetAddress::from(seed)));
            n.switch.dial_seeds([seed]).expect("dial the seed");
        }
    }
    let want = (NODES - 1).min(10);
    // 60 s is some 300 ensure periods: generous for a loaded machine.
    let meshed = wait_until(Duration::from_secs(60), || {
        nodes.iter().all(|n| n.switch.peers().len() >= want)
    });
    let counts: Vec<usize> = nodes.iter().map(|n| n.switch.peers().len()).collect();
    assert!(meshed, "peers per node: {counts:?} (want {want} each)");
    // Every book learnt of every other node.
    for n in &nodes {
        let known = n.pex.with_book(|b| b.size());
        assert!(known >= NODES - 1, "a book knows {known} addresses");
    }
    for n in &nodes {
        n.switch.stop();
    }
}

#[test]
fn a_chain_of_seeds_becomes_a_mesh() {
    let _w = watchdog("a_chain_of_seeds", Duration::from_secs(120));
    grows_into_a_mesh(|i| i.checked_sub(1));
}

#[test]
fn a_star_around_one_seed_becomes_a_mesh() {
    let _w = watchdog("a_star_around_one_seed", Duration::from_secs(120));
    grows_into_a_mesh(|i| (i > 0).then_some(0));
}
