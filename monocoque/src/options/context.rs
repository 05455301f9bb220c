//! [`ContextOptions`]: what a context is made with (libzmq's
//! `zmq_ctx_set` options).

use super::by_name::{self, OptionError};

/// The largest `max_sockets` (libzmq's `ZMQ_SOCKET_LIMIT` on Linux).
pub(crate) const SOCKET_LIMIT: usize = 65535;

/// A context's options, with libzmq's defaults. Given to
/// [`Context::with_options`](crate::Context::with_options) and fixed for the
/// context's life (libzmq applies them only before the first socket too);
/// [`Context::options`](crate::Context::options) reads them back.
///
/// ```
/// use monocoque::{Context, ContextOptions};
/// let mut opts = ContextOptions::default();
/// opts.set("ZMQ_IO_THREADS", "2").unwrap();
/// opts.set("max_sockets", "16").unwrap();
/// let ctx = Context::with_options(opts).unwrap();
/// assert_eq!(ctx.options().io_threads, 2);
/// assert_eq!(ctx.options().get("MAX_SOCKETS").unwrap(), "16");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextOptions {
    /// I/O threads to start (`ZMQ_IO_THREADS`, default 1). Connections are
    /// spread over them, or placed by each socket's `affinity`. 0, which
    /// libzmq allows for inproc-only contexts, starts one.
    pub io_threads: usize,
    /// Sockets the context may have open at once (`ZMQ_MAX_SOCKETS`,
    /// default 1023, 1 to 65535); one more is refused with
    /// [`Error::TooManySockets`](crate::Error::TooManySockets) (libzmq's
    /// `EMFILE`).
    pub max_sockets: usize,
    /// Put in front of the I/O threads' names, as `PREFIX/io-N`
    /// (`ZMQ_THREAD_NAME_PREFIX`; without one they are `monocoque-io-N`).
    /// Linux shows the first 15 bytes of a name.
    pub thread_name_prefix: Option<String>,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self {
            io_threads: 1,
            max_sockets: 1023,
            thread_name_prefix: None,
        }
    }
}

/// libzmq's context options this crate does not implement, with why.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "blocky",
        "a context ends when its handles are dropped; set LINGER on sockets",
    ),
    ("ipv6", "set it on each socket (SocketOptions::ipv6)"),
    ("max_msgsz", "set MAXMSGSIZE on each socket"),
    ("msg_t_size", "messages are Bytes, not a zmq_msg_t"),
    ("thread_affinity_cpu_add", "not yet"),
    ("thread_affinity_cpu_remove", "not yet"),
    ("thread_priority", "not yet"),
    ("thread_sched_policy", "not yet"),
    ("zero_copy_recv", "receiving is always zero-copy"),
];

impl ContextOptions {
    /// Sets an option by its libzmq name (case-insensitive, with or without
    /// `ZMQ_`) from text, as a configuration file gives it. A bad name or
    /// value is an error and changes nothing.
    ///
    /// ```
    /// use monocoque::{ContextOptions, OptionError};
    /// let mut o = ContextOptions::default();
    /// o.set("thread_name_prefix", "svc").unwrap();
    /// assert_eq!(o.thread_name_prefix.as_deref(), Some("svc"));
    /// assert!(matches!(o.set("max_sockets", "0"), Err(OptionError::InvalidValue { .. })));
    /// assert!(matches!(o.set("io_thread", "2"), Err(OptionError::UnknownName(_))));
    /// ```
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), OptionError> {
        let key = by_name::normalize(name);
        let bad = |name: &'static str, why: &'static str| OptionError::InvalidValue {
            name,
            value: value.to_owned(),
            why,
        };
        match key.as_str() {
            "io_threads" => {
                self.io_threads = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("io_threads", "takes 0 or more"))?;
            }
            "max_sockets" => {
                self.max_sockets = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=SOCKET_LIMIT).contains(n))
                    .ok_or_else(|| bad("max_sockets", "takes 1 to 65535"))?;
            }
            "thread_name_prefix" => {
                if value.contains('\0') {
                    return Err(bad("thread_name_prefix", "takes text without NUL"));
                }
                self.thread_name_prefix = Some(value.to_owned()).filter(|p| !p.is_empty());
            }
            "socket_limit" => return Err(OptionError::ReadOnly("socket_limit")),
            _ => return Err(unknown(name, &key)),
        }
        Ok(())
    }

    /// An option's value by its libzmq name, as text (`"1"`, `"1023"`); an
    /// unset prefix reads as empty. `socket_limit` reads the largest
    /// `max_sockets`.
    ///
    /// ```
    /// let o = monocoque::ContextOptions::default();
    /// assert_eq!(o.get("io_threads").unwrap(), "1");
    /// assert_eq!(o.get("ZMQ_SOCKET_LIMIT").unwrap(), "65535");
    /// ```
    pub fn get(&self, name: &str) -> Result<String, OptionError> {
        let key = by_name::normalize(name);
        Ok(match key.as_str() {
            "io_threads" => self.io_threads.to_string(),
            "max_sockets" => self.max_sockets.to_string(),
            "thread_name_prefix" => self.thread_name_prefix.clone().unwrap_or_default(),
            "socket_limit" => SOCKET_LIMIT.to_string(),
            _ => return Err(unknown(name, &key)),
        })
    }
}

fn unknown(name: &str, key: &str) -> OptionError {
    match UNSUPPORTED.iter().find(|(n, _)| *n == key) {
        Some((n, why)) => OptionError::NotSupported { name: n, why },
        None => OptionError::UnknownName(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_options_by_name() {
        let mut o = ContextOptions::default();
        o.set("Zmq_Io_Threads", " 3 ").expect("set");
        assert_eq!(o.get("IO_THREADS").expect("get"), "3");
        for bad in ["-1", "x", ""] {
            assert!(o.set("io_threads", bad).is_err(), "{bad}");
        }
        for bad in ["0", "65536", "-5"] {
            assert!(o.set("max_sockets", bad).is_err(), "{bad}");
        }
        assert_eq!(o.max_sockets, 1023, "a refused value changed nothing");
        o.set("max_sockets", "65535").expect("the limit itself");
        assert!(matches!(
            o.set("blocky", "0"),
            Err(OptionError::NotSupported { name: "blocky", .. })
        ));
        assert!(matches!(
            o.set("socket_limit", "5"),
            Err(OptionError::ReadOnly(_))
        ));
        o.set("thread_name_prefix", "").expect("empty clears");
        assert_eq!(o.thread_name_prefix, None);
    }
}
