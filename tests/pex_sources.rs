//! One host cannot pose as many sources (found by review): addresses a peer sends are
//! filed under the IP the bytes came from, never the listen address it claims, so four
//! connections from one IP fill what one source may, not four times that.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use mconn::pex::{AddrBook, NetAddress, PexConfig, PexMessage, PexReactor, PEX_CHANNEL};
use mconn::{NodeInfo, Switch};
use support::switch::{config, node_info, Recorder};
use support::watchdog;

/// What one source group can hold at most: 32 buckets of 64.
const ONE_SOURCE: usize = 32 * 64;

#[test]
fn one_host_cannot_be_many_sources_by_claiming_listen_addresses() {
    let _w = watchdog("one_host_many_sources", Duration::from_secs(240));
    let victim = Switch::new(config(), node_info("victim")).expect("switch");
    // Loopback attackers: a non-strict book (a strict one groups every loopback source
    // as "local", but an attacker on a public IP gets the same freedom there).
    let pex = PexReactor::new(AddrBook::new(false), PexConfig::default());
    victim.add_reactor("pex", pex.clone()).expect("pex");
    let addr = victim.listen("127.0.0.1:0").expect("listen");

    const ATTACKERS: u8 = 4;
    const MESSAGES: u8 = 10;
    let mut attackers = Vec::new();
    for i in 0..ATTACKERS {
        // Same host, another claimed /16 each time.
        let info = NodeInfo {
            listen_addr: format!("{}.{}.1.1:26656", 40 + i, 7),
            ..node_info(&format!("attacker{i}"))
        };
        let attacker = Switch::new(config(), info).expect("switch");
        let raw = Recorder::new(&[PEX_CHANNEL]);
        attacker.add_reactor("raw", raw.clone()).expect("raw");
        let peer = attacker.dial(addr).expect("dial");
        for m in 0..MESSAGES {
            // 250 addresses in many /16s, distinct across messages and attackers.
            let addrs: Vec<NetAddress> = (0..250u16)
                .map(|j| {
                    let a = 1 + (j % 200) as u8;
                    let b = i * MESSAGES + m;
                    let c = (j / 200) as u8;
                    NetAddress::from(SocketAddr::from(([a, b, c, 1], 26656)))
                })
                .collect();
            peer.send(PEX_CHANNEL, PexMessage::Addrs(addrs).encode())
                .expect("send");
        }
        // One worker per (peer, channel): the answer to this comes after every Addrs.
        peer.send(PEX_CHANNEL, PexMessage::Request.encode())
            .expect("send");
        loop {
            let (_, _, msg) = raw.next_msg(60);
            if matches!(PexMessage::decode(&msg), Ok(PexMessage::Addrs(_))) {
                break;
            }
        }
        attackers.push(attacker);
    }
    let size = pex.with_book(|b| b.size());
    // Go's rule: every address came from 127.0.0.1, one source group: at most 2048
    // (plus the attackers' own claimed listen addresses, each its own source).
    assert!(
        size <= ONE_SOURCE + ATTACKERS as usize,
        "one host filled {size} entries of the new table (one source: at most {ONE_SOURCE})"
    );
    for a in attackers {
        a.stop();
    }
    victim.stop();
}
