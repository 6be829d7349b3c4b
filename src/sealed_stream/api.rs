//! What both families' public `SecretConnection` share beyond the engine, written once:
//! each is a newtype whose field `inner` is a [`SealedConnection`](super::SealedConnection)
//! with its own handshake and type documentation, and gets its accessors, `Read`,
//! `Write`, `Debug` and `into_transport_with_write_timeout` from
//! [`sealed_connection_api!`].

/// Implements the shared API of `$name<S>`, a newtype over
/// `SealedConnection<S, $format>` in a field `inner`: delegation only, with the
/// documentation users read.
macro_rules! sealed_connection_api {
    ($name:ident, $format:ty) => {
        impl<S> $name<S> {
            /// The peer's authenticated Ed25519 public key. It only proves that the peer
            /// holds this key: compare it with the key you expected.
            pub fn remote_pubkey(&self) -> [u8; 32] {
                self.inner.remote_pubkey()
            }

            /// The peer's id: its authenticated public key, by which the switch knows
            /// peers (printed as 64 upper-case hex digits, as Go v0.12's `peer.Key()`).
            pub fn remote_id(&self) -> $crate::peer_id::PeerId {
                self.inner.remote_id()
            }

            /// The same connection over another stream type (for example, the
            /// `TcpStream` inside a wrapper that enforced a handshake deadline). `f` must
            /// return the same byte stream, or the encrypted stream is corrupted.
            pub fn map_stream<T>(self, f: impl FnOnce(S) -> T) -> $name<T> {
                $name {
                    inner: self.inner.map_stream(f),
                }
            }

            /// The handshake's challenge: the same 32 bytes on both ends, different for
            /// every connection. The switch uses it to tell two connections between the
            /// same nodes apart the same way on both sides.
            // Unread while a family's switch handshake does not use it yet.
            #[allow(dead_code)]
            pub(crate) fn challenge(&self) -> [u8; 32] {
                self.inner.challenge()
            }

            /// The connection as a reading half and a writing half over a shared `&S`,
            /// for one thread each (both need `&S` to read and write, as `&TcpStream`
            /// does), and the stream itself: for the NodeInfo exchange, before the
            /// connection becomes a transport.
            // Unread while a family's switch handshake does not use it yet.
            #[allow(dead_code)]
            pub(crate) fn halves(
                &mut self,
            ) -> (
                $crate::sealed_stream::connection::RecvHalf<'_, S, $format>,
                $crate::sealed_stream::connection::SendHalf<'_, S, $format>,
                &S,
            ) {
                self.inner.halves()
            }

            /// The underlying stream, for example to change its timeouts. Reading or
            /// writing it directly would corrupt the encrypted stream.
            pub fn get_ref(&self) -> &S {
                self.inner.get_ref()
            }
        }

        impl $name<std::net::TcpStream> {
            /// Splits the connection into a [`Transport`](crate::Transport) for
            /// [`MConnection::with_transport`](crate::MConnection::with_transport): a
            /// reader and a writer half on two clones of the socket, each with one
            /// direction's cipher and nonce, and a closer that shuts the socket down
            /// (both halves stop blocking). Sealed bytes not yet written (a `write` that
            /// stalled and was not flushed) are written first, or, if the socket is
            /// still full, by the MConnection's first write.
            ///
            /// Sets `TCP_NODELAY`, no read timeout (the handshake's deadline no longer
            /// applies; the MConnection's keepalive detects a dead peer), and a write
            /// timeout of `write_timeout` clamped to 1..=250 ms, like
            /// [`Transport::tcp`](crate::Transport::tcp): a write that times out is
            /// resumed later without losing or repeating a byte.
            ///
            /// Blocks only to write unflushed bytes, each socket write bounded by the
            /// timeout.
            ///
            /// Errors: [`io::Error`](std::io::Error) if the socket cannot be cloned or
            /// configured, or writing the unflushed bytes fails (other than by timing
            /// out).
            pub fn into_transport_with_write_timeout(
                self,
                write_timeout: std::time::Duration,
            ) -> std::io::Result<$crate::transport::Transport> {
                self.inner.into_transport(write_timeout)
            }
        }

        impl<S: std::io::Read> std::io::Read for $name<S> {
            /// Reads decrypted bytes, a plain byte stream whatever the frames. Blocks on
            /// the stream only when no decrypted byte is buffered. `Ok(0)` means the
            /// peer closed the stream between two frames.
            ///
            /// Errors: the stream's errors (a timeout keeps a partly read frame for the
            /// next call); `UnexpectedEof` if the stream ends inside a frame; an altered,
            /// misordered or over-long frame is [`Error::Secret`](crate::Error::Secret)
            /// (kind `InvalidData`, unwrap it with `Error::from`), and the connection is
            /// unusable after it.
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(buf)
            }
        }

        impl<S: std::io::Write> std::io::Write for $name<S> {
            /// Seals up to 64 KiB of `buf` into frames of its own and writes them;
            /// returns the bytes taken. Blocks in the stream's `write`, and stops writing
            /// (the rest is kept for the next call) when the stream takes less than it is
            /// offered.
            ///
            /// Errors: the stream's errors. If bytes from an earlier call are still
            /// unwritten and the stream stalls (`WouldBlock`/`TimedOut`, or takes only
            /// part of them, which is reported as `WouldBlock`), that error is returned
            /// and nothing of `buf` is taken; call again.
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(buf)
            }

            /// Writes every sealed byte, then flushes the stream. A stall error
            /// (including a stream that took only part of the bytes) means "call again".
            fn flush(&mut self) -> std::io::Result<()> {
                self.inner.flush()
            }
        }

        impl<S> std::fmt::Debug for $name<S> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }
    };
}

pub(crate) use sealed_connection_api;
