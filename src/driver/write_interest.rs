//! Paho's write-interest callbacks for external event loops:
//! `on_socket_register_write` when bytes start waiting to be written, and
//! `on_socket_unregister_write` when a write leaves nothing (reference
//! §5.2). Per socket they come as open → (register → unregister)* → close.

use crate::client::Client;

impl Client {
    /// Wakes the loop after something was queued, and tells an external
    /// event loop that the socket now has bytes to write.
    pub(crate) fn wake_loop(&self) {
        self.shared.wake();
        if !self.write_here() {
            self.update_write_interest();
        }
    }

    /// Paho's synchronous write (reference §5.1): when no loop runs (no
    /// `loop_start` thread, no `loop`/`loop_forever` call in progress, not
    /// inside a callback) and no external event loop registered for write
    /// interest, the caller writes what is queued itself, so `connect()`,
    /// `publish()` and `disconnect()` reach the broker without a loop, as
    /// in Paho. Returns false when it left the writing to a loop.
    fn write_here(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.shared.thread_running.load(Ordering::SeqCst)
            || self
                .shared
                .callbacks
                .lock()
                .on_socket_register_write
                .is_some()
        {
            return false;
        }
        let me = std::thread::current().id();
        {
            let mut loop_thread = self.shared.loop_thread.lock();
            if loop_thread.is_some() {
                return false;
            }
            *loop_thread = Some(me);
        }
        let _ = self.flush();
        {
            let mut loop_thread = self.shared.loop_thread.lock();
            if *loop_thread == Some(me) {
                *loop_thread = None;
            }
        }
        self.rethrow_panic();
        true
    }

    /// Calls `on_socket_register_write` or `on_socket_unregister_write` if
    /// whether bytes wait to be written changed since the last call.
    pub(crate) fn update_write_interest(&self) {
        // Nobody listens (the common case): skip the core lock, which every
        // publish would otherwise take a second time. Whether bytes wait is
        // worked out afresh when a callback is set and the next write comes.
        {
            let callbacks = self.shared.callbacks.lock();
            if callbacks.on_socket_register_write.is_none()
                && callbacks.on_socket_unregister_write.is_none()
            {
                return;
            }
        }
        let register = {
            let mut core = self.shared.core.lock();
            if core.conn.is_none() {
                return;
            }
            let wants = core.wants_write();
            if wants == core.registered_write {
                return;
            }
            core.registered_write = wants;
            wants
        };
        if register {
            self.socket_callback(
                |c| c.on_socket_register_write.clone(),
                "on_socket_register_write",
            );
        } else {
            self.socket_callback(
                |c| c.on_socket_unregister_write.clone(),
                "on_socket_unregister_write",
            );
        }
    }

    /// The socket is going away: an outstanding write registration ends
    /// first, so the caller's event loop stops watching it.
    pub(crate) fn socket_closing(&self) {
        let registered = std::mem::take(&mut self.shared.core.lock().registered_write);
        if registered {
            self.socket_callback(
                |c| c.on_socket_unregister_write.clone(),
                "on_socket_unregister_write",
            );
        }
    }
}
