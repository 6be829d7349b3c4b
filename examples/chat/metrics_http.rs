//! `--metrics ADDR`: the node's Prometheus metrics, served over HTTP at `/metrics` by a
//! small synchronous server on a thread of its own (feature `metrics`).

use mconn::Switch;

#[cfg(feature = "metrics")]
pub use served::MetricsServer;

/// Serves `switch`'s metrics on `addr` until the returned server is dropped.
#[cfg(feature = "metrics")]
pub fn serve(switch: &Switch, addr: &str) -> Result<MetricsServer, String> {
    MetricsServer::start(switch, addr)
}

/// Without the feature there is nothing to serve: say how to get it.
#[cfg(not(feature = "metrics"))]
pub fn serve(_: &Switch, _: &str) -> Result<std::convert::Infallible, String> {
    Err(
        "--metrics needs the `metrics` feature: cargo run --features metrics --example chat -- ..."
            .into(),
    )
}

#[cfg(feature = "metrics")]
mod served {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};

    use mconn::prometheus_client::encoding::prometheus_text;
    use mconn::prometheus_client::registry::Registry;
    use mconn::Switch;
    use tiny_http::{Header, Response, Server};

    /// How long leaving the chat waits for the server's thread.
    const WAIT_AT_EXIT: Duration = Duration::from_secs(2);

    /// The HTTP server and its thread; dropping it stops both.
    pub struct MetricsServer {
        server: Arc<Server>,
        thread: Option<JoinHandle<()>>,
        /// Disconnected when the thread ends.
        done: Receiver<()>,
        /// Where it listens (the port is chosen when ADDR's is 0).
        pub addr: SocketAddr,
    }

    impl MetricsServer {
        pub fn start(switch: &Switch, addr: &str) -> Result<MetricsServer, String> {
            let server =
                Server::http(addr).map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
            let addr = server
                .server_addr()
                .to_ip()
                .ok_or_else(|| format!("cannot serve metrics on {addr}: not an IP address"))?;
            let server = Arc::new(server);
            // CometBFT's namespace, so its dashboards find the p2p metrics.
            let mut registry = Registry::with_prefix("cometbft");
            switch.register_metrics(&mut registry);
            let s = server.clone();
            let (ended, done) = bounded::<()>(0);
            let thread = std::thread::Builder::new()
                .name("chat-metrics".into())
                .spawn(move || {
                    let _ended = ended;
                    answer(&s, &registry)
                })
                .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
            Ok(MetricsServer {
                server,
                thread: Some(thread),
                done,
                addr,
            })
        }
    }

    /// Answers requests until the server is unblocked: `GET /metrics` gets the scrape,
    /// anything else a 404.
    fn answer(server: &Server, registry: &Registry) {
        for request in server.incoming_requests() {
            let response = if request.url() == "/metrics" {
                let mut text = String::new();
                match prometheus_text::encode(&mut text, registry) {
                    Ok(()) => {
                        let kind =
                            Header::from_bytes("Content-Type", prometheus_text::CONTENT_TYPE)
                                .expect("a valid header");
                        Response::from_string(text).with_header(kind)
                    }
                    Err(_) => Response::from_string("encoding failed").with_status_code(500),
                }
            } else {
                Response::from_string("not found: try /metrics").with_status_code(404)
            };
            // A scraper that went away is not our problem.
            let _ = request.respond(response);
        }
    }

    impl Drop for MetricsServer {
        /// Stops the server and waits up to two seconds for its thread: a scraper that
        /// stopped reading can leave the thread blocked in a write (tiny_http sets no
        /// write timeout), and leaving the chat must not wait for it. Such a thread is
        /// left behind; it ends with the process.
        fn drop(&mut self) {
            self.server.unblock();
            let Some(thread) = self.thread.take() else {
                return;
            };
            // The thread's end disconnects `done`.
            if let Err(RecvTimeoutError::Disconnected) = self.done.recv_timeout(WAIT_AT_EXIT) {
                let _ = thread.join();
            }
        }
    }
}
