//! What ties the monitor (`monitor.rs`, a leaf) to sockets: the
//! monitor methods of [`Socket`] beyond [`Socket::monitor`], and the
//! task that publishes a socket's events in libzmq's wire format on a PAIR
//! socket (libzmq's `zmq_socket_monitor`).

use std::sync::Arc;
use std::time::Duration;

use monocoque_zmtp::SocketType;

use crate::error::{Error, Result};
use crate::monitor::{EventMask, Monitor, MonitorError, MonitorQueue, Sink, WireEvent};
use crate::socket::Socket;

/// Sends what `sink` receives on `pair` in libzmq's wire format until the
/// sink stops (then the PAIR socket closes), or its context ends. An event
/// the PAIR cannot take at once (no peer yet, its queue full) is dropped:
/// an I/O thread never waits for a monitor's reader.
async fn forward(sink: Arc<Sink>, pair: Socket) {
    loop {
        let stopped = sink.is_stopped();
        while let Some(ev) = sink.pop() {
            if let Err(Error::Terminated) = pair.try_send(WireEvent::from(&ev).encode()) {
                return;
            }
        }
        if stopped {
            return;
        }
        sink.wait().await;
    }
}

impl Socket {
    /// A monitor of the events in `events` only: a reader of its own,
    /// beside any other, that sees the events from now on. See
    /// [`monitor`](Self::monitor), which takes every event.
    ///
    /// ```
    /// # use monocoque::{EventMask, MonitorEvent, Socket, SocketType};
    /// # use std::time::Duration;
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// let retries = s.monitor_events(EventMask::CONNECT_RETRIED);
    /// s.connect("tcp://127.0.0.1:9").unwrap(); // nobody listens
    /// let ev = retries.recv_timeout(Duration::from_secs(5)).unwrap();
    /// assert!(matches!(ev, MonitorEvent::ConnectRetried { .. }));
    /// ```
    pub fn monitor_events(&self, events: EventMask) -> Monitor {
        let mut st = self.parts().0.lock();
        st.base
            .monitor
            .get_or_insert_with(MonitorQueue::new)
            .subscribe(events)
    }

    /// libzmq's `zmq_socket_monitor`: publishes the events in `events` on
    /// a PAIR socket bound at `endpoint` (`inproc://`, in this socket's
    /// context), in libzmq's wire format ([`WireEvent`]), so tools written
    /// for libzmq's monitor read them. Connect a PAIR to `endpoint` to
    /// read them. A second call replaces the monitor (the old one gets
    /// `MONITOR_STOPPED`); so does [`stop_socket_monitor`](Self::stop_socket_monitor).
    ///
    /// As in libzmq, a connection this side ended is not reported there,
    /// and events the PAIR cannot take at once are dropped.
    ///
    /// ```
    /// # use monocoque::{Context, EventMask, SocketType, WireEvent};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.socket_monitor("inproc://pull-events", EventMask::LISTENING).unwrap();
    /// let reader = ctx.socket(SocketType::Pair).unwrap();
    /// reader.connect("inproc://pull-events").unwrap();
    /// pull.bind("tcp://127.0.0.1:*").unwrap();
    /// let ev = WireEvent::decode(&reader.recv().unwrap()).unwrap();
    /// assert_eq!(ev.event, EventMask::LISTENING);
    /// assert_eq!(ev.endpoint, pull.last_endpoint().unwrap());
    /// ```
    ///
    /// # Errors
    ///
    /// [`MonitorError::NotInproc`] for another transport; the bind's error
    /// for an inproc name in use; [`Error::Terminated`] once the socket is
    /// closed.
    pub fn socket_monitor(&self, endpoint: &str, events: EventMask) -> Result<()> {
        if !endpoint.starts_with("inproc://") {
            return Err(MonitorError::NotInproc(endpoint.to_owned()).into());
        }
        let (core, ctx) = self.parts();
        if core.is_terminated() {
            return Err(Error::Terminated);
        }
        let pair = Socket::open(ctx.clone(), SocketType::Pair)?;
        // Never hold the context's end for a monitor's reader.
        pair.update_options(|o| o.linger = Some(Duration::ZERO));
        pair.bind(endpoint)?;
        let sink = Sink::new(events);
        {
            let mut st = core.lock();
            st.base
                .monitor
                .get_or_insert_with(MonitorQueue::new)
                .set_wire(Some(sink.clone()));
        }
        ctx.io.spawn_on(
            0,
            Box::new(move || {
                compio::runtime::spawn(forward(sink, pair)).detach();
            }),
        );
        Ok(())
    }

    /// Stops the [`socket_monitor`](Self::socket_monitor): its reader gets
    /// `MONITOR_STOPPED` (if its mask takes it) and its PAIR closes, as
    /// `zmq_socket_monitor(socket, NULL, 0)` does. Nothing happens without
    /// one.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// s.stop_socket_monitor();
    /// ```
    pub fn stop_socket_monitor(&self) {
        let st = self.parts().0.lock();
        if let Some(hub) = &st.base.monitor {
            hub.set_wire(None);
        }
    }
}
