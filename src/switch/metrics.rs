//! The switch's Prometheus metrics (feature `metrics`): a collector read at scrape time.
//!
//! Nothing is counted for it on a message's path: the per-channel byte counters, the
//! queues and the ping counters are the connection's own (`Peer::status`), the
//! dispatch's pending bytes are what it keeps for its bound anyway, and the dial,
//! handshake, refusal and removal counters (`counters.rs`) count rare events. A scrape
//! walks the peers that exist now, so a removed peer's series are gone at the next
//! scrape: the registry cannot grow with churn.
//!
//! Names follow CometBFT's `p2p` subsystem where it has the metric (same name, labels
//! and meaning, so its dashboards work); the rest are mconn's own. The README lists them.

use std::fmt;
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::counters::{Count, Key};
use super::peer::Peer;
use super::state::SwitchState;
use crate::conn::ConnectionStatus;
use crate::node_id::NodeId;

/// Registers `state`'s collector in `registry` under the `p2p` subsystem.
pub(super) fn register(state: &Arc<SwitchState>, registry: &mut Registry) {
    let collector = SwitchCollector {
        state: Arc::downgrade(state),
    };
    registry
        .sub_registry_with_prefix("p2p")
        .register_collector(Box::new(collector));
}

/// Reads the switch at each scrape; holds it weakly, so a registry that outlives the
/// switch neither keeps it running nor fails (it then reports nothing).
#[derive(Debug)]
struct SwitchCollector {
    state: Weak<SwitchState>,
}

/// A peer as the metrics name it, with its status read once per scrape.
struct PeerSample {
    id: String,
    status: ConnectionStatus,
}

/// The `peer_id` label: the id the peer's own protocol family prints (CometBFT's 40-hex
/// node id, Tendermint v0.12's 64-hex key).
fn peer_label(peer: &Peer) -> String {
    if peer.codec_name() == "cometbft" {
        NodeId::of(&peer.id()).to_string()
    } else {
        peer.id().to_string()
    }
}

impl Collector for SwitchCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let Some(state) = self.state.upgrade() else {
            return Ok(());
        };
        let peers: Vec<PeerSample> = state
            .peers()
            .list()
            .iter()
            .map(|p| PeerSample {
                id: peer_label(p),
                status: p.status(),
            })
            .collect();

        // CometBFT's.
        let n = peers.len() as i64;
        gauge_one(&mut enc, "peers", "Number of peers.", n)?;
        let per_channel = |f: fn(&crate::conn::ChannelStatus) -> u64| {
            peers.iter().flat_map(move |p| {
                p.status.channels.iter().map(move |c| {
                    let labels = vec![("peer_id", p.id.clone()), ("chID", format!("{:#x}", c.id))];
                    (labels, f(c))
                })
            })
        };
        counter(
            &mut enc,
            "peer_receive_bytes",
            "Number of bytes received from a given peer.",
            per_channel(|c| c.bytes_received),
        )?;
        counter(
            &mut enc,
            "peer_send_bytes",
            "Number of bytes sent to a given peer.",
            per_channel(|c| c.bytes_sent),
        )?;
        gauge(
            &mut enc,
            "peer_pending_send_bytes",
            "Pending bytes to be sent to a given peer (as in CometBFT: the messages \
             waiting in its send queues).",
            peers.iter().map(|p| {
                let queued: usize = p.status.channels.iter().map(|c| c.send_queue_size).sum();
                (vec![("peer_id", p.id.clone())], queued as i64)
            }),
        )?;

        // mconn's: the keepalive.
        let per_peer = |f: fn(&ConnectionStatus) -> u64| {
            peers
                .iter()
                .map(move |p| (vec![("peer_id", p.id.clone())], f(&p.status)))
        };
        let rtts = peers.iter().filter_map(|p| {
            let rtt = p.status.rtt?;
            Some((vec![("peer_id", p.id.clone())], rtt.as_secs_f64()))
        });
        gauge(
            &mut enc,
            "peer_rtt_seconds",
            "Round-trip time of the last ping the peer answered.",
            rtts,
        )?;
        type Field = fn(&ConnectionStatus) -> u64;
        let pings: [(&str, &str, Field); 4] = [
            ("peer_pings_sent", "Pings sent to a given peer.", |s| {
                s.pings_sent
            }),
            (
                "peer_pongs_received",
                "Pongs received from a given peer.",
                |s| s.pongs_received,
            ),
            (
                "peer_pings_received",
                "Pings received from a given peer.",
                |s| s.pings_received,
            ),
            (
                "peer_pongs_sent",
                "Pongs sent to a given peer (coalesced and rate-limited, so at most one per ping).",
                |s| s.pongs_sent,
            ),
        ];
        for (name, help, f) in pings {
            counter(&mut enc, name, help, per_peer(f))?;
        }

        // mconn's: dispatch.
        if let Some(running) = state.running() {
            let pending = running
                .reactors
                .pending_bytes()
                .map(|(name, n)| (vec![("reactor", name.to_string())], n as i64));
            gauge(
                &mut enc,
                "reactor_pending_bytes",
                "Bytes of received messages waiting for a given reactor, or inside it.",
                pending,
            )?;
        }

        // CometBFT's, for a family whose messages name their type.
        if let Some(types) = state.message_types() {
            let seen = types.snapshot();
            let by_type = |pick: fn(&(&str, u64, u64)) -> u64| {
                let seen = &seen;
                seen.iter()
                    .map(move |t| (vec![("message_type", t.0.to_string())], pick(t)))
            };
            counter(
                &mut enc,
                "message_receive_bytes",
                "Number of bytes of each message type received.",
                by_type(|t| t.1),
            )?;
            counter(
                &mut enc,
                "message_send_bytes",
                "Number of bytes of each message type sent.",
                by_type(|t| t.2),
            )?;
        }

        // mconn's: connection attempts and removals.
        encode_counts(&mut enc, &state.counters().snapshot())
    }
}

/// The switch's event counters, one family per [`Count`] (each family present even
/// before its first event, so a dashboard sees zero rather than nothing).
fn encode_counts(enc: &mut DescriptorEncoder<'_>, counts: &[(Key, u64)]) -> fmt::Result {
    let families: [(Count, &str, &str, &[&str]); 6] = [
        (
            Count::Dial,
            "dials",
            "Dials begun (redials and discovery's included).",
            &[],
        ),
        (
            Count::DialFailed,
            "dial_failures",
            "Dials that produced no peer, by reason.",
            &["reason"],
        ),
        (
            Count::Handshake,
            "handshakes",
            "Handshakes begun, by direction.",
            &["direction"],
        ),
        (
            Count::HandshakeFailed,
            "handshake_failures",
            "Handshakes that failed, by direction and reason.",
            &["direction", "reason"],
        ),
        (
            Count::Refused,
            "peers_refused",
            "Peers refused, by direction and reason.",
            &["direction", "reason"],
        ),
        (
            Count::Removed,
            "peers_removed",
            "Peers removed, by reason.",
            &["reason"],
        ),
    ];
    for (count, name, help, labels) in families {
        let series = counts.iter().filter(|(k, _)| k.count == count);
        if labels.is_empty() {
            counter_one(enc, name, help, series.map(|(_, v)| *v).sum())?;
            continue;
        }
        let samples = series.map(|(k, v)| {
            let values = [("direction", k.direction), ("reason", k.reason)];
            let set: Labels = values
                .into_iter()
                .filter(|(l, _)| labels.contains(l))
                .map(|(l, v)| (l, v.to_string()))
                .collect();
            (set, *v)
        });
        counter(enc, name, help, samples)?;
    }
    let timeouts = counts
        .iter()
        .filter(|(k, _)| k.count == Count::Removed && k.reason == "pong_timeout")
        .map(|(_, v)| *v)
        .sum::<u64>();
    counter_one(
        enc,
        "keepalive_timeouts",
        "Peers removed because they did not answer a ping within pong_timeout.",
        timeouts,
    )
}

/// A sample's labels.
type Labels = Vec<(&'static str, String)>;

/// One labelled counter family (`name` gets `_total` from the encoder).
fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, u64)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in samples {
        ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One labelled gauge family.
fn gauge<N>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, N)>,
) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in samples {
        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One counter without labels.
fn counter_one(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> fmt::Result {
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// One gauge without labels.
fn gauge_one(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> fmt::Result {
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}
