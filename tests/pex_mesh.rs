//! A network grows from one seed: ten switches with a PEX reactor, each told only one
//! other's address (a chain, or a star around one seed), end as a full mesh (every node
//! with at least `min(9, min_outbound)` peers) within a bounded number of ensure periods;
//! and after every node restarts, their saved address books alone rebuild it.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mconn::pex::{AddrBook, PexConfig, PexReactor};
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
    node_at(i, "127.0.0.1:0".parse().unwrap(), None)
}

/// Node `i` listening on `listen`, its book kept in `book_file` if given (loaded from
/// it now, saved to it when the switch stops).
fn node_at(i: usize, listen: SocketAddr, book_file: Option<&std::path::Path>) -> Node {
    // Its key survives restarts, as a node_key.json does (a CometBFT book remembers
    // which node an address belongs to, and dials only that one).
    let key = mconn::NodeKey::from_secret(format!("node {i}").as_bytes());
    let cfg = config().node_key(Some(key));
    let switch = Switch::new(cfg, node_info(&format!("n{i}"))).expect("switch");
    // Loopback addresses: a non-strict book.
    let mut cfg = PexConfig::default().ensure_period(PERIOD).min_outbound(10);
    let book = match book_file {
        Some(f) => {
            cfg = cfg.book_file(f);
            AddrBook::load(f, false).expect("load the book")
        }
        None => AddrBook::new(false),
    };
    let pex = PexReactor::new(book, cfg);
    switch.add_reactor("pex", pex.clone()).expect("reactor");
    let addr = switch.listen(listen).expect("listen");
    pex.start(&switch).expect("start pex");
    Node { switch, addr, pex }
}

fn wait_for_mesh(nodes: &[Node]) {
    let want = (NODES - 1).min(10);
    // 60 s is some 300 ensure periods: generous for a loaded machine.
    let meshed = wait_until(Duration::from_secs(60), || {
        nodes.iter().all(|n| n.switch.peers().len() >= want)
    });
    let counts: Vec<usize> = nodes.iter().map(|n| n.switch.peers().len()).collect();
    assert!(meshed, "peers per node: {counts:?} (want {want} each)");
}

/// Starts the nodes, gives node `i` the seed `seed_of(i)`, and waits for the mesh.
fn grows_into_a_mesh(seed_of: impl Fn(usize) -> Option<usize>) {
    let nodes: Vec<Node> = (0..NODES).map(node).collect();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(s) = seed_of(i) {
            n.pex
                .dial_seeds(&n.switch, [nodes[s].addr])
                .expect("dial the seed");
        }
    }
    wait_for_mesh(&nodes);
    // Every book learns of every other node. Not necessarily by the time the mesh is
    // complete: a node may have all its peers (one of them inbound) while the answer
    // that carries that peer's address is still on its way, so this is awaited too.
    let learnt = wait_until(Duration::from_secs(60), || {
        nodes
            .iter()
            .all(|n| n.pex.with_book(|b| b.size()) >= NODES - 1)
    });
    let known: Vec<usize> = nodes
        .iter()
        .map(|n| n.pex.with_book(|b| b.size()))
        .collect();
    assert!(
        learnt,
        "addresses per book: {known:?} (want {} each)",
        NODES - 1
    );
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

#[test]
fn saved_books_rebuild_the_mesh_after_every_node_restarts() {
    let _w = watchdog("saved_books_rebuild_the_mesh", Duration::from_secs(180));
    let dir = std::env::temp_dir().join(format!("mconn-pex-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = |i: usize| dir.join(format!("book-{i}.json"));
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let nodes: Vec<Node> = (0..NODES)
        .map(|i| node_at(i, any, Some(&file(i))))
        .collect();
    for n in &nodes[1..] {
        n.pex
            .dial_seeds(&n.switch, [nodes[0].addr])
            .expect("dial the seed");
    }
    wait_for_mesh(&nodes);
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    // Stopping saves each book.
    for n in nodes {
        n.switch.stop();
    }
    for i in 0..NODES {
        let saved = AddrBook::load(file(i), false).expect("saved book");
        assert!(saved.size() >= NODES - 1, "book {i} holds {}", saved.size());
    }
    // The same addresses, new processes' worth of state, no seed: the books suffice.
    let again: Vec<Node> = (0..NODES)
        .map(|i| node_at(i, addrs[i], Some(&file(i))))
        .collect();
    wait_for_mesh(&again);
    for n in &again {
        n.switch.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
