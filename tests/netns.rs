//! Several hosts: three network namespaces joined pairwise by veth links (a private
//! subnet per link), one Switch in each, in a full mesh over real interfaces.
//!
//! The test creates the namespaces and links itself and removes them again (a guard does
//! it on every exit, failure included). A process cannot move a single thread into a
//! namespace without unsafe code, so each node is this same test binary run as a child
//! with `ip netns exec <ns> <binary> --exact netns_node_helper --ignored`; the helper
//! reads its role from the environment and prints a result line the parent checks.
//!
//! Needs root and `ip` (iproute2); without them it prints why and skips.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{ChannelDescriptor, ChannelId, Error, Peer, PeerId, Reactor, ReconnectSchedule};
use support::switch::{config, node_info};
use support::*;

const PORT: u16 = 26656;
/// Messages each node sends to each peer.
const MSGS: u64 = 200;
const DATA: ChannelId = 0x01;
const DONE: ChannelId = 0x02;

// ------------------------------------------------------------------ the parent

/// The namespaces and links of one run; dropping it kills the nodes still running and
/// deletes the namespaces (which deletes the veth links inside them).
struct Net {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The address of node `i` on the link between nodes `i` and `j`.
fn addr(i: usize, j: usize) -> String {
    let (lo, hi) = (i.min(j), i.max(j));
    let link = lo * 3 + hi; // 1, 2, 5: one /24 per link
    format!("10.213.{link}.{}", if i == lo { 1 } else { 2 })
}

/// Builds three namespaces, each pair joined by a veth link.
fn build(tag: &str) -> Result<Net, String> {
    let mut net = Net {
        names: Vec::new(),
        children: Vec::new(),
    };
    for i in 0..3 {
        let name = format!("mconn-{tag}-{i}");
        ip(&["netns", "add", &name])?;
        net.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
    }
    for i in 0..3 {
        for j in i + 1..3 {
            let (a, b) = (format!("v{i}{j}"), format!("v{j}{i}"));
            let (na, nb) = (&net.names[i], &net.names[j]);
            ip(&[
                "link", "add", &a, "netns", na, "type", "veth", "peer", "name", &b, "netns", nb,
            ])?;
            for (ns, dev, me, other) in [(na, &a, i, j), (nb, &b, j, i)] {
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{}/24", addr(me, other)),
                    "dev",
                    dev,
                ])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
        }
    }
    Ok(net)
}

#[test]
fn three_hosts_in_network_namespaces_exchange_messages() {
    let _w = watchdog("netns", Duration::from_secs(180));
    if !is_root() {
        println!("SKIPPED three_hosts_in_network_namespaces: not root");
        return;
    }
    let tag = std::process::id().to_string();
    let mut net = match build(&tag) {
        Ok(net) => net,
        Err(why) => {
            println!("SKIPPED three_hosts_in_network_namespaces: cannot set up namespaces: {why}");
            return;
        }
    };
    let exe = std::env::current_exe().expect("test binary");
    for i in 0..3 {
        // The lower index dials the higher, so every pair is dialled once.
        let dial: Vec<String> = (i + 1..3)
            .map(|j| format!("{}:{PORT}", addr(j, i)))
            .collect();
        let child = Command::new("ip")
            .args(["netns", "exec", &net.names[i]])
            .arg(&exe)
            .args(["--exact", "netns_node_helper", "--ignored", "--nocapture"])
            .env("MCONN_NETNS_NODE", format!("n{i}"))
            .env("MCONN_NETNS_DIAL", dial.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a node");
        net.children.push(child);
    }
    // Collect every node's output, within a deadline.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut outputs = Vec::new();
    for (i, c) in net.children.iter_mut().enumerate() {
        let status = loop {
            if let Some(s) = c.try_wait().expect("wait") {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let mut err = String::new();
        if status.is_some() {
            c.stdout.take().map(|mut s| s.read_to_string(&mut out));
            c.stderr.take().map(|mut s| s.read_to_string(&mut err));
        }
        outputs.push((i, status, out, err));
    }
    for (i, status, out, err) in &outputs {
        let Some(status) = status else {
            panic!("node {i} did not finish within the deadline");
        };
        assert!(status.success(), "node {i} failed: {status}\n{out}\n{err}");
        let line = out
            .lines()
            .find(|l| l.starts_with("NETNS-RESULT"))
            .unwrap_or_else(|| panic!("node {i} printed no result:\n{out}\n{err}"));
        println!("{line}");
        assert!(
            line.contains(&format!("peers=2 received={}", 2 * MSGS)),
            "node {i}: {line}"
        );
    }
    drop(net);
    // The namespaces are gone again.
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&format!("mconn-{tag}-")));
}

// ------------------------------------------------------------------ a node

/// Checks the numbered messages of each peer and counts DONEs.
struct NodeReactor {
    next: Mutex<HashMap<PeerId, u64>>,
    received: AtomicUsize,
    done_from: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

/// Message `seq` of a sender: the sequence number, then a pattern of a size that varies
/// from empty to several packets.
fn numbered(seq: u64) -> Bytes {
    let len = (seq as usize * 997) % 5000;
    let mut m = seq.to_be_bytes().to_vec();
    m.extend(pattern(seq, len));
    Bytes::from(m)
}

impl Reactor for NodeReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![
            ChannelDescriptor::new(DATA, 1).send_queue_capacity(16),
            ChannelDescriptor::new(DONE, 1),
        ]
    }
    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        if ch == DONE {
            self.done_from.fetch_add(1, Ordering::AcqRel);
            return;
        }
        let mut next = self.next.lock().unwrap();
        let want = next.entry(peer.id()).or_insert(0);
        if msg != numbered(*want) {
            self.errors
                .lock()
                .unwrap()
                .push(format!("from {}: message {want} wrong", peer.id().short()));
        }
        *want += 1;
        self.received.fetch_add(1, Ordering::AcqRel);
    }
    fn remove_peer(&self, peer: &Arc<Peer>, reason: &Error) {
        if self.done_from.load(Ordering::Acquire) < 2 {
            self.errors
                .lock()
                .unwrap()
                .push(format!("lost {} early: {reason}", peer.id().short()));
        }
    }
}

/// One node of the network, run inside a namespace by the test above. Does nothing
/// unless started by it.
#[test]
#[ignore = "a node of three_hosts_in_network_namespaces; started by that test"]
fn netns_node_helper() {
    let Ok(name) = std::env::var("MCONN_NETNS_NODE") else {
        return;
    };
    let _w = watchdog("netns_node", Duration::from_secs(100));
    let dial = std::env::var("MCONN_NETNS_DIAL").unwrap_or_default();
    let r = Arc::new(NodeReactor {
        next: Mutex::new(HashMap::new()),
        received: AtomicUsize::new(0),
        done_from: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
    });
    let reconnect = ReconnectSchedule::default().scaled(
        Duration::from_millis(100),
        Duration::from_millis(100),
        Duration::from_millis(100),
    );
    let sw = mconn::Switch::new(config().reconnect(reconnect), node_info(&name)).unwrap();
    sw.add_reactor("netns", r.clone()).unwrap();
    sw.listen(("0.0.0.0", PORT)).expect("listen");
    // The others may not listen yet: persistent dials retry until they do.
    for a in dial.split(',').filter(|a| !a.is_empty()) {
        sw.dial_persistent(a).expect("dial");
    }
    assert!(wait_until(Duration::from_secs(30), || sw.peers().len() == 2));
    let peers = sw.peers();
    for seq in 0..MSGS {
        for p in &peers {
            p.send(DATA, numbered(seq)).expect("send");
        }
    }
    let want = 2 * MSGS as usize;
    assert!(
        wait_until(Duration::from_secs(30), || r
            .received
            .load(Ordering::Acquire)
            >= want),
        "{name}: received {} of {want}",
        r.received.load(Ordering::Acquire)
    );
    for p in &peers {
        p.send(DONE, "done").expect("send done");
    }
    // Leave only when both peers have everything of ours.
    assert!(wait_until(Duration::from_secs(30), || r
        .done_from
        .load(Ordering::Acquire)
        >= 2));
    let errors = r.errors.lock().unwrap().clone();
    let addrs: Vec<String> = peers.iter().map(|p| p.remote_addr().to_string()).collect();
    println!(
        "NETNS-RESULT {name} peers={} received={} from {addrs:?} errors={errors:?}",
        peers.len(),
        r.received.load(Ordering::Acquire),
    );
    assert!(errors.is_empty(), "{errors:?}");
    // Whatever is still queued (our DONE) is written before the connections close.
    for p in &peers {
        p.flush_stop();
    }
    sw.stop();
}
