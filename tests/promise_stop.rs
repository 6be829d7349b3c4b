//! `stop()` from inside callbacks, of this or another connection or switch, must not
//! deadlock, and `stop()` is bounded by the library's own timeouts (issue 11, items 8,
//! 9 and 10). Each test arranges the crossing deterministically (barriers and signals),
//! so a deadlock is a hang that the watchdog turns into a failure.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use mconn::{
    ChannelDescriptor, ChannelId, Error, MConnConfig, MConnection, Peer, Reactor, Switch,
    WeakSwitch,
};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Item 8: A's `on_error` stops B while B's `on_error` stops A (tearing down both legs
/// of a relay). Each waited for the other's recv thread.
#[test]
fn two_connections_stopping_each_other_from_on_error_do_not_deadlock() {
    let _w = watchdog("crossed_on_error_stops", LIMIT);
    let barrier = Arc::new(Barrier::new(2));
    let (done_tx, done) = unbounded();
    let other_of_a: Arc<OnceLock<MConnection>> = Arc::default();
    let other_of_b: Arc<OnceLock<MConnection>> = Arc::default();
    let leg = |stream, other: Arc<OnceLock<MConnection>>, name: &'static str| {
        let (barrier, done_tx) = (barrier.clone(), done_tx.clone());
        MConnection::new(
            stream,
            vec![ChannelDescriptor::new(0x01, 1)],
            MConnConfig::default(),
            |_, _| {},
            move |_e| {
                // Both legs are inside on_error before either stops the other.
                barrier.wait();
                if let Some(o) = other.get() {
                    o.stop();
                }
                let _ = done_tx.send(name);
            },
        )
        .unwrap()
    };
    let (a_ours, a_far) = tcp_pair();
    let (b_ours, b_far) = tcp_pair();
    let a = leg(a_ours, other_of_a.clone(), "a");
    let b = leg(b_ours, other_of_b.clone(), "b");
    other_of_a.set(b.clone()).unwrap();
    other_of_b.set(a.clone()).unwrap();
    // Both far ends close: both legs fail at once.
    drop(a_far);
    drop(b_far);
    let mut names = vec![
        done.recv_timeout(Duration::from_secs(30))
            .expect("one on_error returned"),
        done.recv_timeout(Duration::from_secs(30))
            .expect("the other returned"),
    ];
    names.sort();
    assert_eq!(names, ["a", "b"]);
    // From a thread outside any callback, stop joins every thread.
    a.stop();
    b.stop();
    assert!(!a.is_running() && !b.is_running());
}

/// Stops another switch from inside `receive`, after both switches' reactors got there.
struct StopOther {
    other: OnceLock<WeakSwitch>,
    barrier: Arc<Barrier>,
    done: Sender<()>,
}

impl Reactor for StopOther {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x01, 1)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        self.barrier.wait();
        if let Some(sw) = self.other.get().and_then(|w| w.upgrade()) {
            sw.stop();
        }
        let _ = self.done.send(());
    }
}

/// Item 8, between switches: S1's reactor stops S2 while S2's reactor stops S1.
#[test]
fn two_switches_stopping_each_other_from_reactors_do_not_deadlock() {
    let _w = watchdog("crossed_switch_stops", LIMIT);
    let barrier = Arc::new(Barrier::new(2));
    let (done_tx, done) = unbounded();
    let make = || {
        Arc::new(StopOther {
            other: OnceLock::new(),
            barrier: barrier.clone(),
            done: done_tx.clone(),
        })
    };
    let (r1, r2) = (make(), make());
    let s1 = Switch::new(config(), node_info("s1")).unwrap();
    s1.add_reactor("stop", r1.clone()).unwrap();
    let s1_addr = s1.listen("127.0.0.1:0").unwrap();
    let s2 = Switch::new(config(), node_info("s2")).unwrap();
    s2.add_reactor("stop", r2.clone()).unwrap();
    let s2_addr = s2.listen("127.0.0.1:0").unwrap();
    r1.other.set(s2.downgrade()).unwrap();
    r2.other.set(s1.downgrade()).unwrap();
    let (c, _) = listening("c", &[("r", Recorder::new(&[0x01]))], config());
    c.dial(s1_addr).unwrap().send(0x01, "stop s2").unwrap();
    c.dial(s2_addr).unwrap().send(0x01, "stop s1").unwrap();
    done.recv_timeout(Duration::from_secs(30))
        .expect("one stop returned");
    done.recv_timeout(Duration::from_secs(30))
        .expect("the other returned");
    assert!(!s1.is_running() && !s2.is_running());
    s1.stop();
    s2.stop();
    c.stop();
}

/// Calls `listen` from `receive` once told to.
struct ListenLater {
    sw: OnceLock<WeakSwitch>,
    entered: Sender<()>,
    go: Receiver<()>,
    result: Sender<Result<SocketAddr, Error>>,
}

impl Reactor for ListenLater {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x01, 1)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        let _ = self.entered.send(());
        let _ = self.go.recv();
        if let Some(sw) = self.sw.get().and_then(|w| w.upgrade()) {
            let _ = self.result.send(sw.listen("127.0.0.1:0"));
        }
    }
}

/// Item 9: `listen()` from a reactor while `stop()` ran deadlocked: stop held the thread
/// list's lock while joining the workers, and listen wanted it.
#[test]
fn listen_from_a_reactor_while_stop_runs_does_not_deadlock() {
    let _w = watchdog("listen_during_stop", LIMIT);
    let (entered_tx, entered) = bounded(1);
    let (go_tx, go) = bounded(1);
    let (result_tx, result) = bounded(1);
    let r = Arc::new(ListenLater {
        sw: OnceLock::new(),
        entered: entered_tx,
        go,
        result: result_tx,
    });
    let hub = Switch::new(config(), node_info("hub")).unwrap();
    hub.add_reactor("listen", r.clone()).unwrap();
    let hub_addr = hub.listen("127.0.0.1:0").unwrap();
    r.sw.set(hub.downgrade()).unwrap();
    let (c, _) = listening("c", &[("r", Recorder::new(&[0x01]))], config());
    c.dial(hub_addr).unwrap().send(0x01, "listen").unwrap();
    entered.recv_timeout(Duration::from_secs(30)).unwrap();

    let stopper = hub.clone();
    let stopping = thread::spawn(move || stopper.stop());
    assert!(wait_until(Duration::from_secs(30), || !hub.is_running()));
    go_tx.send(()).unwrap();
    let listened = result
        .recv_timeout(Duration::from_secs(30))
        .expect("listen returned");
    assert!(
        matches!(listened, Err(Error::Stopped)),
        "listen on a stopping switch: {listened:?}"
    );
    stopping.join().expect("stop returned");
    c.stop();
}

/// Item 10: `stop()` waited for a user filter for as long as the filter took. It must
/// return while the filter is still running.
#[test]
fn stop_does_not_wait_for_a_slow_filter() {
    let _w = watchdog("stop_vs_slow_filter", LIMIT);
    let (entered_tx, entered) = bounded(1);
    let (release_tx, release) = bounded::<()>(1);
    let hub = Switch::new(
        config().filter_timeout(Duration::from_secs(3600)),
        node_info("hub"),
    )
    .unwrap();
    hub.add_reactor("r", Recorder::new(&[0x01])).unwrap();
    hub.set_addr_filter(move |_| {
        let _ = entered_tx.send(());
        let _ = release.recv();
        Ok(())
    });
    let addr = hub.listen("127.0.0.1:0").unwrap();
    let _conn = TcpStream::connect(addr).unwrap();
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the filter runs");
    // Returns although the filter is still blocked (released only afterwards).
    hub.stop();
    assert!(!hub.is_running());
    release_tx.send(()).unwrap();
}
