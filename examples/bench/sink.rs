//! The acking sink: a peer that is not a broker. It accepts connections on
//! 127.0.0.1 and answers each packet at once, CONNECT with CONNACK, PUBLISH
//! with PUBACK (QoS 1) or PUBREC (QoS 2), PUBREL with PUBCOMP, SUBSCRIBE with
//! SUBACK and PINGREQ with PINGRESP, and does nothing else: messages go
//! nowhere. Against it the publish figures are the client's own limit.
//!
//! It has to cost little, since it shares the machine (and the process) with
//! the client: it parses only the fixed header and the packet id, by hand,
//! allocates nothing per packet (one read buffer and one reply buffer per
//! connection, reused), and answers with one write per chunk read. Its
//! threads' CPU time is left out of the client's figures ([`Sink::tids`]).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct Sink {
    pub port: u16,
    tids: Arc<Mutex<HashSet<u32>>>,
}

impl Sink {
    pub fn start() -> Result<Sink, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let tids = Arc::new(Mutex::new(HashSet::new()));
        let all = Arc::clone(&tids);
        std::thread::spawn(move || {
            register(&all);
            for stream in listener.incoming().flatten() {
                let all = Arc::clone(&all);
                std::thread::spawn(move || {
                    register(&all);
                    serve(stream);
                });
            }
        });
        Ok(Sink { port, tids })
    }

    /// The sink's threads, to leave out of CPU figures.
    pub fn tids(&self) -> HashSet<u32> {
        self.tids.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

fn register(tids: &Mutex<HashSet<u32>>) {
    if let (Some(tid), Ok(mut tids)) = (crate::measure::own_tid(), tids.lock()) {
        tids.insert(tid);
    }
}

/// Serves one connection until it closes or sends DISCONNECT.
fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    // Bytes buf[..filled] are read and not yet parsed.
    let mut filled = 0;
    let mut v5 = false;
    loop {
        if filled == buf.len() {
            // One packet larger than the buffer: the only allocation, and
            // only for such packets.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut at = 0;
        while let Some((header, body_start, end)) = next_packet(&buf[at..filled]) {
            let body = &buf[at + body_start..at + end];
            if !answer(header, body, &mut v5, &mut out) {
                let _ = stream.write_all(&out);
                return;
            }
            at += end;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// The first complete packet of `data`: (first header byte, body offset,
/// packet end), or `None` if it has not all arrived yet.
fn next_packet(data: &[u8]) -> Option<(u8, usize, usize)> {
    let header = *data.first()?;
    let mut length = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let byte = *data.get(i)?;
        length |= usize::from(byte & 0x7f) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            // Malformed: a client under test never sends this; give up on
            // the connection's remaining bytes rather than loop.
            return None;
        }
    }
    let end = i.checked_add(length)?;
    (end <= data.len()).then_some((header, i, end))
}

/// Appends the answer to one packet to `out`; false when the connection
/// should close (DISCONNECT).
fn answer(header: u8, body: &[u8], v5: &mut bool, out: &mut Vec<u8>) -> bool {
    let id = |at: usize| {
        [
            body.get(at).copied().unwrap_or(0),
            body.get(at + 1).copied().unwrap_or(0),
        ]
    };
    match header >> 4 {
        // CONNECT: protocol name (length-prefixed), then the level byte.
        1 => {
            let name_len = usize::from(u16::from_be_bytes(id(0)));
            *v5 = body.get(2 + name_len) == Some(&5);
            if *v5 {
                // Properties length 0 after the flags and reason code.
                out.extend_from_slice(&[0x20, 3, 0, 0, 0]);
            } else {
                out.extend_from_slice(&[0x20, 2, 0, 0]);
            }
        }
        // PUBLISH: topic (length-prefixed), then the packet id if QoS > 0.
        3 => {
            let qos = (header >> 1) & 3;
            if qos > 0 {
                let topic_len = usize::from(u16::from_be_bytes(id(0)));
                let pid = id(2 + topic_len);
                // PUBACK / PUBREC with remaining length 2: in MQTT 5 the
                // reason code may be left out when it is Success.
                let kind = if qos == 1 { 0x40 } else { 0x50 };
                out.extend_from_slice(&[kind, 2, pid[0], pid[1]]);
            }
        }
        // PUBREL: PUBCOMP.
        6 => {
            let pid = id(0);
            out.extend_from_slice(&[0x70, 2, pid[0], pid[1]]);
        }
        // SUBSCRIBE: one granted QoS (the requested one) per filter.
        8 => {
            let pid = id(0);
            let mut at = 2;
            if *v5 {
                // Skip the properties (a length varint, then that many bytes).
                let (len, used) = varint(&body[at.min(body.len())..]);
                at += used + len;
            }
            let start = out.len();
            out.extend_from_slice(&[0x90, 0, pid[0], pid[1]]);
            if *v5 {
                out.push(0);
            }
            while at + 2 <= body.len() {
                let len = usize::from(u16::from_be_bytes(id(at)));
                let options = body.get(at + 2 + len).copied().unwrap_or(0);
                out.push(options & 3);
                at += 3 + len;
            }
            // Remaining length: fits one byte for the few filters a bench asks.
            out[start + 1] = (out.len() - start - 2) as u8;
        }
        // PINGREQ: PINGRESP.
        12 => out.extend_from_slice(&[0xd0, 0]),
        // DISCONNECT.
        14 => return false,
        _ => {}
    }
    true
}

/// A variable byte integer: (value, bytes used).
fn varint(data: &[u8]) -> (usize, usize) {
    let mut value = 0;
    for (i, &byte) in data.iter().enumerate().take(4) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, data.len().min(4))
}
