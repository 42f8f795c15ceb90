//! Batched UDP system calls on a socket the caller opened: `recvmmsg` brings in every datagram already waiting
//! with one call, `sendmmsg` sends a batch with one call, and within it each run of equal-sized datagrams to one
//! address goes out as one UDP GSO message. At tens of thousands of packets per second the per-datagram system
//! call is a large share of a media loop's cost; batching removes most of it. Elsewhere than Linux the same
//! functions fall back to one call per datagram.
//!
//! Used by the server's media loop and by the client crate's media peers (the load generator's senders). It
//! opens no socket and spawns nothing: it only makes system calls on the socket it is handed.

use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Messages taken per receive call. Large enough to empty the socket of a burst (a keyframe to several
/// subscribers), small enough that a batch's buffers stay in cache.
pub const RECV_BATCH: usize = 32;

/// Larger than any datagram the SFU accepts (str0m's MTU is 1,200 bytes; TURN and TCP framing add little).
const DATAGRAM_MAX: usize = 2048;
/// Room for a coalesced run of datagrams (`UDP_GRO`): the kernel never builds one larger than a UDP datagram.
const COALESCED_MAX: usize = 65_536;

/// Buffers for one batched receive, allocated once for the life of the media loop.
pub struct RecvBatch {
    /// [`RECV_BATCH`] slots of `slot` bytes each.
    buf: Vec<u8>,
    slot: usize,
    /// Per received message: its slot, its length, its source, and the size of the datagrams it holds (all of
    /// them, but the last may be shorter; its length when it is one datagram).
    got: Vec<(usize, usize, SocketAddr, usize)>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// One datagram per message.
    pub fn new() -> Self {
        Self::with_slot(DATAGRAM_MAX)
    }

    /// Asks the kernel to hand runs of datagrams from one sender as one message (`UDP_GRO`), and makes room for
    /// them: a run sent as one GSO message (as the SFU and the client send a frame's packets) then goes through
    /// the receiving side of the network stack and this call once rather than once per datagram. Where the
    /// kernel refuses, every message is one datagram, as with [`RecvBatch::new`].
    pub fn coalescing(socket: &UdpSocket) -> Self {
        if enable_gro(socket) {
            Self::with_slot(COALESCED_MAX)
        } else {
            Self::new()
        }
    }

    fn with_slot(slot: usize) -> Self {
        RecvBatch { buf: vec![0; slot * RECV_BATCH], slot, got: Vec::with_capacity(RECV_BATCH) }
    }

    /// The datagrams of the last [`RecvBatch::receive`], a coalesced run cut back into its datagrams: source and
    /// contents, in the order they arrived.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.got.iter().flat_map(move |&(slot, len, from, segment)| {
            let start = slot * self.slot;
            self.buf[start..start + len].chunks(segment.max(1)).map(move |d| (from, d))
        })
    }

    /// Takes what is waiting on the socket without blocking: returns how many messages arrived (0 when none).
    #[cfg(target_os = "linux")]
    pub fn receive(&mut self, socket: &UdpSocket) -> usize {
        use std::os::fd::AsRawFd;
        /// Room for one `cmsghdr` carrying an int (the `UDP_GRO` segment size), 8-byte aligned.
        type Control = [u64; 4];
        self.got.clear();
        // SAFETY: all-zero iovec, mmsghdr and sockaddr_storage are valid values.
        let mut iovs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut names: [libc::sockaddr_storage; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut controls: [Control; RECV_BATCH] = [[0; 4]; RECV_BATCH];
        let coalescing = self.slot > DATAGRAM_MAX;
        for (i, slot) in self.buf.chunks_exact_mut(self.slot).enumerate() {
            iovs[i] = libc::iovec { iov_base: slot.as_mut_ptr() as *mut libc::c_void, iov_len: slot.len() };
            msgs[i].msg_hdr.msg_name = &mut names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
            msgs[i].msg_hdr.msg_iovlen = 1;
            if coalescing {
                msgs[i].msg_hdr.msg_control = controls[i].as_mut_ptr() as *mut libc::c_void;
                msgs[i].msg_hdr.msg_controllen = std::mem::size_of::<Control>() as _;
            }
        }
        let fd = socket.as_raw_fd();
        // `try_io` clears tokio's readiness when the call would block, so the loop's next `readable()` waits.
        let received = socket.try_io(tokio::io::Interest::READABLE, || {
            // SAFETY: `msgs` points into `iovs`, `names`, `controls` and `self.buf`, all alive and unmoved for the
            // call; MSG_DONTWAIT makes it return at once.
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
        for (i, m) in msgs.iter().enumerate().take(n) {
            let len = m.msg_len as usize;
            // A truncated message (larger than its slot) is nobody's valid packet: skip it.
            if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            if let Some(from) = socket_addr(&names[i]) {
                self.got.push((i, len, from, gro_segment(&m.msg_hdr).unwrap_or(len)));
            }
        }
        n
    }

    #[cfg(not(target_os = "linux"))]
    pub fn receive(&mut self, socket: &UdpSocket) -> usize {
        self.got.clear();
        while self.got.len() < RECV_BATCH {
            let i = self.got.len();
            let start = i * self.slot;
            match socket.try_recv_from(&mut self.buf[start..start + self.slot]) {
                Ok((n, from)) => self.got.push((i, n, from, n)),
                Err(_) => break,
            }
        }
        self.got.len()
    }
}

/// The segment size of a coalesced message, from its `UDP_GRO` control message; `None` for a single datagram.
#[cfg(target_os = "linux")]
fn gro_segment(m: &libc::msghdr) -> Option<usize> {
    if m.msg_controllen == 0 {
        return None;
    }
    // SAFETY: the kernel wrote `msg_controllen` bytes of control messages into the buffer `m` points to; the
    // macros walk them within that length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(size).ok().filter(|s| *s > 0);
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    None
}

/// Asks for coalesced reads (`UDP_GRO`); false when the kernel refuses.
#[cfg(target_os = "linux")]
fn enable_gro(socket: &UdpSocket) -> bool {
    set_int_option(socket, libc::SOL_UDP, libc::UDP_GRO, 1).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn enable_gro(_: &UdpSocket) -> bool {
    false
}

/// Asks for `bytes` of receive and send buffer on the media socket. Every peer's packets share this one
/// socket: with the kernel's default (~200 KiB, about 90 datagrams of accounted memory on loopback) a stall of a
/// few milliseconds at load overflows it, and each lost packet then costs a retransmission. A process allowed to
/// (`CAP_NET_ADMIN`) gets the size whatever `net.core.rmem_max` / `wmem_max` say; any other gets at most those
/// limits, and a shortfall is logged once, with the settings to raise.
pub fn size_buffers(socket: &UdpSocket, bytes: usize) {
    let s = socket2::SockRef::from(socket);
    if !force_buffers(socket, bytes) {
        let _ = s.set_recv_buffer_size(bytes);
        let _ = s.set_send_buffer_size(bytes);
    }
    // Linux reports twice what it grants (the other half is its bookkeeping).
    let got = |r: std::io::Result<usize>| r.map(|n| n / 2).unwrap_or(0);
    let (receive, send) = (got(s.recv_buffer_size()), got(s.send_buffer_size()));
    if receive < bytes || send < bytes {
        tracing::warn!(
            wanted = bytes,
            receive,
            send,
            "the media socket got smaller buffers than configured; raise net.core.rmem_max and net.core.wmem_max"
        );
    } else {
        tracing::info!(receive, send, "media socket buffers");
    }
}

/// Sets both buffers past the system limits (`SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`); false when not allowed.
#[cfg(target_os = "linux")]
fn force_buffers(socket: &UdpSocket, bytes: usize) -> bool {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE]
        .into_iter()
        .all(|option| set_int_option(socket, libc::SOL_SOCKET, option, value).is_ok())
}

/// Sets one integer socket option (`setsockopt`).
#[cfg(unix)]
pub fn set_int_option(
    socket: &impl std::os::fd::AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: a valid socket, and an int option of the right size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn force_buffers(_: &UdpSocket, _: usize) -> bool {
    false
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
pub const SEND_BATCH: usize = 64;

/// Segments the kernel takes in one UDP GSO send at most (`UDP_MAX_SEGMENTS` is 64 on older kernels).
const GSO_MAX_SEGMENTS: usize = 64;
/// Bytes in one GSO send at most (a UDP datagram's limit, with room for headers).
const GSO_MAX_BYTES: usize = 60_000;

/// Whether runs of datagrams to one address go out as one UDP GSO send (`UDP_SEGMENT`). On by default; turned
/// off for good the first time the kernel refuses it (an old kernel, a device without checksum offload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso(pub bool);

/// What one [`send_batch`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Datagrams the kernel took; the rest were dropped.
    pub datagrams: usize,
    /// Of those, datagrams that went out as segments of a GSO send with at least one other.
    pub segmented: usize,
}

/// A run of `batch[start..end]` that goes out as one message: one datagram, or several of one size (the last
/// may be shorter) to one address as GSO segments.
fn runs(batch: &[(SocketAddr, Vec<u8>)], gso: bool) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= batch.len() {
            return None;
        }
        let (to, first) = (&batch[start].0, batch[start].1.len());
        let mut end = start + 1;
        let mut bytes = first;
        if gso && first > 0 {
            while end < batch.len()
                && end - start < GSO_MAX_SEGMENTS
                && batch[end].0 == *to
                && batch[end].1.len() <= first
                && !batch[end].1.is_empty()
                && bytes + batch[end].1.len() <= GSO_MAX_BYTES
            {
                bytes += batch[end].1.len();
                end += 1;
                if batch[end - 1].1.len() < first {
                    break; // a shorter segment can only be the last
                }
            }
        }
        let run = (start, end);
        start = end;
        Some(run)
    })
}

/// Sends the datagrams, as few system calls as the kernel allows, without allocating: `sendmmsg` for the
/// batch, and within it each run of equal-sized datagrams to one address as one GSO message that the kernel
/// (or the network card) cuts into datagrams — one trip through the network stack instead of one per packet.
/// UDP: whatever the socket buffer cannot take is dropped, as a congested network would drop it.
#[cfg(target_os = "linux")]
pub fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)], gso: &mut Gso) -> Sent {
    use std::os::fd::AsRawFd;
    /// Room for one `cmsghdr` carrying a `u16`, 8-byte aligned as the kernel expects.
    type Control = [u64; 3];
    let fd = socket.as_raw_fd();
    let mut out = Sent::default();
    for chunk in batch.chunks(SEND_BATCH) {
        // SAFETY: all-zero iovec, mmsghdr and sockaddr_storage are valid values.
        let mut iovs: [libc::iovec; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut names: [libc::sockaddr_storage; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut controls: [Control; SEND_BATCH] = [[0; 3]; SEND_BATCH];
        // Datagrams in each message, to count what a partial send took.
        let mut counts = [0usize; SEND_BATCH];
        for (i, (_, bytes)) in chunk.iter().enumerate() {
            iovs[i] = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
        }
        let mut n_msgs = 0;
        for (start, end) in runs(chunk, gso.0) {
            let m = &mut msgs[n_msgs].msg_hdr;
            m.msg_name = &mut names[n_msgs] as *mut libc::sockaddr_storage as *mut libc::c_void;
            m.msg_namelen = write_addr(&mut names[n_msgs], &chunk[start].0);
            m.msg_iov = &mut iovs[start] as *mut libc::iovec;
            m.msg_iovlen = end - start;
            if end - start > 1 {
                let size = chunk[start].1.len() as u16;
                m.msg_control = controls[n_msgs].as_mut_ptr() as *mut libc::c_void;
                // SAFETY: CMSG_SPACE of a u16 fits `Control` (24 bytes on 64-bit Linux); the header is written
                // through the kernel's own macros into that buffer.
                unsafe {
                    m.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as _;
                    let c = libc::CMSG_FIRSTHDR(m);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = libc::UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, size);
                }
            }
            counts[n_msgs] = end - start;
            n_msgs += 1;
        }
        let mut done = 0;
        while done < n_msgs {
            let rest = &mut msgs[done..n_msgs];
            // SAFETY: `rest` holds initialised mmsghdr whose pointers point into `iovs`, `names`, `controls` and
            // `batch`, all alive for the call; the socket is non-blocking and MSG_DONTWAIT returns at once.
            let n = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as libc::c_uint, libc::MSG_DONTWAIT) };
            if n <= 0 {
                let err = std::io::Error::last_os_error();
                if gso.0 && counts[done] > 1 && matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL)) {
                    // The kernel or the device cannot segment: send without GSO from now on.
                    tracing::warn!(error = %err, "UDP GSO refused; sending one datagram per message from now on");
                    gso.0 = false;
                    let first: usize = counts[..done].iter().sum();
                    let rest = send_batch(socket, &chunk[first..], gso);
                    out.datagrams += first + rest.datagrams;
                    out.segmented += rest.segmented;
                    done = n_msgs;
                    break;
                }
                break; // buffer full (EAGAIN) or an error: the rest are dropped
            }
            for c in &counts[done..done + n as usize] {
                out.datagrams += c;
                if *c > 1 {
                    out.segmented += c;
                }
            }
            done += n as usize;
        }
        if done < n_msgs {
            return out;
        }
    }
    out
}

#[cfg(not(target_os = "linux"))]
pub fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)], _gso: &mut Gso) -> Sent {
    let datagrams = batch.iter().filter(|(to, bytes)| socket.try_send_to(bytes, *to).is_ok()).count();
    Sent { datagrams, segmented: 0 }
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

    /// Runs of one size to one address go together; a shorter datagram ends a run; other addresses, longer
    /// datagrams and the limits start a new one.
    #[test]
    fn runs_group_equal_datagrams_to_one_address() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let d = |to: SocketAddr, len: usize| (to, vec![0u8; len]);
        let batch = vec![d(a, 100), d(a, 100), d(a, 60), d(a, 100), d(b, 100), d(b, 120), d(a, 100), d(a, 100)];
        assert_eq!(runs(&batch, true).collect::<Vec<_>>(), [(0, 3), (3, 4), (4, 5), (5, 6), (6, 8)]);
        assert_eq!(runs(&batch, false).count(), batch.len());
        let many: Vec<_> = (0..150).map(|_| d(a, 1000)).collect();
        let lens: Vec<usize> = runs(&many, true).map(|(s, e)| e - s).collect();
        assert_eq!(lens, [60, 60, 30], "at most {GSO_MAX_BYTES} bytes per send");
    }

    /// The media socket gets the buffers asked for: past the kernel's limits (`net.core.rmem_max`) when the
    /// process may exceed them (`CAP_NET_ADMIN`, as root), up to them otherwise; never less than its default.
    #[tokio::test]
    async fn the_media_socket_gets_the_buffers_asked_for() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let before = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        let wanted = 8 << 20;
        size_buffers(&socket, wanted);
        let limit = |name: &str| -> usize {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}")).unwrap().trim().parse().unwrap()
        };
        let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let privileged = force_buffers(&probe, 4096);
        let s = socket2::SockRef::from(&socket);
        let (receive, send) = (s.recv_buffer_size().unwrap(), s.send_buffer_size().unwrap());
        assert!(receive >= before, "{receive} < the default {before}");
        if privileged {
            assert_eq!((receive / 2, send / 2), (wanted, wanted));
        } else {
            assert_eq!((receive / 2, send / 2), (wanted.min(limit("rmem_max")), wanted.min(limit("wmem_max"))));
        }
    }

    /// A GSO send arrives as separate datagrams, in order, at a socket that knows nothing of GSO.
    #[tokio::test]
    async fn segmented_sends_arrive_as_separate_datagrams() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (tb, tc) = (b.local_addr().unwrap(), c.local_addr().unwrap());
        let mut batch: Vec<(SocketAddr, Vec<u8>)> = (0..20u8).map(|i| (tb, vec![i; 500])).collect();
        batch.push((tb, vec![20; 123]));
        batch.extend((0..5u8).map(|i| (tc, vec![i; 300])));
        let mut gso = Gso(true);
        let sent = send_batch(&a, &batch, &mut gso);
        assert_eq!(sent.datagrams, 26);
        if gso.0 {
            assert_eq!(sent.segmented, 26, "two runs, both segmented");
        }
        for (socket, want) in [(&b, 21usize), (&c, 5)] {
            let mut rb = RecvBatch::new();
            let mut got = Vec::new();
            while got.len() < want {
                socket.readable().await.unwrap();
                rb.receive(socket);
                got.extend(rb.datagrams().map(|(_, d)| d.to_vec()));
            }
            assert_eq!(got.len(), want);
            assert!(got.iter().enumerate().all(|(i, d)| d.iter().all(|b| *b as usize == i)), "in order, whole");
        }
    }

    /// A receiver that reads coalesced runs gets a GSO send in fewer messages than datagrams, and cuts them back
    /// into the datagrams that were sent, in order and whole, each with its source; other senders' datagrams and
    /// odd sizes come through as they are.
    #[tokio::test]
    async fn coalesced_reads_give_back_each_datagram() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut rb = RecvBatch::coalescing(&b);
        let coalescing = rb.slot > DATAGRAM_MAX;
        let to = b.local_addr().unwrap();
        let mut batch: Vec<(SocketAddr, Vec<u8>)> = (0..40u8).map(|i| (to, vec![i; 1000])).collect();
        batch.push((to, vec![40; 77]));
        assert_eq!(send_batch(&a, &batch, &mut Gso(true)).datagrams, 41);
        c.send_to(&[41; 5], to).await.unwrap();
        let mut got = Vec::new();
        let mut messages = 0;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 42 {
            if tokio::time::timeout_at(deadline, b.readable()).await.is_err() {
                break;
            }
            messages += rb.receive(&b);
            got.extend(rb.datagrams().map(|(from, d)| (from, d.to_vec())));
        }
        assert_eq!(got.len(), 42, "datagrams read back");
        let (from_a, from_c) = (a.local_addr().unwrap(), c.local_addr().unwrap());
        assert!(got[..41].iter().all(|(from, _)| *from == from_a));
        assert_eq!(got[41], (from_c, vec![41; 5]));
        let lens: Vec<usize> = got.iter().map(|(_, d)| d.len()).collect();
        assert_eq!(lens, [vec![1000; 40], vec![77, 5]].concat());
        assert!(got.iter().enumerate().all(|(i, (_, d))| d.iter().all(|b| *b as usize == i)), "in order, whole");
        if coalescing {
            assert!(messages < 42, "{messages} messages for 42 datagrams: nothing was coalesced");
        }
    }

    /// Both directions over loopback: a burst larger than one batch arrives whole, with sources, in order.
    #[tokio::test]
    async fn batches_carry_every_datagram_with_its_source() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let batch: Vec<(SocketAddr, Vec<u8>)> = (0..100u8).map(|i| (to, vec![i; 10 + i as usize])).collect();
        assert_eq!(send_batch(&a, &batch, &mut Gso(true)).datagrams, 100);
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
