//! systemd's notification protocol (sd_notify) for `watch` under `Type=notify`: one
//! datagram per message to the socket systemd names in `NOTIFY_SOCKET` (a path, or an
//! abstract socket when it starts with `@`). `watch` sends `READY=1` after its first cycle,
//! `STATUS=<status line>` and `WATCHDOG=1` after every cycle (and `WATCHDOG=1` in between
//! when the interval is longer than half the watchdog period, `WATCHDOG_USEC`), and
//! `STOPPING=1` when it ends. Sending never blocks: a message that cannot be sent at once
//! (no listener, a full queue) is dropped and logged, never fatal — the cycles matter more
//! than the supervisor's view of them.

use crate::error::{Error, IoOp, Result};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where and how often to notify, as systemd's environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyTarget {
    /// The value of `NOTIFY_SOCKET`.
    pub socket: String,
    /// The watchdog period (`WATCHDOG_USEC`), when the watchdog is on for this process.
    pub watchdog: Option<Duration>,
}

impl NotifyTarget {
    /// The target described by the values of `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
    /// `WATCHDOG_PID` (the caller reads the environment): none without a socket; the
    /// watchdog only when `WATCHDOG_USEC` is a positive integer and `WATCHDOG_PID`, if set,
    /// is `pid`.
    pub fn from_env_values(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        pid: u32,
    ) -> Option<NotifyTarget> {
        let socket = socket.filter(|s| !s.is_empty())?.to_string();
        let ours = watchdog_pid.is_none_or(|p| p.trim().parse::<u32>().ok() == Some(pid));
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Some(NotifyTarget { socket, watchdog })
    }

    /// How often the watchdog wants a ping (half its period), if it is on.
    pub fn ping_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }
}

/// An open notification socket.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
    target: NotifyTarget,
    warned: AtomicBool,
}

impl Notifier {
    /// Opens an unbound datagram socket for `target`.
    ///
    /// # Errors
    /// An address that is neither absolute nor abstract ([`Error::Usage`]); the socket
    /// cannot be created.
    pub fn open(target: &NotifyTarget) -> Result<Notifier> {
        let disp = PathBuf::from(&target.socket);
        let addr = match target.socket.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None if target.socket.starts_with('/') => SocketAddr::from_pathname(&disp),
            None => {
                return Err(Error::Usage(format!(
                    "NOTIFY_SOCKET={} is neither an absolute path nor an abstract socket (@name)",
                    target.socket
                )))
            }
        }
        .map_err(|e| Error::io(IoOp::Open, &disp, e))?;
        let sock = UnixDatagram::unbound().map_err(|e| Error::io(IoOp::Open, &disp, e))?;
        // A receiver that stops reading must never stall the cycles: a message that cannot
        // be queued at once is dropped (and logged).
        sock.set_nonblocking(true)
            .map_err(|e| Error::io(IoOp::Open, &disp, e))?;
        Ok(Notifier {
            sock,
            addr,
            target: target.clone(),
            warned: AtomicBool::new(false),
        })
    }

    /// What it was opened for.
    pub fn target(&self) -> &NotifyTarget {
        &self.target
    }

    /// Sends the `KEY=value` lines of `message`; a failure is logged once.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.sock.send_to_addr(message.as_bytes(), &self.addr) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("cannot notify systemd at {}: {e}", self.target.socket);
            }
        }
    }

    /// `STATUS=<line>` (newlines replaced), then any `extra` lines.
    pub fn status(&self, line: &str, extra: &[&str]) {
        let mut msg = format!("STATUS={}", line.replace(['\n', '\r'], " "));
        for e in extra {
            msg.push('\n');
            msg.push_str(e);
        }
        self.send(&msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_the_environment() {
        let t = |s, u, p| NotifyTarget::from_env_values(s, u, p, 42);
        assert_eq!(t(None, Some("100"), None), None);
        assert_eq!(t(Some(""), None, None), None);
        let plain = t(Some("/run/n"), None, None);
        assert_eq!(plain.map(|x| x.watchdog), Some(None));
        let wd = t(Some("@n"), Some("2000000"), Some("42"));
        assert_eq!(
            wd.as_ref().and_then(NotifyTarget::ping_every),
            Some(Duration::from_secs(1))
        );
        let other_pid = t(Some("@n"), Some("2000000"), Some("43"));
        assert_eq!(other_pid.map(|x| x.watchdog), Some(None));
        let bad = t(Some("@n"), Some("soon"), None);
        assert_eq!(bad.map(|x| x.watchdog), Some(None));
    }

    #[test]
    fn a_relative_socket_is_refused() {
        let t = NotifyTarget {
            socket: "run/notify".into(),
            watchdog: None,
        };
        assert!(matches!(Notifier::open(&t), Err(Error::Usage(_))));
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        let name = format!("selfheal-notify-test-{}", std::process::id());
        let addr =
            SocketAddr::from_abstract_name(name.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let server = UnixDatagram::bind_addr(&addr).unwrap_or_else(|e| panic!("{e}"));
        let n = Notifier::open(&NotifyTarget {
            socket: format!("@{name}"),
            watchdog: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        n.status("cycle 1\nok", &["READY=1"]);
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf[..len], b"STATUS=cycle 1 ok\nREADY=1");
    }
}
