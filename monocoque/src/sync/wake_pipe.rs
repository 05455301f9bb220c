//! [`WakePipe`]: what an eventfd is on Linux, for the other Unixes (which
//! have no eventfd): a non-blocking, close-on-exec socket pair whose one
//! end is readable while a signal is pending. Linux keeps its eventfd; this
//! module is only built there for its tests.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

/// A pollable signal: [`signal`](Self::signal) makes [`as_fd`](AsFd::as_fd)
/// readable, [`clear`](Self::clear) makes it not readable until the next
/// signal. Signals that come while one is pending merge into it (as an
/// eventfd's counter does for a reader that only asks "any?").
#[derive(Debug)]
pub(crate) struct WakePipe {
    /// The end pollers wait on and `clear` drains.
    read: UnixStream,
    /// The end `signal` writes to.
    write: UnixStream,
}

impl WakePipe {
    /// A new pair, not readable yet.
    pub(crate) fn new() -> io::Result<WakePipe> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(WakePipe { read, write })
    }

    /// Makes the read end readable. A full buffer (signals nobody cleared)
    /// is readable already, so its `WouldBlock` is no failure.
    pub(crate) fn signal(&self) {
        let _ = (&self.write).write(&[1]);
    }

    /// Takes every pending signal: not readable until the next one.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n == buf.len()) {}
    }
}

impl AsFd for WakePipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn readable(p: &WakePipe) -> bool {
        let mut fds = [rustix::event::PollFd::new(p, rustix::event::PollFlags::IN)];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&zero)).unwrap() == 1
    }

    #[test]
    fn readable_from_a_signal_until_cleared() {
        let p = WakePipe::new().unwrap();
        assert!(!readable(&p));
        p.signal();
        assert!(readable(&p));
        p.clear();
        assert!(!readable(&p));
        // Many signals (more than one read takes), one clear.
        for _ in 0..1000 {
            p.signal();
        }
        assert!(readable(&p));
        p.clear();
        assert!(!readable(&p));
    }
}
