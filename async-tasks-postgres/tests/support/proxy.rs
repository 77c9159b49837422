//! [`Proxy`]: a TCP proxy on loopback between a store and the test server, that can cut or
//! black-hole the traffic, for faults of the network rather than of the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

/// What the proxy does with the traffic, for connections open and to come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Passes it through.
    Forward,
    /// Swallows what the client sends and answers nothing, keeping the sockets open: a
    /// network that lost its way, or a server that froze. A connection black-holed once
    /// stays so; it ends only when the client hangs up.
    Blackhole,
    /// Closes every connection, and each new one as soon as it is accepted: a server that
    /// went away.
    Refuse,
}

/// A proxy to a port on 127.0.0.1; stops when dropped.
pub struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    counts: Arc<Counts>,
    /// The accepting task; every connection's task ends once the mode's sender is gone.
    _task: AbortOnDropHandle<()>,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    hung_up: AtomicUsize,
}

impl Proxy {
    /// A proxy to `upstream` on 127.0.0.1, forwarding, run on the current runtime.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let (mode, _) = watch::channel(Mode::Forward);
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn({
            let (mode, counts) = (mode.clone(), Arc::clone(&counts));
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    // Relaxed: counters read by the test after the fact.
                    counts.accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve(
                        client,
                        upstream,
                        mode.subscribe(),
                        Arc::clone(&counts),
                    ));
                }
            }
        });
        Proxy {
            port,
            mode,
            counts,
            _task: AbortOnDropHandle::new(task),
        }
    }

    /// The port to connect to instead of the upstream's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Switches what the proxy does, for open connections too.
    pub fn set(&self, mode: Mode) {
        self.mode
            .send_if_modified(|now| std::mem::replace(now, mode) != mode);
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::Relaxed)
    }

    /// How many black-holed connections their client closed so far.
    pub fn hung_up(&self) -> usize {
        self.counts.hung_up.load(Ordering::Relaxed)
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: u16,
    mut mode: watch::Receiver<Mode>,
    counts: Arc<Counts>,
) {
    let now = *mode.borrow_and_update();
    let _upstream = match now {
        Mode::Refuse => return,
        Mode::Blackhole => None,
        Mode::Forward => {
            let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            loop {
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => return,
                    changed = mode.changed() => match changed.map(|()| *mode.borrow_and_update()) {
                        Ok(Mode::Forward) => continue,
                        Ok(Mode::Blackhole) => break,
                        Ok(Mode::Refuse) | Err(_) => return,
                    },
                }
            }
            Some(upstream) // held open, silent
        }
    };
    let mut sink = [0; 4096];
    loop {
        tokio::select! {
            read = client.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) {
                counts.hung_up.fetch_add(1, Ordering::Relaxed);
                return;
            },
            changed = mode.changed() => match changed.map(|()| *mode.borrow_and_update()) {
                Ok(Mode::Forward | Mode::Blackhole) => continue,
                Ok(Mode::Refuse) | Err(_) => return,
            },
        }
    }
}
