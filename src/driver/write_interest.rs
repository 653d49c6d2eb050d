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
        self.update_write_interest();
    }

    /// Calls `on_socket_register_write` or `on_socket_unregister_write` if
    /// whether bytes wait to be written changed since the last call.
    pub(crate) fn update_write_interest(&self) {
        let register = {
            let mut core = self.shared.core.lock();
            if core.conn.is_none() {
                return;
            }
            let wants = core.session.wants_write();
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
