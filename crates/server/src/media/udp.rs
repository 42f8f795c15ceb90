//! The media socket's system calls in batches: `recvmmsg` brings in every datagram already waiting with one call,
//! `sendmmsg` sends a loop iteration's output with one call. At tens of thousands of packets per second the
//! per-datagram system call is a large share of the media loop's cost; batching removes most of it. Elsewhere
//! than Linux the same functions fall back to one call per datagram.

use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Datagrams taken per receive call. Large enough to empty the socket of a burst (a keyframe to several
/// subscribers), small enough that a batch's buffers stay in cache.
pub(super) const RECV_BATCH: usize = 32;

/// Larger than any datagram the SFU accepts (str0m's MTU is 1,200 bytes; TURN and TCP framing add little).
const DATAGRAM_MAX: usize = 2048;

/// Buffers for one batched receive, allocated once for the life of the media loop.
pub(super) struct RecvBatch {
    bufs: Vec<[u8; DATAGRAM_MAX]>,
    /// Per received datagram: its length and source.
    got: Vec<(usize, SocketAddr)>,
}

impl RecvBatch {
    pub(super) fn new() -> Self {
        RecvBatch { bufs: vec![[0; DATAGRAM_MAX]; RECV_BATCH], got: Vec::with_capacity(RECV_BATCH) }
    }

    /// The datagrams of the last [`RecvBatch::receive`]: source and contents.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.got.iter().zip(&self.bufs).map(|(&(n, from), buf)| (from, &buf[..n]))
    }

    /// Takes what is waiting on the socket without blocking: returns how many datagrams arrived (0 when none).
    #[cfg(target_os = "linux")]
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> usize {
        use std::os::fd::AsRawFd;
        self.got.clear();
        // SAFETY: all-zero iovec, mmsghdr and sockaddr_storage are valid values.
        let mut iovs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut names: [libc::sockaddr_storage; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..RECV_BATCH {
            iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void, iov_len: DATAGRAM_MAX };
            msgs[i].msg_hdr.msg_name = &mut names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let fd = socket.as_raw_fd();
        // `try_io` clears tokio's readiness when the call would block, so the loop's next `readable()` waits.
        let received = socket.try_io(tokio::io::Interest::READABLE, || {
            // SAFETY: `msgs` points into `iovs`, `names` and `self.bufs`, all alive and unmoved for the call;
            // MSG_DONTWAIT makes it return at once.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    RECV_BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        let Ok(n) = received else {
            return 0;
        };
        for i in 0..n {
            let len = msgs[i].msg_len as usize;
            // A truncated datagram (larger than the buffer) is nobody's valid packet: skip it.
            if msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            if let Some(from) = socket_addr(&names[i]) {
                self.got.push((len, from));
                if self.got.len() - 1 != i {
                    // Keep datagrams and their buffers aligned after a skipped one.
                    let last = self.got.len() - 1;
                    self.bufs.swap(last, i);
                }
            }
        }
        n
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> usize {
        self.got.clear();
        while self.got.len() < RECV_BATCH {
            let i = self.got.len();
            match socket.try_recv_from(&mut self.bufs[i]) {
                Ok((n, from)) => self.got.push((n, from)),
                Err(_) => break,
            }
        }
        self.got.len()
    }
}

/// The source address the kernel wrote into a `sockaddr_storage`.
#[cfg(target_os = "linux")]
fn socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and aligned enough for.
            let a = unsafe { &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

/// Datagrams sent per `sendmmsg` call at most; the caller flushes when it has this many.
pub(super) const SEND_BATCH: usize = 64;

/// Sends the datagrams, as many per system call as the kernel takes, without allocating. Returns how many were
/// sent: UDP, so whatever the socket buffer cannot take is dropped, as a congested network would drop it.
#[cfg(target_os = "linux")]
pub(super) fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)]) -> usize {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let mut sent = 0;
    for chunk in batch.chunks(SEND_BATCH) {
        // SAFETY: all-zero iovec, mmsghdr and sockaddr_storage are valid values.
        let mut iovs: [libc::iovec; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut names: [libc::sockaddr_storage; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        for (i, (to, bytes)) in chunk.iter().enumerate() {
            iovs[i] = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
            msgs[i].msg_hdr.msg_name = &mut names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = write_addr(&mut names[i], to);
            msgs[i].msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let mut done = 0;
        while done < chunk.len() {
            let rest = &mut msgs[done..chunk.len()];
            // SAFETY: `rest` holds initialised mmsghdr whose pointers point into `iovs`, `names` and `batch`, all
            // alive for the call; the socket is non-blocking and MSG_DONTWAIT makes the call return at once.
            let n = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as libc::c_uint, libc::MSG_DONTWAIT) };
            if n <= 0 {
                return sent + done; // buffer full (EAGAIN) or an error: the rest are dropped
            }
            done += n as usize;
        }
        sent += done;
    }
    sent
}

#[cfg(not(target_os = "linux"))]
pub(super) fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)]) -> usize {
    batch.iter().filter(|(to, bytes)| socket.try_send_to(bytes, *to).is_ok()).count()
}

/// Writes `to` into `s` as the kernel expects it; returns the length to pass with it.
#[cfg(target_os = "linux")]
fn write_addr(s: &mut libc::sockaddr_storage, to: &SocketAddr) -> libc::socklen_t {
    match to {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe { &mut *(s as *mut libc::sockaddr_storage as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(s as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both directions over loopback: a burst larger than one batch arrives whole, with sources, in order.
    #[tokio::test]
    async fn batches_carry_every_datagram_with_its_source() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let batch: Vec<(SocketAddr, Vec<u8>)> = (0..100u8).map(|i| (to, vec![i; 10 + i as usize])).collect();
        assert_eq!(send_batch(&a, &batch), 100);
        let mut rb = RecvBatch::new();
        let mut got = Vec::new();
        while got.len() < 100 {
            b.readable().await.unwrap();
            rb.receive(&b);
            got.extend(rb.datagrams().map(|(from, d)| (from, d.to_vec())));
        }
        assert!(got.iter().all(|(from, _)| *from == a.local_addr().unwrap()));
        let lens: Vec<usize> = got.iter().map(|(_, d)| d.len()).collect();
        assert_eq!(lens, (0..100).map(|i| 10 + i).collect::<Vec<_>>());
        assert!(got.iter().enumerate().all(|(i, (_, d))| d.iter().all(|b| *b as usize == i)));
    }
}
