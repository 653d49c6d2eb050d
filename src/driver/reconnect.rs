//! Reconnection: Paho's `loop_forever` with its automatic reconnects
//! (reference §10.3), the backoff wait between attempts (the delay itself is
//! [`session::Backoff`](crate::session::Backoff)), and `reconnect()`, which
//! opens a new connection and queues CONNECT (reference §10.1). Which broker
//! each attempt goes to, and whether a wait comes first, is `failover.rs`'s
//! to say.

use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, ValueReason};
use crate::transport;

use super::{Conn, ConnState, Driver, LogLevel, Opening, ReadSide, SocketEvent};

/// How long `loop_forever` waits when nothing at all is due (keepalive 0).
const IDLE_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

impl Driver {
    /// Paho's `loop_forever` (reference §10.3), with the changes this crate
    /// documents: `loop_stop` ends it once what was queued is written (Paho
    /// also waits for every acknowledgement, possibly forever), and the
    /// reconnect wait ends at once on `disconnect()` or `loop_stop()`.
    pub(super) fn run_forever(
        &self,
        _timeout: Duration,
        retry_first_connection: bool,
    ) -> Result<ErrorCode, Error> {
        struct AutoReconnect<'a>(&'a Driver);
        impl Drop for AutoReconnect<'_> {
            fn drop(&mut self) {
                self.0.shared.core.lock().auto_reconnect = false;
            }
        }
        self.shared.core.lock().auto_reconnect = true;
        let _auto = AutoReconnect(self);
        // Phase 1: the first connection of a connect_async() client.
        loop {
            if self.terminating() {
                break;
            }
            if self.shared.core.lock().state != ConnState::ConnectAsync {
                break;
            }
            if let Err(e) = self.reconnect() {
                self.connect_failed(Some(&e));
                if !retry_first_connection {
                    return Err(e);
                }
                self.reconnect_wait();
            }
        }
        // Phase 2.
        let mut rc;
        let mut run = true;
        loop {
            rc = ErrorCode::Success;
            while rc == ErrorCode::Success {
                // Paho's select() timeout only bounds how late it notices
                // things; this loop is woken by every event and by the
                // keepalive deadline, so an idle client sleeps until its
                // next PINGREQ.
                rc = self.loop_pass(IDLE_WAIT, true);
                if self.terminating() && self.shared.core.lock().session.is_flushed() {
                    rc = ErrorCode::NoMem;
                    run = false;
                }
            }
            if self.panicked() {
                break;
            }
            let should_exit = |c: &Driver| {
                let state = c.shared.core.lock().state;
                matches!(state, ConnState::Disconnecting | ConnState::Disconnected)
                    || c.terminating()
            };
            let reconnect_on_failure = self.shared.core.lock().reconnect_on_failure;
            if !run || should_exit(self) || !reconnect_on_failure {
                break;
            }
            self.reconnect_wait();
            if should_exit(self) {
                break;
            }
            // A user's reconnect() during the wait already made one.
            if self.shared.core.lock().conn.is_some() {
                continue;
            }
            if let Err(e) = self.reconnect() {
                self.connect_failed(Some(&e));
            }
        }
        Ok(rc)
    }

    /// Reports a failed connection attempt: the reason (which says which
    /// layer failed: DNS, TCP, proxy, TLS, WebSocket) as a log line, then
    /// Paho's log line and the handler's `connect_failed`.
    pub(super) fn connect_failed(&self, error: Option<&dyn std::fmt::Display>) {
        if let Some(e) = error {
            self.log(LogLevel::Warning, &format!("Connection failed: {e}"));
        }
        self.log(LogLevel::Info, "Connection failed, retrying");
        self.shared.handler.connect_failed(self);
    }

    /// Waits the next backoff delay, ending early on `disconnect()`,
    /// `loop_stop()`, or a connection the application opened meanwhile.
    fn reconnect_wait(&self) {
        let delay = {
            let core = &mut *self.shared.core.lock();
            core.failover.delay(&mut core.backoff)
        };
        // Within a failover round the next server is tried at once.
        if delay.is_zero() {
            return;
        }
        self.log(
            LogLevel::Info,
            &format!("Waiting {:.3} s before reconnecting", delay.as_secs_f64()),
        );
        let deadline = Instant::now().checked_add(delay);
        loop {
            let (state, connection) = {
                let core = self.shared.core.lock();
                (core.state, core.conn.is_some())
            };
            // A connect() or reconnect() by the application during the wait
            // made a connection: serve it now.
            if matches!(state, ConnState::Disconnecting | ConnState::Disconnected)
                || self.terminating()
                || connection
            {
                return;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(1),
            };
            if left.is_zero() {
                return;
            }
            self.shared.waker.wait(left);
        }
    }

    /// `connect()`'s attempt: [`Driver::reconnect`], and with a failover
    /// list, the rest of the round while a server's transport fails (each
    /// failure logged), as Paho C's connect goes through its `serverURIs`.
    /// The last failure is returned when every server failed.
    pub(crate) fn connect_round(&self) -> Result<ErrorCode, Error> {
        let servers = self.shared.core.lock().failover.servers().len();
        let mut result = self.reconnect();
        for _ in 0..servers {
            match &result {
                Err(Error::Io(e)) => {
                    self.log(LogLevel::Warning, &format!("Connection failed: {e}"))
                }
                _ => break,
            }
            result = self.reconnect();
        }
        result
    }

    /// Paho's `reconnect()` (see `Client::reconnect`): opens a new
    /// connection and queues CONNECT; an abandoned connect returns
    /// `MQTT_ERR_NO_CONN`.
    pub(crate) fn reconnect(&self) -> Result<ErrorCode, Error> {
        let (server, tcp) = {
            let mut core = self.shared.core.lock();
            if core.host.is_empty() {
                return Err(Error::Value(ValueReason::InvalidHost));
            }
            if core.port == 0 {
                return Err(Error::Value(ValueReason::InvalidPort));
            }
            core.state = ConnState::Connecting;
            self.stop_asked_again();
            let target = core.failover.next();
            match core.route(&target) {
                Ok(route) => route,
                Err(e) => {
                    core.session.counters_mut().connect_failures += 1;
                    return Err(Error::Io(e));
                }
            }
        };
        let (host, port) = (server.host.clone(), server.port);
        // The old socket goes without on_disconnect, as in Paho.
        let old = {
            let mut core = self.shared.core.lock();
            let old = core.conn.take();
            core.session.connection_closed();
            // Messages a stop or a panic left undelivered belong to the old
            // connection.
            super::dispatch::drop_stale_messages(&mut core);
            // Bytes and closes of the old connection are now stale.
            core.generation += 1;
            old
        };
        if let Some(old) = old {
            let _ = old.writer.shutdown(std::net::Shutdown::Both);
            self.socket_closing();
            self.socket_event(SocketEvent::Close);
        }
        self.socket_event(SocketEvent::PreConnect);
        let me = std::thread::current().id();
        let on_loop = *self.shared.loop_thread.lock() == Some(me);
        let abandon = Arc::new(transport::Abandon::default());
        {
            let mut core = self.shared.core.lock();
            // disconnect(), or loop_stop() of this loop, came first: no
            // connect at all.
            if matches!(
                core.state,
                ConnState::Disconnecting | ConnState::Disconnected
            ) || (on_loop && self.terminating())
            {
                return Ok(ErrorCode::NoConn);
            }
            core.opening = Some(Opening {
                abandon: Arc::clone(&abandon),
                thread: me,
            });
        }
        let opened = transport::open_abandonable(&host, port, &tcp, &abandon)
            .and_then(|(stream, layers)| Ok((stream.try_clone()?, stream, layers)));
        {
            let mut core = self.shared.core.lock();
            if core
                .opening
                .as_ref()
                .is_some_and(|o| Arc::ptr_eq(&o.abandon, &abandon))
            {
                core.opening = None;
            }
        }
        let (reader_stream, stream, layers) = match opened {
            Ok(opened) => opened,
            // Given up on request: not a failed connect.
            Err(_) if abandon.is_abandoned() => return Ok(ErrorCode::NoConn),
            Err(e) => {
                self.shared
                    .core
                    .lock()
                    .session
                    .counters_mut()
                    .connect_failures += 1;
                return Err(Error::Io(e));
            }
        };
        {
            let mut core = self.shared.core.lock();
            // disconnect() or loop_stop() while the connect ran: keep their
            // word, drop the new socket.
            if matches!(
                core.state,
                ConnState::Disconnecting | ConnState::Disconnected
            ) || abandon.is_abandoned()
            {
                drop(core);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return Ok(ErrorCode::NoConn);
            }
            core.generation += 1;
            let generation = core.generation;
            // Once here rather than before every write: a system call per
            // write was a fifth of the loop's calls per received QoS 1
            // message (its PUBACK).
            let _ = stream.set_write_timeout(Some(super::flush::WRITE_SLICE));
            core.conn = Some(Conn {
                writer: Arc::new(stream),
                read_side: ReadSide::Undecided(reader_stream),
                generation,
                layers: (!layers.is_plain()).then(|| Arc::new(Mutex::new(layers))),
                server: server.clone(),
            });
            core.last_server = Some(server.clone());
            core.registered_write = false;
            // With keepalive 0 nothing else would end a wait for a CONNACK
            // that never comes.
            core.session.config_mut().connack_timeout = Some(tcp.tcp.connect_timeout);
            core.session.start_connection(Instant::now());
        }
        // After the connection is in place, so the callback can reach the
        // socket through socket() (Paho passes it as an argument).
        self.socket_event(SocketEvent::Open);
        // Unwritten QoS 0 messages of the old connection are failed by the
        // loop's thread, which runs every callback.
        if on_loop {
            self.dispatch();
        }
        self.wake_loop();
        Ok(ErrorCode::Success)
    }
}
