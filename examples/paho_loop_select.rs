//! A port of Paho's `examples/loop_select.py` (with the socket callbacks of
//! `examples/loop_asyncio.py`): the network loop is the caller's own, not
//! the client's. The program watches `client.socket()` itself and calls
//! `loop_read` when it is readable, `loop_write` when bytes wait to be
//! written, and `loop_misc` about once a second.
//!
//! ```text
//! cargo run --features testing --example paho_loop_select -- [-h HOST] [-p PORT] [--count N]
//! ```
//!
//! The loop is driven by the socket callbacks: `on_socket_open` hands it
//! the socket, `on_socket_register_write` / `on_socket_unregister_write`
//! turn write interest on and off, and `on_socket_close` ends the loop.
//! The client subscribes to `paho/select` in `on_connect`, publishes
//! `--count` messages (default 5) to itself at QoS 1 and disconnects once
//! all have come back.
//!
//! What differs from Paho's example:
//!
//! * Python's `select()` has no counterpart in Rust's standard library, and
//!   the crate takes no poller as a dependency. Readability is tested with a
//!   non-blocking `peek` on the TCP stream (`socket()` makes the socket
//!   non-blocking and gives it to the caller: no reader thread takes its
//!   bytes), and the loop sleeps a millisecond between passes. A real
//!   program would register the socket with its event loop (`mio`,
//!   `polling`, ...) instead; `socket2::SockRef::from(&*socket)` or
//!   `as_tcp()` give the handle. This works for the TCP transport only.
//! * Paho's example subscribes to `$SYS/#` and disconnects after five
//!   seconds of messages; this one publishes its own messages (no `$SYS`
//!   on the in-process broker) and ends when they are back.
//! * It prints the socket events as they happen and, at the end, how many
//!   times each loop call ran.
//! * Without `-h` it starts the in-process test broker.

#[path = "common/paho.rs"]
mod paho;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_tether::transport::Socket;
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ErrorCode};

const USAGE: &str =
    "usage: paho_loop_select [-h HOST] [-p PORT] [--count N]  (no -h: in-process broker)";

const TOPIC: &str = "paho/select";

/// What the callbacks tell the loop.
#[derive(Default)]
struct Watch {
    /// The socket to watch; `None` once closed.
    socket: Mutex<Option<Arc<Socket>>>,
    /// Bytes wait to be written.
    write: AtomicBool,
    registers: AtomicUsize,
    unregisters: AtomicUsize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = paho::Args::parse(USAGE);
    let count = args.count.unwrap_or(5);

    let client = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id("paho-loop-select"),
            ..ClientOptions::default()
        },
    )?;
    let watch = Arc::new(Watch::default());

    let w = Arc::clone(&watch);
    client.on_socket_open(move |client, _| {
        println!("on_socket_open: watching the socket");
        *w.socket.lock().expect("not poisoned") = client.socket();
    });
    let w = Arc::clone(&watch);
    client.on_socket_register_write(move |_, _| {
        w.registers.fetch_add(1, Ordering::SeqCst);
        w.write.store(true, Ordering::SeqCst);
    });
    let w = Arc::clone(&watch);
    client.on_socket_unregister_write(move |_, _| {
        w.unregisters.fetch_add(1, Ordering::SeqCst);
        w.write.store(false, Ordering::SeqCst);
    });
    let w = Arc::clone(&watch);
    client.on_socket_close(move |_, _| {
        println!("on_socket_close: the loop ends");
        *w.socket.lock().expect("not poisoned") = None;
    });

    client.on_connect(|client, _, _, reason_code, _| {
        println!("on_connect: {reason_code}");
        println!(
            "Subscribing: {:?}",
            client.subscribe(TOPIC, 1).expect("a valid filter")
        );
    });
    client.on_subscribe(move |client, _, mid, reason_codes, _| {
        println!("on_subscribe: mid {mid} [{}]", reason_codes[0]);
        for n in 1..=count {
            let _ = client
                .publish(TOPIC, format!("message {n}"), 1, false)
                .expect("a valid message");
        }
        println!("published {count} messages to {TOPIC}");
    });
    let received = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&received);
    client.on_message(move |client, _, msg| {
        println!(
            "on_message: {} {}",
            msg.topic,
            String::from_utf8_lossy(&msg.payload)
        );
        if r.fetch_add(1, Ordering::SeqCst) + 1 == count {
            println!("all {count} messages are back, disconnecting");
            let _ = client.disconnect();
        }
    });
    client.on_disconnect(|_, _, _, reason_code, _| println!("on_disconnect: {reason_code}"));

    assert_eq!(
        client.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );

    // The caller's own event loop.
    let (mut reads, mut writes, mut miscs) = (0usize, 0usize, 0usize);
    let mut last_misc = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if Instant::now() > deadline {
            return Err("the exchange did not finish within 30 s".into());
        }
        let Some(socket) = watch.socket.lock().expect("not poisoned").clone() else {
            break;
        };
        let tcp = socket
            .as_tcp()
            .ok_or("this example watches TCP sockets only")?;
        // Readable: bytes, or the end of the stream (peek returns 0).
        match tcp.peek(&mut [0u8; 1]) {
            Ok(_) => {
                reads += 1;
                let rc = client.loop_read();
                if !matches!(rc, ErrorCode::Success | ErrorCode::NoConn) {
                    println!("loop_read: {rc:?}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("cannot poll the socket: {e}").into()),
        }
        if watch.write.load(Ordering::SeqCst) {
            writes += 1;
            let rc = client.loop_write();
            if !matches!(rc, ErrorCode::Success | ErrorCode::NoConn) {
                println!("loop_write: {rc:?}");
            }
        }
        if last_misc.elapsed() >= Duration::from_secs(1) {
            miscs += 1;
            let _ = client.loop_misc();
            last_misc = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "loop calls: loop_read {reads}, loop_write {writes}, loop_misc {miscs}; write interest registered {} times, unregistered {} times",
        watch.registers.load(Ordering::SeqCst),
        watch.unregisters.load(Ordering::SeqCst)
    );
    let got = received.load(Ordering::SeqCst);
    if got != count {
        return Err(format!("{got} of {count} messages came back").into());
    }
    println!("done: {got} messages through the external loop");
    Ok(())
}
