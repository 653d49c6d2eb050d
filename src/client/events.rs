//! The face's side of the driver's events: each becomes its Paho callback,
//! called with a `&Client` made from the driver's handle (one that does
//! not keep the client running) and the userdata. Paho's exception rules
//! live here too: a panicking callback is logged, then either suppressed
//! (`suppress_exceptions`) or handed back to the driver, which closes the
//! connection and re-raises it out of the loop call.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::callbacks::{ConnectFlags, DisconnectFlags, UserData};
use super::{Client, Face};
use crate::driver::{Answer, Driver, Handler, LogLevel, SocketEvent};
use crate::packet::{Properties, ReasonCode};
use crate::session::Event;

impl Face {
    /// A callback's `&Client`: it does not keep the client running.
    fn client(self: &Arc<Face>, driver: &Driver) -> Client {
        Client {
            driver: driver.clone(),
            face: Arc::clone(self),
            _owner: None,
        }
    }

    fn userdata(&self) -> UserData {
        self.userdata.lock().clone()
    }

    /// Runs `f` as the callback `name`. A panic is caught and logged: with
    /// `suppress_exceptions` the loop goes on; otherwise it goes back to
    /// the driver (see [`Answer`]).
    fn guarded(self: &Arc<Face>, driver: &Driver, name: &str, f: impl FnOnce()) -> Answer {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => Ok(()),
            Err(payload) => {
                self.log(
                    driver,
                    LogLevel::Err,
                    &format!("Caught exception in {name}: {}", panic_text(&*payload)),
                );
                if self.suppress_exceptions.load(Ordering::SeqCst) {
                    return Ok(());
                }
                Err(payload)
            }
        }
    }
}

impl Handler for Arc<Face> {
    fn event(&self, driver: &Driver, event: &Event) -> Answer {
        match event {
            Event::Connack {
                session_present,
                reason_code,
                properties,
            } => {
                let Some(cb) = self.callbacks.lock().on_connect.clone() else {
                    return Ok(());
                };
                let (client, userdata) = (self.client(driver), self.userdata());
                let flags = ConnectFlags {
                    session_present: *session_present,
                };
                self.guarded(driver, "on_connect", || {
                    cb(&client, &userdata, flags, reason_code, properties)
                })
            }
            Event::Message(message) => {
                let (filtered, fallback) = {
                    let callbacks = self.callbacks.lock();
                    // Matching splits the topic into a vector of levels: a
                    // fifth of the receiving CPU when no filter is set.
                    let filtered: Vec<_> = if callbacks.filtered.is_empty() {
                        Vec::new()
                    } else {
                        callbacks
                            .filtered
                            .matches(&message.topic)
                            .map(|(_, cb)| cb.clone())
                            .collect()
                    };
                    (filtered, callbacks.on_message.clone())
                };
                if filtered.is_empty() {
                    let Some(cb) = fallback else { return Ok(()) };
                    let (client, userdata) = (self.client(driver), self.userdata());
                    return self.guarded(driver, "on_message", || cb(&client, &userdata, message));
                }
                let (client, userdata) = (self.client(driver), self.userdata());
                // Every matching callback runs; the first kept panic is
                // the answer (the message then goes unacknowledged).
                let mut answer = Ok(());
                for cb in filtered {
                    let ran =
                        self.guarded(driver, "on_message", || cb(&client, &userdata, message));
                    if answer.is_ok() {
                        answer = ran;
                    }
                }
                answer
            }
            Event::Published {
                mid,
                reason_code,
                properties,
            } => {
                let Some(cb) = self.callbacks.lock().on_publish.clone() else {
                    return Ok(());
                };
                let (client, userdata) = (self.client(driver), self.userdata());
                self.guarded(driver, "on_publish", || {
                    cb(&client, &userdata, *mid, reason_code, properties)
                })
            }
            Event::Subscribed {
                mid,
                reason_codes,
                properties,
            } => {
                let Some(cb) = self.callbacks.lock().on_subscribe.clone() else {
                    return Ok(());
                };
                let (client, userdata) = (self.client(driver), self.userdata());
                self.guarded(driver, "on_subscribe", || {
                    cb(&client, &userdata, *mid, reason_codes, properties)
                })
            }
            Event::Unsubscribed {
                mid,
                reason_codes,
                properties,
            } => {
                let Some(cb) = self.callbacks.lock().on_unsubscribe.clone() else {
                    return Ok(());
                };
                let (client, userdata) = (self.client(driver), self.userdata());
                self.guarded(driver, "on_unsubscribe", || {
                    cb(&client, &userdata, *mid, reason_codes, properties)
                })
            }
            // The driver's own.
            _ => Ok(()),
        }
    }

    fn disconnected(
        &self,
        driver: &Driver,
        reason_code: &ReasonCode,
        properties: &Properties,
        from_server: bool,
    ) -> Answer {
        let Some(cb) = self.callbacks.lock().on_disconnect.clone() else {
            return Ok(());
        };
        let (client, userdata) = (self.client(driver), self.userdata());
        let flags = DisconnectFlags {
            is_disconnect_packet_from_server: from_server,
        };
        self.guarded(driver, "on_disconnect", || {
            cb(&client, &userdata, flags, reason_code, properties)
        })
    }

    fn connect_failed(&self, driver: &Driver) {
        let Some(cb) = self.callbacks.lock().on_connect_fail.clone() else {
            return;
        };
        let (client, userdata) = (self.client(driver), self.userdata());
        // Paho always swallows on_connect_fail's exceptions.
        let _ = catch_unwind(AssertUnwindSafe(|| cb(&client, &userdata)));
    }

    fn socket(&self, driver: &Driver, event: SocketEvent) -> Answer {
        let (cb, name) = {
            let callbacks = self.callbacks.lock();
            match event {
                SocketEvent::PreConnect => (callbacks.on_pre_connect.clone(), "on_pre_connect"),
                SocketEvent::Open => (callbacks.on_socket_open.clone(), "on_socket_open"),
                SocketEvent::Close => (callbacks.on_socket_close.clone(), "on_socket_close"),
                SocketEvent::RegisterWrite => (
                    callbacks.on_socket_register_write.clone(),
                    "on_socket_register_write",
                ),
                SocketEvent::UnregisterWrite => (
                    callbacks.on_socket_unregister_write.clone(),
                    "on_socket_unregister_write",
                ),
            }
        };
        let Some(cb) = cb else { return Ok(()) };
        let (client, userdata) = (self.client(driver), self.userdata());
        self.guarded(driver, name, || cb(&client, &userdata))
    }

    /// One log line: to `on_log` (whose panics are swallowed, as Paho
    /// swallows its exceptions) and, unless `disable_logger()` turned it
    /// off, to the `log` crate, whose logger filters it.
    fn log(&self, driver: &Driver, level: LogLevel, text: &str) {
        if self.logger.load(Ordering::SeqCst) {
            let level = match level {
                LogLevel::Err => log::Level::Error,
                LogLevel::Warning => log::Level::Warn,
                LogLevel::Notice | LogLevel::Info => log::Level::Info,
                LogLevel::Debug => log::Level::Debug,
            };
            log::log!(target: "mqtt_tether", level, "{text}");
        }
        let cb = self.callbacks.lock().on_log.clone();
        if let Some(cb) = cb {
            let (client, userdata) = (self.client(driver), self.userdata());
            let _ = catch_unwind(AssertUnwindSafe(|| cb(&client, &userdata, level, text)));
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}
