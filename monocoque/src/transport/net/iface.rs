//! Network interfaces by name (`tcp://eth0:5555`, `tcp://lo:*`): their
//! addresses, asked of the kernel over rtnetlink (an `RTM_GETADDR` dump),
//! where libzmq asks `getifaddrs`. Safe code only: the request and the
//! replies are plain bytes, parsed here.
//!
//! Linux only: elsewhere (no rtnetlink, and `getifaddrs` would need
//! `unsafe`) no name is an interface's, so `tcp://en0:5555` is tried as a
//! host name and fails as one, and an IPv6 `%zone` must be a number. The
//! parser builds everywhere; only [`addresses`] asks the kernel.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
#[cfg(target_os = "linux")]
use std::time::Duration;

#[cfg(target_os = "linux")]
use rustix::net::{netlink, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// One address of an interface, with the interface's index (an IPv6
/// link-local address needs it as its scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IfAddr {
    pub(crate) ip: IpAddr,
    pub(crate) index: u32,
}

const NLMSG_HEADER: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
/// `struct ifaddrmsg`: family, prefix length, flags, scope, index.
const IFADDRMSG: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Interface names are at most `IFNAMSIZ` less the NUL.
const MAX_NAME: usize = 15;

/// The addresses of the interface called `name`, in the kernel's order
/// (IPv4 and IPv6 mixed); `None` when no interface has that name.
#[cfg(target_os = "linux")]
pub(crate) fn addresses(name: &str) -> io::Result<Option<Vec<IfAddr>>> {
    if name.is_empty() || name.len() > MAX_NAME || name.contains(['/', '\0', ':', '%']) {
        return Ok(None);
    }
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let index = match rustix::net::netdevice::name_to_index(&fd, name) {
        Ok(index) => index,
        Err(rustix::io::Errno::NODEV) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The kernel answers a dump at once; the timeout only guards a hang.
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(2)),
    )?;
    let kernel = netlink::SocketAddrNetlink::new(0, 0);
    rustix::net::sendto(&fd, &request(), SendFlags::empty(), &kernel)?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())?;
        if n == 0 || parse(&buf[..n], index, &mut found)? {
            return Ok(Some(found));
        }
    }
}

/// No interface has a name outside Linux (see the module's doc).
#[cfg(not(target_os = "linux"))]
pub(crate) fn addresses(_name: &str) -> io::Result<Option<Vec<IfAddr>>> {
    Ok(None)
}

/// An `RTM_GETADDR` dump request for every family.
fn request() -> [u8; NLMSG_HEADER + IFADDRMSG] {
    let mut req = [0u8; NLMSG_HEADER + IFADDRMSG];
    let len = u32::try_from(req.len()).unwrap_or(0);
    req[0..4].copy_from_slice(&len.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence number
    req
}

/// Netlink messages and attributes are padded to 4 bytes.
fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Takes the addresses of interface `index` from one read of replies;
/// whether the dump is done.
fn parse(mut msgs: &[u8], index: u32, found: &mut Vec<IfAddr>) -> io::Result<bool> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed rtnetlink reply");
    while msgs.len() >= NLMSG_HEADER {
        let len = u32_at(msgs, 0).ok_or_else(malformed)? as usize;
        let ty = u16_at(msgs, 4).ok_or_else(malformed)?;
        if len < NLMSG_HEADER || len > msgs.len() {
            return Err(malformed());
        }
        let body = &msgs[NLMSG_HEADER..len];
        match ty {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = u32_at(body, 0).ok_or_else(malformed)? as i32;
                return match code {
                    0 => Ok(true),
                    c => Err(io::Error::from_raw_os_error(-c)),
                };
            }
            RTM_NEWADDR => found.extend(address(body, index)),
            _ => {}
        }
        msgs = &msgs[align(len).min(msgs.len())..];
    }
    Ok(false)
}

/// The address in one `RTM_NEWADDR` message, if it is interface `index`'s:
/// `IFA_LOCAL` (the interface's own, on point-to-point links too), else
/// `IFA_ADDRESS`.
fn address(body: &[u8], index: u32) -> Option<IfAddr> {
    let family = *body.first()?;
    if u32_at(body, 4)? != index {
        return None;
    }
    let (mut addr, mut local) = (None, None);
    let mut attrs = body.get(IFADDRMSG..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0)?);
        let ty = u16_at(attrs, 2)?;
        if len < 4 || len > attrs.len() {
            break;
        }
        let data = &attrs[4..len];
        match ty {
            IFA_ADDRESS => addr = ip(family, data),
            IFA_LOCAL => local = ip(family, data),
            _ => {}
        }
        attrs = &attrs[align(len).min(attrs.len())..];
    }
    Some(IfAddr {
        ip: local.or(addr)?,
        index,
    })
}

fn ip(family: u8, data: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(Ipv4Addr::from(<[u8; 4]>::try_from(data).ok()?).into()),
        AF_INET6 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?).into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_its_addresses() {
        let lo = addresses("lo").expect("netlink").expect("lo exists");
        assert!(
            lo.iter().any(|a| a.ip == IpAddr::from(Ipv4Addr::LOCALHOST)),
            "{lo:?}"
        );
        assert!(lo.iter().all(|a| a.index == lo[0].index));
    }

    #[test]
    fn unknown_interfaces_are_none() {
        for name in ["no-such-if0", "", "a/b", "sixteen-bytes-xx", "::1"] {
            assert_eq!(addresses(name).expect("no error"), None, "{name:?}");
        }
    }

    #[test]
    fn parses_replies_and_stops_at_done() {
        // One RTM_NEWADDR for index 7 (IFA_ADDRESS 10.0.0.2, IFA_LOCAL
        // 10.0.0.1), one for index 8, then NLMSG_DONE.
        let newaddr = |index: u32, attrs: &[(u16, [u8; 4])]| {
            let mut m = vec![0u8; NLMSG_HEADER];
            m[4..6].copy_from_slice(&RTM_NEWADDR.to_ne_bytes());
            m.extend([AF_INET, 24, 0, 0]);
            m.extend(index.to_ne_bytes());
            for (ty, a) in attrs {
                m.extend(8u16.to_ne_bytes());
                m.extend(ty.to_ne_bytes());
                m.extend(a);
            }
            let len = u32::try_from(m.len()).expect("small");
            m[0..4].copy_from_slice(&len.to_ne_bytes());
            m
        };
        let mut msgs = newaddr(
            7,
            &[(IFA_ADDRESS, [10, 0, 0, 2]), (IFA_LOCAL, [10, 0, 0, 1])],
        );
        msgs.extend(newaddr(8, &[(IFA_ADDRESS, [10, 0, 1, 1])]));
        let mut found = Vec::new();
        assert!(
            !parse(&msgs, 7, &mut found).expect("parses"),
            "not done yet"
        );
        assert_eq!(
            found,
            [IfAddr {
                ip: Ipv4Addr::new(10, 0, 0, 1).into(),
                index: 7
            }]
        );
        let mut done = vec![0u8; NLMSG_HEADER + 4];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert!(parse(&done, 7, &mut found).expect("parses"));
        let truncated = &msgs[..msgs.len() - 3];
        assert!(
            parse(truncated, 7, &mut Vec::new()).is_err(),
            "a short message is an error"
        );
    }
}
