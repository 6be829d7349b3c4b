//! A chat over mconn: the whole stack (handshake, two prioritised channels, broadcast,
//! peers joining and leaving) in a small program.
//!
//! ```text
//! cargo run --example chat                      # the demo: alice, bob, carol, then dave via PEX
//! cargo run --example chat -- --name alice --listen 127.0.0.1:26656
//! cargo run --example chat -- --name bob --listen 127.0.0.1:26657 --peer 127.0.0.1:26656 [--persistent]
//! cargo run --example chat -- --name carol --listen 127.0.0.1:26658 --seed 127.0.0.1:26656
//! cargo run --features metrics --example chat -- --name dave --listen 127.0.0.1:26659 \
//!     --peer 127.0.0.1:26656 --metrics 127.0.0.1:26660   # Prometheus at /metrics
//! ```
//!
//! Chat lines travel as go-wire strings on channel 0x01 (priority 1). Presence (hello,
//! nick changes, goodbye) travels on channel 0x02 (priority 5), so it overtakes chat
//! when both are busy. Logging goes through env_logger: `RUST_LOG=mconn=debug`.
//!
//! Interactively, each line you send is shown back as `[yourname] text`, and a `> `
//! prompt is drawn when stdin and stdout are a terminal (never into a pipe, so scripts
//! read plain lines). Every session ends with exactly one `bye: REASON` line, whatever
//! the way out: `/quit`, Ctrl-C, end of input, or an error (then on stderr, exit 1).

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt::Display;
use std::io::{self, BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver, Sender};
use mconn::pex::{AddrBook, PexConfig, PexReactor};
use mconn::{
    wire, BroadcastResult, ChannelDescriptor, ChannelId, Error, NodeInfo, NodeKey, Peer, Reactor,
    ReconnectSchedule, Switch, SwitchConfig, SwitchEvent,
};
use parking_lot::Mutex;

#[path = "chat/metrics_http.rs"]
mod metrics_http;

const CHAT: ChannelId = 0x01;
const PRESENCE: ChannelId = 0x02;
const HELLO: u8 = 1;
const NICK: u8 = 2;
const BYE: u8 = 3;

/// Something the chat reactor saw, for the UI (or the demo's script) to show.
#[derive(Debug, Clone)]
enum Seen {
    Joined {
        nick: String,
        addr: SocketAddr,
        outbound: bool,
    },
    Line {
        nick: String,
        text: String,
    },
    Renamed {
        from: String,
        to: String,
    },
    Left {
        nick: String,
        reason: String,
    },
}

/// The chat reactor: decodes the two channels and reports what it sees.
struct Chat {
    me: Mutex<String>,
    seen: Sender<Seen>,
}

fn presence(kind: u8, name: &str) -> Bytes {
    let mut m = vec![kind];
    wire::put_str(&mut m, name);
    m.into()
}

fn chat_line(text: &str) -> Bytes {
    let mut m = Vec::new();
    wire::put_str(&mut m, text);
    m.into()
}

fn nick_of(peer: &Peer) -> String {
    peer.get::<Mutex<String>>("nick")
        .map(|n| n.lock().clone())
        .unwrap_or_else(|| peer.node_info().moniker.clone())
}

impl Reactor for Chat {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![
            ChannelDescriptor::new(CHAT, 1)
                .send_queue_capacity(100)
                .recv_message_capacity(64 * 1024),
            ChannelDescriptor::new(PRESENCE, 5)
                .send_queue_capacity(10)
                .recv_message_capacity(1024),
        ]
    }

    fn add_peer(&self, peer: &Arc<Peer>) {
        peer.set("nick", Mutex::new(peer.node_info().moniker.clone()));
        let _ = peer.send(PRESENCE, presence(HELLO, &self.me.lock()));
        let _ = self.seen.send(Seen::Joined {
            nick: nick_of(peer),
            addr: peer.remote_addr(),
            outbound: peer.is_outbound(),
        });
    }

    fn remove_peer(&self, peer: &Arc<Peer>, reason: &Error) {
        let _ = self.seen.send(Seen::Left {
            nick: nick_of(peer),
            reason: reason.to_string(),
        });
    }

    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        match ch {
            CHAT => match wire::read_string(&mut &msg[..], 64 * 1024, "chat line") {
                Ok(text) => {
                    let _ = self.seen.send(Seen::Line {
                        nick: nick_of(peer),
                        text,
                    });
                }
                Err(e) => log::warn!("{peer} sent a bad chat line: {e}"),
            },
            PRESENCE => {
                let Some((&kind, rest)) = msg.split_first() else {
                    return;
                };
                let Ok(name) = wire::read_string(&mut &rest[..], 256, "name") else {
                    return;
                };
                let Some(nick) = peer.get::<Mutex<String>>("nick") else {
                    return;
                };
                let old = std::mem::replace(&mut *nick.lock(), name.clone());
                if (kind == NICK || kind == HELLO) && old != name {
                    let _ = self.seen.send(Seen::Renamed {
                        from: old,
                        to: name,
                    });
                } else if kind == BYE {
                    log::debug!("{name} says goodbye");
                }
            }
            _ => {}
        }
    }
}

/// How often a node's discovery loop looks for more peers (Go's default is 30 s; a chat
/// room wants to fill up quickly).
const PEX_PERIOD: Duration = Duration::from_secs(1);

/// One chat node: a switch with the chat reactor and peer exchange.
struct Node {
    name: String,
    switch: Switch,
    pex: Arc<PexReactor>,
    chat: Arc<Chat>,
    seen: Receiver<Seen>,
    addr: SocketAddr,
}

impl Node {
    fn start(name: &str, listen: &str, config: SwitchConfig) -> Result<Node, Box<dyn StdError>> {
        let (tx, seen) = unbounded();
        let chat = Arc::new(Chat {
            me: Mutex::new(name.to_string()),
            seen: tx,
        });
        let info = NodeInfo {
            moniker: name.to_string(),
            network: "mconn-chat".into(),
            version: "0.12.1".into(),
            ..NodeInfo::default()
        };
        let switch = Switch::new(config, info)?;
        switch.add_reactor("chat", chat.clone())?;
        // Peer exchange: a node told one address finds the rest of the room. The book
        // takes loopback and private addresses (not strict): a chat runs on one host or
        // a LAN.
        let pex = PexReactor::new(
            AddrBook::new(false),
            PexConfig::default().ensure_period(PEX_PERIOD),
        );
        switch.add_reactor("pex", pex.clone())?;
        let addr = switch
            .listen(listen)
            .map_err(|e| cannot_listen(listen, e))?;
        pex.start(&switch)?;
        Ok(Node {
            name: name.to_string(),
            switch,
            pex,
            chat,
            seen,
            addr,
        })
    }

    /// Asks `seeds` for the room: they go in the address book, and are dialled at once.
    fn join_through(&self, seeds: &[SocketAddr]) -> Result<(), Error> {
        self.pex.dial_seeds(&self.switch, seeds.iter().copied())
    }

    /// Sends a chat line to every peer; returns a note for each peer that did not take it.
    fn say(&self, text: &str) -> Vec<String> {
        undelivered(&self.switch.broadcast(CHAT, chat_line(text)))
    }

    fn rename(&self, to: &str) {
        *self.chat.me.lock() = to.to_string();
        self.switch.broadcast(PRESENCE, presence(NICK, to));
    }

    fn leave(&self) {
        self.switch
            .broadcast(PRESENCE, presence(BYE, &self.chat.me.lock()));
        // Every peer's goodbye is written, all at once, within two seconds.
        self.switch.flush_stop(Duration::from_secs(2));
    }

    /// Waits for what `want` accepts, printing everything seen on the way.
    fn wait_for(&self, mut want: impl FnMut(&Seen) -> bool) -> bool {
        while let Ok(s) = self.seen.recv_timeout(Duration::from_secs(10)) {
            println!("{:>6} | {}", self.name, show(&s));
            if want(&s) {
                return true;
            }
        }
        println!("{:>6} | (gave up waiting)", self.name);
        false
    }
}

/// "cannot listen on ADDR: why". The library's error does not say which address it was
/// about, so the message names the one the user gave.
fn cannot_listen(addr: &str, e: Error) -> String {
    match e {
        Error::Io(e) if e.kind() == io::ErrorKind::AddrInUse => {
            format!("cannot listen on {addr}: address already in use")
        }
        Error::Io(e) => format!("cannot listen on {addr}: {e}"),
        e => format!("cannot listen on {addr}: {e}"),
    }
}

fn undelivered(r: &BroadcastResult) -> Vec<String> {
    if r.sent.is_empty() && r.failed.is_empty() {
        return vec!["  (nobody is connected: no one got that)".into()];
    }
    r.failed
        .iter()
        .map(|(id, e)| format!("  (not delivered to {}: {e})", id.short()))
        .collect()
}

fn show(s: &Seen) -> String {
    match s {
        Seen::Joined {
            nick,
            addr,
            outbound,
        } => {
            format!(
                "* {nick} joined ({} {addr})",
                if *outbound { "dialled" } else { "from" }
            )
        }
        Seen::Line { nick, text } => format!("[{nick}] {text}"),
        Seen::Renamed { from, to } => format!("* {from} is now {to}"),
        Seen::Left { nick, reason } => format!("* {nick} left ({reason})"),
    }
}

/// The `/peers` table: one line per peer and one per channel of each.
fn peers_report(node: &Node) -> Vec<String> {
    let mut lines = vec![format!(
        "peers of {} ({}):",
        node.chat.me.lock(),
        node.switch.id().short()
    )];
    for p in node.switch.peers() {
        let st = p.status();
        lines.push(format!(
            "  {:<8} {} {:<3} {:>21}  sent {:>6} B  recv {:>6} B  up {:>5} B/s  down {:>5} B/s  rtt {}",
            nick_of(&p),
            p.id().short(),
            if p.is_outbound() { "out" } else { "in" },
            p.remote_addr(),
            st.bytes_sent,
            st.bytes_received,
            st.send_rate as u64,
            st.recv_rate as u64,
            // Measured from the first ping on (one a minute).
            st.rtt
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "-".into()),
        ));
        for c in &st.channels {
            lines.push(format!(
                "      channel {:#04x} priority {}: {} msgs out, {} msgs in, queue {}/{}",
                c.id,
                c.priority,
                c.messages_sent,
                c.messages_received,
                c.send_queue_size,
                c.send_queue_capacity
            ));
        }
    }
    lines
}

/// The demo: three nodes in one process, a short conversation, one leaves.
fn demo() -> Result<ExitCode, Box<dyn StdError>> {
    println!("mconn chat demo: alice, bob and carol on loopback; dave joins through a seed\n");
    let cfg = || SwitchConfig::default();
    let alice = Node::start("alice", "127.0.0.1:0", cfg())?;
    let bob = Node::start("bob", "127.0.0.1:0", cfg())?;
    let carol = Node::start("carol", "127.0.0.1:0", cfg())?;
    println!(
        "alice listens on {}, bob on {}, carol on {}",
        alice.addr, bob.addr, carol.addr
    );
    println!(
        "alice is {}\nbob   is {}\ncarol is {}\n",
        alice.switch.id(),
        bob.switch.id(),
        carol.switch.id()
    );

    bob.switch.dial(alice.addr)?;
    carol.switch.dial(alice.addr)?;
    carol.switch.dial(bob.addr)?;
    let joined = |n: &Node| {
        let mut k = 0;
        n.wait_for(|s| {
            k += matches!(s, Seen::Joined { .. }) as u32;
            k == 2
        })
    };
    let mut ok = joined(&alice) & joined(&bob) & joined(&carol);

    let heard =
        |n: &Node, text: &str| n.wait_for(|s| matches!(s, Seen::Line { text: t, .. } if t == text));
    let say = |n: &Node, text: &str| {
        for note in n.say(text) {
            println!("{:>6} | {note}", n.name);
        }
    };
    let joined_one = |n: &Node| n.wait_for(|s| matches!(s, Seen::Joined { .. }));
    let left =
        |n: &Node, who: &str| n.wait_for(|s| matches!(s, Seen::Left { nick, .. } if nick == who));
    say(&alice, "hi everyone!");
    ok &= heard(&bob, "hi everyone!") & heard(&carol, "hi everyone!");
    say(&bob, "hello alice, hello carol");
    ok &= heard(&alice, "hello alice, hello carol") & heard(&carol, "hello alice, hello carol");
    carol.rename("caroline");
    let renamed =
        |n: &Node| n.wait_for(|s| matches!(s, Seen::Renamed { to, .. } if to == "caroline"));
    ok &= renamed(&alice) & renamed(&bob);
    say(&carol, "I have to go, bye!");
    ok &= heard(&alice, "I have to go, bye!") & heard(&bob, "I have to go, bye!");

    // Dave knows only alice's address: peer exchange tells him of bob and carol.
    println!("\ndave knows only alice's address; peer exchange finds him the rest\n");
    let dave = Node::start("dave", "127.0.0.1:0", cfg())?;
    dave.join_through(&[alice.addr])?;
    // Three peers at once, not three "joined" lines: a connection replaced by a second
    // one to the same node (both sides dialled at once) leaves and joins again.
    let mut met = HashSet::new();
    ok &= dave.wait_for(|s| {
        match s {
            Seen::Joined { nick, .. } => met.insert(nick.clone()),
            Seen::Left { nick, .. } => met.remove(nick),
            _ => false,
        };
        met.len() == 3
    });
    ok &= joined_one(&bob) & joined_one(&carol);
    println!(
        "\ndave found {} peer(s) from one seed",
        dave.switch.peers().len()
    );

    println!();
    for n in [&alice, &bob, &carol, &dave] {
        for line in peers_report(n) {
            println!("{:>6} | {line}", n.name);
        }
    }
    println!();
    dave.leave();
    ok &= left(&alice, "dave") & left(&bob, "dave") & left(&carol, "dave");
    carol.leave();
    ok &= left(&alice, "caroline") & left(&bob, "caroline");
    println!(
        "\nalice has {} peer(s), bob has {} peer(s) after carol left",
        alice.switch.peers().len(),
        bob.switch.peers().len()
    );
    alice.leave();
    bob.leave();
    if ok {
        println!("demo finished");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("demo did not see everything it expected");
        Ok(ExitCode::FAILURE)
    }
}

struct Args {
    name: String,
    listen: String,
    peers: Vec<String>,
    seeds: Vec<String>,
    persistent: bool,
    key: Option<String>,
    metrics: Option<String>,
}

/// What the command line asks for.
enum Command {
    Demo,
    Help,
    Chat(Args),
}

const USAGE: &str = "usage: chat                                   (the three-node demo)
       chat --name NAME --listen ADDR [--peer ADDR]... [--seed ADDR]... [--persistent] [--key FILE]
            [--metrics ADDR]
       chat --help

  --name NAME    your nick, also the node's moniker
  --listen ADDR  where peers reach you (port 0 picks one; the line shows which)
  --peer ADDR    a node to connect to (repeatable)
  --seed ADDR    a node to ask for the room's addresses (repeatable): peer exchange
                 then connects you to the others
  --persistent   keep redialling the --peer nodes while they are down or drop
  --key FILE     the node's identity, in CometBFT's node_key.json layout: loaded if the
                 file exists, created otherwise, so a restarted node keeps its id
  --metrics ADDR serve the node's Prometheus metrics at http://ADDR/metrics (port 0 picks
                 one; the line shows which; needs the `metrics` feature)

commands while chatting: /peers  /status  /nick NAME  /help  /quit   (Ctrl-C or end of input also quit)";

const COMMANDS: &str = "commands: /peers  /status  /nick NAME  /help  /quit";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut a = Args {
        name: String::new(),
        listen: String::new(),
        peers: Vec::new(),
        seeds: Vec::new(),
        persistent: false,
        key: None,
        metrics: None,
    };
    let mut any = false;
    while let Some(flag) = args.next() {
        any = true;
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--name" => a.name = value("--name")?,
            "--listen" => a.listen = value("--listen")?,
            "--peer" => a.peers.push(value("--peer")?),
            "--seed" => a.seeds.push(value("--seed")?),
            "--persistent" => a.persistent = true,
            "--key" => a.key = Some(value("--key")?),
            "--metrics" => a.metrics = Some(value("--metrics")?),
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !any {
        return Ok(Command::Demo);
    }
    if a.name.is_empty() || a.listen.is_empty() {
        return Err("--name and --listen are required".into());
    }
    Ok(Command::Chat(a))
}

/// The terminal, shared by the threads that print: one lock around each line so lines
/// never interleave, the prompt redrawn below them, and nothing after the goodbye.
struct Screen {
    /// Draw a `> ` prompt: only when a person is typing at a terminal (stdin) and reading
    /// one (stdout). A pipe gets plain lines, so a script reading them is not confused.
    prompt: bool,
    /// The session is ending: only the goodbye line is printed from now on.
    closed: Mutex<bool>,
}

/// Back to the start of the line and erase it. On a terminal our output always ends with
/// a newline, so the cursor's line holds only the prompt and what the user is typing
/// (which disappears from view but stays in the terminal's input buffer).
const ERASE_LINE: &str = "\r\x1b[2K";

impl Screen {
    fn new() -> Screen {
        Screen {
            prompt: io::stdin().is_terminal() && io::stdout().is_terminal(),
            closed: Mutex::new(false),
        }
    }

    /// Prints one line (or several, joined by newlines) above the prompt.
    fn line(&self, text: impl Display) {
        let closed = self.closed.lock();
        if *closed {
            return;
        }
        let mut out = io::stdout().lock();
        let _ = if self.prompt {
            write!(out, "{ERASE_LINE}{text}\n> ")
        } else {
            writeln!(out, "{text}")
        };
        let _ = out.flush();
    }

    /// Draws the prompt (again: the user pressed Enter, or we just started).
    fn prompt(&self) {
        let closed = self.closed.lock();
        if self.prompt && !*closed {
            print!("{ERASE_LINE}> ");
            let _ = io::stdout().flush();
        }
    }

    /// Ends the session on screen: erases the prompt; later lines are dropped.
    fn close(&self) {
        let mut closed = self.closed.lock();
        if self.prompt && !*closed {
            print!("{ERASE_LINE}");
            let _ = io::stdout().flush();
        }
        *closed = true;
    }
}

/// How a session ends: `Ok(reason)` when the user left, `Err(why)` on an error.
type Exit = Result<String, String>;

/// Handles one line typed by the user. Returns how the session ends, if it does.
fn command(node: &Node, screen: &Screen, line: &str) -> Option<Exit> {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    match (cmd, rest.trim()) {
        ("", _) => {}
        ("/quit", _) => return Some(Ok("/quit".into())),
        ("/help", _) => screen.line(COMMANDS),
        ("/peers", _) => screen.line(peers_report(node).join("\n")),
        ("/status", _) => {
            let (out, inb) = node.switch.num_peers();
            screen.line(format!(
                "{} ({}) on {}: {} peer(s), {} outbound, {} inbound",
                node.chat.me.lock(),
                node.switch.id(),
                node.addr,
                out + inb,
                out,
                inb
            ));
        }
        ("/nick", "") => screen.line("usage: /nick NAME"),
        ("/nick", name) => {
            node.rename(name);
            screen.line(format!("* you are now {name}"));
        }
        (cmd, _) if cmd.starts_with('/') => {
            screen.line(format!("unknown command {cmd}; {COMMANDS}"))
        }
        _ => {
            // Your own line, as your peers see it.
            screen.line(format!("[{}] {line}", node.chat.me.lock()));
            for note in node.say(line) {
                screen.line(note);
            }
        }
    }
    None
}

/// Connects to the `--peer` nodes, one after the other, saying so before each attempt
/// (a dial may take seconds: up to `dial_timeout` to connect, then the handshake).
fn dial_all(node: &Node, screen: &Screen, peers: &[String], persistent: bool) {
    for peer in peers {
        screen.line(format!("* connecting to {peer} ..."));
        if persistent {
            // Returns at once; how the attempts go arrives as switch events.
            if let Err(e) = node.switch.dial_persistent(peer.as_str()) {
                screen.line(format!("* cannot dial {peer}: {e}"));
            }
        } else if let Err(e) = node.switch.dial(peer.as_str()) {
            // Success needs no line: the reactor's "joined" says it.
            screen.line(format!("* could not connect to {peer}: {e}"));
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
}

/// An interactive session. Returns once the node has left (its peers were told), with
/// how the session ended; the caller prints the goodbye line.
fn interactive(args: Args, screen: &Arc<Screen>) -> Result<Exit, Box<dyn StdError>> {
    // Every way out goes through `quit`; the first one wins.
    let (quit_tx, quit) = unbounded::<Exit>();
    // Installed before anything is printed: once "listening on" shows, Ctrl-C is handled.
    {
        let quit_tx = quit_tx.clone();
        ctrlc::set_handler(move || {
            let _ = quit_tx.send(Ok("interrupted".into()));
        })?;
    }
    let mut config = SwitchConfig::default().reconnect(ReconnectSchedule::default());
    if let Some(file) = &args.key {
        config = config.node_key(Some(NodeKey::load_or_generate(file)?));
    }
    let node = Arc::new(Node::start(&args.name, &args.listen, config)?);
    screen.line(format!(
        "{} ({}) listening on {}",
        args.name,
        node.switch.id().short(),
        node.addr
    ));
    // Stopped (and its thread joined) when this function returns.
    let _metrics = match &args.metrics {
        Some(addr) => {
            let served = metrics_http::serve(&node.switch, addr)?;
            #[cfg(feature = "metrics")]
            screen.line(format!("metrics on http://{}/metrics", served.addr));
            Some(served)
        }
        None => None,
    };

    // What the reactor sees, printed as it comes.
    {
        let (seen, screen) = (node.seen.clone(), screen.clone());
        spawn("chat-events", move || {
            while let Ok(s) = seen.recv() {
                screen.line(show(&s));
            }
        })?;
    }
    // What the switch did on its own: a persistent peer not reachable yet (said once per
    // address, not at every attempt), or given up.
    {
        let (events, screen) = (node.switch.events(64), screen.clone());
        spawn("chat-switch-events", move || {
            let mut told = std::collections::HashSet::new();
            for event in events.iter() {
                match event {
                    SwitchEvent::DialFailed {
                        addr,
                        persistent: true,
                        reason,
                    } if told.insert(addr) => screen.line(format!(
                        "* cannot reach {addr} yet ({reason}); will keep trying in the background"
                    )),
                    SwitchEvent::PersistentGivenUp { addr, attempts } => {
                        told.remove(&addr);
                        screen.line(format!("* gave up on {addr} after {attempts} attempts"))
                    }
                    _ => {}
                }
            }
        })?;
    }
    // Seeds: dialled at once in the background; peer exchange does the rest.
    if !args.seeds.is_empty() {
        let mut seeds = Vec::new();
        for s in &args.seeds {
            match std::net::ToSocketAddrs::to_socket_addrs(s.as_str()).map(|mut a| a.next()) {
                Ok(Some(a)) => seeds.push(a),
                _ => screen.line(format!("* cannot resolve seed {s}")),
            }
        }
        for s in &seeds {
            screen.line(format!("* asking seed {s} for the room ..."));
        }
        if let Err(e) = node.join_through(&seeds) {
            screen.line(format!("* cannot dial the seeds: {e}"));
        }
    }
    // Dials on a thread of their own, so you can type (or quit) while they take time.
    if !args.peers.is_empty() {
        let (node, screen) = (node.clone(), screen.clone());
        spawn("chat-dial", move || {
            dial_all(&node, &screen, &args.peers, args.persistent)
        })?;
    }
    screen.prompt();
    // Lines typed, read as bytes so that a line that is not UTF-8 is shown, not fatal.
    {
        let (node, screen) = (node.clone(), screen.clone());
        spawn("chat-input", move || {
            let mut stdin = io::stdin().lock();
            let mut buf = Vec::new();
            let exit = loop {
                buf.clear();
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) => break Ok("end of input".into()),
                    Ok(_) => {}
                    Err(e) => break Err(format!("cannot read input: {e}")),
                }
                let line = String::from_utf8_lossy(&buf);
                if let Some(exit) = command(&node, &screen, line.trim()) {
                    break exit;
                }
                screen.prompt();
            };
            let _ = quit_tx.send(exit);
        })?;
    }

    let exit = quit
        .recv()
        .unwrap_or_else(|_| Err("every way out closed".into()));
    // Nothing but the goodbye is printed from here: not our own peers "leaving" as we stop.
    screen.close();
    node.leave();
    // The input thread may still be blocked reading (after Ctrl-C): returning from main
    // ends it, and the others.
    Ok(exit)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Demo) => {
            return demo().unwrap_or_else(|e| {
                eprintln!("chat: {e}");
                ExitCode::FAILURE
            })
        }
        Ok(Command::Chat(args)) => args,
        Err(why) => {
            eprintln!("chat: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let screen = Arc::new(Screen::new());
    let exit = interactive(args, &screen).unwrap_or_else(|e| Err(e.to_string()));
    // The one exit line, whatever the way out.
    screen.close();
    match exit {
        Ok(reason) => {
            println!("bye: {reason}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("bye: {why}");
            ExitCode::FAILURE
        }
    }
}
