//! A socket's options by libzmq's names ([`Socket::set_option`],
//! [`Socket::option`]), and checked typed updates
//! ([`Socket::try_update_options`]). The names and values are
//! [`SocketOptions::set`]'s; a socket adds what only it knows: its last
//! endpoint and its subscriptions.

use crate::error::Result;
use crate::options::{by_name, OptionError, SocketOptions};
use crate::socket::Socket;

impl Socket {
    /// Sets one option by its libzmq name, from text (`"sndhwm"`,
    /// `"ZMQ_LINGER"`, any case; values as `zmq_setsockopt` takes them,
    /// see [`SocketOptions::set`]); `subscribe` and `unsubscribe` (SUB,
    /// XSUB) subscribe. A bad name, a value libzmq would refuse, or an
    /// option for another socket type is an [`Error::Option`] and changes
    /// nothing.
    ///
    /// [`Error::Option`]: crate::Error::Option
    ///
    /// ```
    /// use monocoque::{Error, OptionError, Socket, SocketType};
    /// let s = Socket::new(SocketType::Dealer).unwrap();
    /// s.set_option("sndhwm", "10").unwrap();
    /// s.set_option("ZMQ_TCP_KEEPALIVE", "1").unwrap();
    /// assert_eq!(s.options().sndhwm, 10);
    /// assert_eq!(s.option("SNDHWM").unwrap(), "10");
    /// assert!(matches!(
    ///     s.set_option("router_mandatory", "1"),
    ///     Err(Error::Option(OptionError::WrongSocketType { .. }))
    /// ));
    /// assert!(matches!(s.set_option("linger", "-2"), Err(Error::Option(_))));
    /// ```
    pub fn set_option(&self, name: &str, value: &str) -> Result<()> {
        self.set_options_by_name([(name, value)])
    }

    /// Sets several options by name, in order and all or nothing (see
    /// [`SocketOptions::set_all`]): what a program reading a configuration
    /// file wants. Subscriptions among them are made once every option is
    /// set.
    ///
    /// ```
    /// use monocoque::{Socket, SocketType};
    /// let sub = Socket::new(SocketType::Sub).unwrap();
    /// sub.set_options_by_name([("rcvhwm", "50"), ("subscribe", "weather."), ("linger", "0")])
    ///     .unwrap();
    /// assert_eq!(sub.options().rcvhwm, 50);
    /// assert!(sub.set_options_by_name([("rcvhwm", "60"), ("nope", "1")]).is_err());
    /// assert_eq!(sub.options().rcvhwm, 50);
    /// ```
    pub fn set_options_by_name<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<()> {
        let ty = self.socket_type();
        let mut options = Vec::new();
        let mut subscriptions = Vec::new();
        for (name, value) in entries {
            match by_name::resolve(ty, name, by_name::SOCKET_NAMES)? {
                "subscribe" => subscriptions.push((true, value)),
                "unsubscribe" => subscriptions.push((false, value)),
                "last_endpoint" => return Err(OptionError::ReadOnly("last_endpoint").into()),
                _ => options.push((name, value)),
            }
        }
        let mut opts = self.options();
        opts.set_all(ty, options)?;
        self.set_options(opts);
        for (on, prefix) in subscriptions {
            if on {
                self.subscribe(prefix)?;
            } else {
                self.unsubscribe(prefix)?;
            }
        }
        Ok(())
    }

    /// Reads one option by its libzmq name, as text (see
    /// [`SocketOptions::get`]); `last_endpoint` reads
    /// [`last_endpoint`](Self::last_endpoint) (empty before any bind or
    /// connect).
    ///
    /// ```
    /// use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// assert_eq!(s.option("zmq_rcvhwm").unwrap(), "1000");
    /// assert_eq!(s.option("linger").unwrap(), "-1");
    /// s.bind("tcp://127.0.0.1:*").unwrap();
    /// assert!(s.option("last_endpoint").unwrap().starts_with("tcp://127.0.0.1:"));
    /// ```
    pub fn option(&self, name: &str) -> Result<String> {
        let ty = self.socket_type();
        match by_name::resolve(ty, name, by_name::SOCKET_NAMES)? {
            "last_endpoint" => Ok(self.last_endpoint().unwrap_or_default()),
            "subscribe" => Err(OptionError::WriteOnly("subscribe").into()),
            "unsubscribe" => Err(OptionError::WriteOnly("unsubscribe").into()),
            _ => Ok(self.options().get(ty, name)?),
        }
    }

    /// Changes some options in place, like
    /// [`update_options`](Self::update_options), but checks the result
    /// first ([`SocketOptions::validate`]): a value libzmq would refuse is
    /// an [`Error::Option`](crate::Error::Option) and nothing changes.
    ///
    /// ```
    /// use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// s.try_update_options(|o| o.tcp_keepalive_cnt = Some(5)).unwrap();
    /// assert!(s.try_update_options(|o| o.tcp_keepalive_cnt = Some(0)).is_err());
    /// assert_eq!(s.options().tcp_keepalive_cnt, Some(5));
    /// ```
    pub fn try_update_options(&self, f: impl FnOnce(&mut SocketOptions)) -> Result<()> {
        let mut opts = self.options();
        f(&mut opts);
        opts.validate()?;
        self.set_options(opts);
        Ok(())
    }
}
