//! The transports: how a socket reaches its peers. `tcp://` and `ipc://`
//! ([`net`]: bind at once, accept and connect with reconnects on an I/O
//! thread, each stream handed to an engine) and `inproc://` ([`inproc`]:
//! two sockets linked directly, no engine).

pub(crate) mod inproc;
pub(crate) mod net;
