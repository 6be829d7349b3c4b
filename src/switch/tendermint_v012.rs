//! The Tendermint v0.12 protocol family: go-wire packets, the go-wire NodeInfo exchange
//! (`handshake.rs`) and, with `auth_enc`, the SecretConnection (`crate::secret`).

use std::net::{SocketAddr, TcpStream};

use super::handshake::{self, Deadline};
use super::protocol::{Handshake, HandshakeSetup, Handshaken, Protocol};
use crate::conn::codec::Codec;
use crate::error::Error;
use crate::transport::Transport;

impl Protocol {
    /// Tendermint v0.12: go-wire packets, the go-wire NodeInfo exchange, and (with
    /// `auth_enc`) the SecretConnection. The default.
    pub fn tendermint_v012() -> Self {
        let mut p = Protocol::new("tendermint-v0.12", Codec::default(), V012);
        p.authenticates = cfg!(feature = "secret-connection");
        p
    }
}

/// Tendermint v0.12's handshake: the SecretConnection when encrypting, then both
/// NodeInfos exchanged at once.
struct V012;

impl Handshake for V012 {
    fn run(&self, stream: TcpStream, setup: &HandshakeSetup<'_>) -> Result<Handshaken, Error> {
        let addrs = (stream.local_addr()?, stream.peer_addr()?);
        // As Go does for every TCP connection: without it, the encrypted NodeInfo's many
        // small frames wait for delayed ACKs (Nagle), tens of milliseconds each.
        stream.set_nodelay(true)?;
        let d = Deadline {
            stream,
            deadline: setup.deadline,
        };
        #[cfg(feature = "secret-connection")]
        if setup.encrypt {
            let mut sc = crate::secret::SecretConnection::handshake(d, setup.key)?;
            let theirs = {
                let (mut r, mut w, d) = sc.halves();
                let framing = handshake::Framing::Parts;
                handshake::exchange(&mut r, &mut w, &d.stream, setup.ours, framing)
            }?;
            let authenticated = sc.remote_pubkey();
            let rank_key = sc.challenge().to_vec();
            let sc = sc.map_stream(|d| d.stream);
            let transport = sc.into_transport_with_write_timeout(setup.write_timeout)?;
            return Ok(Handshaken::new(
                theirs,
                transport,
                Some(authenticated),
                rank_key,
            ));
        }
        let theirs = handshake::exchange_plain(&d, setup.ours)?;
        let stream = d.stream;
        stream.set_read_timeout(None)?;
        let transport = Transport::tcp(stream, setup.write_timeout)?;
        let rank_key = addr_key(addrs, setup.outbound);
        Ok(Handshaken::new(theirs, transport, None, rank_key))
    }
}

/// A plain connection's key for the rank of duplicate connections: the dialler's
/// address, then the listener's, which both ends see alike (unless a NAT rewrites them).
pub(super) fn addr_key((local, remote): (SocketAddr, SocketAddr), outbound: bool) -> Vec<u8> {
    let (dialler, listener) = if outbound {
        (local, remote)
    } else {
        (remote, local)
    };
    let mut key = Vec::with_capacity(36);
    for a in [dialler, listener] {
        let ip = match a.ip() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        key.extend_from_slice(&ip.octets());
        key.extend_from_slice(&a.port().to_be_bytes());
    }
    key
}
