//! ICMP echo ("ping") for `ping` monitors, over IPv4 and IPv6.
//!
//! A check first opens an unprivileged ICMP datagram socket (Linux allows it when
//! `net.ipv4.ping_group_range` includes the process's group; the kernel then picks the
//! echo identifier and hands each socket only its own replies), and falls back to a raw
//! socket (root or `CAP_NET_RAW`), where it sees every ICMP packet of the host and keeps
//! only the replies whose identifier, sequence number and payload token are its own.
//! When neither is allowed, the check fails with a reason that says how to allow one.
//! Echo encoding, checksums and matching are here, small and pure, so they are tested
//! without a network.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::RngCore;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::domain::monitor::{default_ping_settings, MAX_PING_COUNT};
use crate::events::{MonitorConfig, PingStats};

/// Time between two echo requests of one check (the shortest interval ping(8) allows unprivileged users).
pub const SPACING: Duration = Duration::from_millis(200);

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// Bytes of the random token that starts each request's payload.
const TOKEN_LEN: usize = 8;
/// Padding after the token, so the payload is ping(8)'s usual 56 bytes.
const PAYLOAD_LEN: usize = 56;

/// Why a ping could not start (a lost packet is not an error: it is counted).
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// Neither an ICMP datagram socket nor a raw socket may be opened by this process.
    #[error(
        "not permitted to send ICMP echo requests (uid {uid}, gid {gid}): allow unprivileged \
         ping with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (or a range that holds \
         gid {gid}), or give the binary raw sockets with `setcap cap_net_raw+ep <path to watchfire>`"
    )]
    NotPermitted {
        /// The process's user id.
        uid: u32,
        /// The process's group id.
        gid: u32,
    },
    /// The socket could not be opened or used for another reason.
    #[error("ICMP socket failed: {0}")]
    Socket(#[source] std::io::Error),
}

/// Which kind of socket a ping used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` with `IPPROTO_ICMP`/`IPPROTO_ICMPV6`: unprivileged, the kernel filters replies.
    Datagram,
    /// `SOCK_RAW`: every ICMP packet of the host arrives; IPv4 ones with their IP header.
    Raw,
}

/// What one ping found.
#[derive(Clone, Debug, PartialEq)]
pub struct PingReport {
    /// The address pinged.
    pub address: IpAddr,
    /// The socket used.
    pub socket: SocketKind,
    /// Requests sent, replies received, round trips.
    pub stats: PingStats,
    /// The last error sending a request (such as `network unreachable`); those requests count as lost.
    pub send_error: Option<String>,
}

/// One ping check: `config.host` pinged with its settings until `deadline` at the latest;
/// `Err` says why the check failed without stats, `Ok` carries them and, when the loss is
/// too high, why it failed.
pub async fn check(
    config: &MonitorConfig,
    deadline: Instant,
) -> (Option<PingStats>, Option<String>) {
    let Some(host) = config.host.as_deref().filter(|h| !h.is_empty()) else {
        return (None, Some("no host to ping".to_owned()));
    };
    let settings = config.ping.clone().unwrap_or_else(default_ping_settings);
    let count = settings.count.clamp(1, MAX_PING_COUNT);
    let packet_timeout = Duration::from_millis(u64::from(settings.packet_timeout_ms.max(1)));
    let report = match ping(host, count, packet_timeout, deadline).await {
        Ok(report) => report,
        Err(e) => return (None, Some(e.to_string())),
    };
    let failure = judge(host, &report, settings.max_loss_percent);
    (Some(report.stats), failure)
}

/// Why a ping's result counts as a failure, if it does.
pub fn judge(host: &str, report: &PingReport, max_loss_percent: Option<u8>) -> Option<String> {
    let s = &report.stats;
    let loss = s.loss_percent();
    let why = report
        .send_error
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    if s.received == 0 {
        return Some(format!(
            "no reply from {host} ({}): {} of {} packets lost{why}",
            report.address, s.sent, s.sent
        ));
    }
    match max_loss_percent {
        Some(max) if loss > f64::from(max) => Some(format!(
            "{loss:.0}% packet loss to {host} over {max}% ({} of {} replied){why}",
            s.received, s.sent
        )),
        _ => None,
    }
}

/// Resolves `host` (a name, an address, or an IPv6 address in brackets) to one address.
pub async fn resolve(host: &str) -> Result<IpAddr, PingError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    let failed = |reason: String| PingError::Resolve {
        host: host.to_owned(),
        reason,
    };
    let mut addrs = tokio::net::lookup_host((bare, 0))
        .await
        .map_err(|e| failed(e.to_string()))?;
    addrs
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| failed("no address".to_owned()))
}

/// Opens an ICMP socket for `ip`'s family: datagram if allowed, else raw.
pub fn open(ip: IpAddr) -> Result<(Socket, SocketKind), PingError> {
    let (domain, protocol) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let socket = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => (s, SocketKind::Datagram),
        Err(dgram) if is_refusal(&dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(s) => (s, SocketKind::Raw),
            Err(raw) if is_refusal(&raw) => {
                let (uid, gid) = process_ids();
                return Err(PingError::NotPermitted { uid, gid });
            }
            Err(raw) => return Err(PingError::Socket(raw)),
        },
        Err(e) => return Err(PingError::Socket(e)),
    };
    socket.0.set_nonblocking(true).map_err(PingError::Socket)?;
    Ok(socket)
}

fn is_refusal(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::PermissionDenied || e.raw_os_error() == Some(1 /* EPERM */)
}

/// The process's user and group ids, as the owner of `/proc/self` shows them.
fn process_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or((u32::MAX, u32::MAX), |m| (m.uid(), m.gid()))
}

/// Pings `host` with `count` echo requests [`SPACING`] apart, each waiting
/// `packet_timeout` for its reply, and stops at `deadline` whatever is outstanding.
pub async fn ping(
    host: &str,
    count: u8,
    packet_timeout: Duration,
    deadline: Instant,
) -> Result<PingReport, PingError> {
    let address = match tokio::time::timeout_at(deadline, resolve(host)).await {
        Ok(resolved) => resolved?,
        Err(_) => {
            return Err(PingError::Resolve {
                host: host.to_owned(),
                reason: "timed out".to_owned(),
            })
        }
    };
    let (socket, kind) = open(address)?;
    // tokio's UDP socket is only sendto/recv on a registered descriptor, which is all an
    // ICMP socket needs: the async I/O without unsafe registration of a raw descriptor.
    let fd = UdpSocket::from_std(socket.into()).map_err(PingError::Socket)?;
    let v6 = address.is_ipv6();
    let mut token = [0u8; TOKEN_LEN];
    rand::thread_rng().fill_bytes(&mut token);
    let id = (rand::thread_rng().next_u32() & 0xffff) as u16;
    let target = SocketAddr::new(address, 0);
    let count = usize::from(count);

    let started = Instant::now();
    let mut sent_at: Vec<Instant> = Vec::with_capacity(count);
    let mut rtts: Vec<Option<f64>> = vec![None; count];
    let mut send_error = None;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        while sent_at.len() < count && due(started, sent_at.len()) <= now && now < deadline {
            let seq = sent_at.len() as u16;
            let packet = echo_request(v6, id, seq, &token);
            if let Err(e) = fd.send_to(&packet, target).await {
                send_error = Some(describe_send_error(&e));
            }
            sent_at.push(Instant::now());
        }
        let sending_done = sent_at.len() == count || due(started, sent_at.len()) >= deadline;
        let waiting_until = sent_at
            .iter()
            .zip(&rtts)
            .filter(|(_, rtt)| rtt.is_none())
            .map(|(at, _)| *at + packet_timeout)
            .max()
            .map(|until| until.min(deadline));
        let now = Instant::now();
        if now >= deadline || (sending_done && waiting_until.is_none_or(|until| until <= now)) {
            break;
        }
        let mut wake = deadline;
        if !sending_done {
            wake = wake.min(due(started, sent_at.len()));
        }
        if let Some(until) = waiting_until {
            if until > now {
                wake = wake.min(until);
            }
        }
        let got = tokio::select! {
            _ = tokio::time::sleep_until(wake) => None,
            got = fd.recv(&mut buf) => Some((got.map_err(PingError::Socket)?, Instant::now())),
        };
        let Some((n, arrived)) = got else { continue };
        let Some(reply) = parse_reply(v6, kind, &buf[..n]) else {
            continue;
        };
        if (kind == SocketKind::Raw && reply.id != id) || !reply.payload.starts_with(&token) {
            continue;
        }
        let seq = usize::from(reply.seq);
        if let (Some(at), Some(slot)) = (sent_at.get(seq), rtts.get_mut(seq)) {
            // A late reply counts as lost, as ping(8) counts one past its wait.
            if slot.is_none() && arrived <= *at + packet_timeout {
                *slot = Some(arrived.duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(PingReport {
        address,
        socket: kind,
        stats: stats(sent_at.len() as u32, rtts.iter().flatten().copied()),
        send_error,
    })
}

fn due(started: Instant, index: usize) -> Instant {
    started + SPACING * index as u32
}

fn describe_send_error(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        _ => format!("send failed: {e}"),
    }
}

/// Sent count and round trips as [`PingStats`].
pub fn stats(sent: u32, rtts: impl Iterator<Item = f64>) -> PingStats {
    let rtts: Vec<f64> = rtts.collect();
    let received = rtts.len() as u32;
    let (min, max, sum) = rtts.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0.0),
        |(lo, hi, sum), &r| (lo.min(r), hi.max(r), sum + r),
    );
    let any = received > 0;
    PingStats {
        sent,
        received,
        rtt_min_ms: any.then_some(min),
        rtt_avg_ms: any.then(|| sum / f64::from(received)),
        rtt_max_ms: any.then_some(max),
    }
}

/// An echo request: type, code, checksum (IPv4 only: the kernel fills ICMPv6's),
/// identifier, sequence number, then the token and padding.
pub fn echo_request(v6: bool, id: u16, seq: u16, token: &[u8; TOKEN_LEN]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + PAYLOAD_LEN);
    packet.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    packet.push(0);
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(token);
    packet.extend((0..PAYLOAD_LEN - TOKEN_LEN).map(|i| i as u8));
    if !v6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo reply's identifier, sequence number and payload.
#[derive(Debug, PartialEq, Eq)]
pub struct EchoReply<'a> {
    /// The identifier (on a datagram socket, the one the kernel chose).
    pub id: u16,
    /// The sequence number.
    pub seq: u16,
    /// What followed the header.
    pub payload: &'a [u8],
}

/// The echo reply in `packet` as a socket of `kind` delivers it, or `None` for anything else
/// (another ICMP type, our own request looped back, a truncated packet).
pub fn parse_reply(v6: bool, kind: SocketKind, packet: &[u8]) -> Option<EchoReply<'_>> {
    let icmp = if !v6 && kind == SocketKind::Raw {
        let header_len = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(header_len..)?
    } else {
        packet
    };
    let wanted = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp.len() < 8 || icmp[0] != wanted || icmp[1] != 0 {
        return None;
    }
    Some(EchoReply {
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[8..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: [u8; TOKEN_LEN] = *b"watchfir";

    #[test]
    fn an_ipv4_request_has_a_checksum_that_verifies_to_zero() {
        let packet = echo_request(false, 0x1234, 7, &TOKEN);
        assert_eq!(packet.len(), 8 + PAYLOAD_LEN);
        assert_eq!(packet[0], ECHO_REQUEST_V4);
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(&packet[8..16], &TOKEN);
        assert_eq!(
            checksum(&packet),
            0,
            "a packet with its checksum sums to zero"
        );
    }

    #[test]
    fn the_checksum_matches_rfc_1071s_worked_example_and_pads_odd_lengths() {
        // RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to ddf2, so the checksum is 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn an_ipv6_request_leaves_the_checksum_to_the_kernel() {
        let packet = echo_request(true, 1, 2, &TOKEN);
        assert_eq!(packet[0], ECHO_REQUEST_V6);
        assert_eq!(&packet[2..4], &[0, 0]);
    }

    fn reply_of(request: &[u8], reply_type: u8) -> Vec<u8> {
        let mut reply = request.to_vec();
        reply[0] = reply_type;
        reply
    }

    #[test]
    fn a_raw_ipv4_reply_is_read_past_its_ip_header() {
        let icmp = reply_of(&echo_request(false, 9, 3, &TOKEN), ECHO_REPLY_V4);
        let mut packet = vec![0x45];
        packet.extend_from_slice(&[0; 19]);
        packet.extend_from_slice(&icmp);
        let reply = parse_reply(false, SocketKind::Raw, &packet).expect("a reply");
        assert_eq!((reply.id, reply.seq), (9, 3));
        assert!(reply.payload.starts_with(&TOKEN));
        // A datagram socket hands over the ICMP message alone.
        let reply = parse_reply(false, SocketKind::Datagram, &icmp).expect("a reply");
        assert_eq!(reply.seq, 3);
    }

    #[test]
    fn requests_other_types_and_truncated_packets_are_not_replies() {
        let request = echo_request(false, 9, 3, &TOKEN);
        assert_eq!(parse_reply(false, SocketKind::Datagram, &request), None);
        let unreachable = reply_of(&request, 3);
        assert_eq!(parse_reply(false, SocketKind::Datagram, &unreachable), None);
        assert_eq!(
            parse_reply(false, SocketKind::Datagram, &request[..5]),
            None
        );
        assert_eq!(parse_reply(false, SocketKind::Raw, &[]), None);
        assert_eq!(parse_reply(false, SocketKind::Raw, &[0x4f, 0, 0]), None);
        let v6 = reply_of(&echo_request(true, 9, 4, &TOKEN), ECHO_REPLY_V6);
        assert_eq!(
            parse_reply(true, SocketKind::Raw, &v6).map(|r| r.seq),
            Some(4)
        );
        assert_eq!(parse_reply(false, SocketKind::Raw, &v6), None);
    }

    #[test]
    fn stats_give_min_avg_max_and_loss() {
        let s = stats(4, [1.0, 3.0, 2.0].into_iter());
        assert_eq!((s.sent, s.received), (4, 3));
        assert_eq!(
            (s.rtt_min_ms, s.rtt_avg_ms, s.rtt_max_ms),
            (Some(1.0), Some(2.0), Some(3.0))
        );
        assert_eq!(s.loss_percent(), 25.0);
        let none = stats(3, std::iter::empty());
        assert_eq!((none.rtt_min_ms, none.rtt_avg_ms), (None, None));
        assert_eq!(none.loss_percent(), 100.0);
    }

    fn report(sent: u32, received: u32) -> PingReport {
        PingReport {
            address: "127.0.0.1".parse().expect("address"),
            socket: SocketKind::Raw,
            stats: stats(sent, (0..received).map(f64::from)),
            send_error: None,
        }
    }

    #[test]
    fn any_reply_is_up_by_default_and_a_loss_threshold_can_tighten_it() {
        assert_eq!(judge("h", &report(3, 1), None), None);
        let all_lost = judge("h", &report(3, 0), None).expect("down");
        assert!(all_lost.contains("3 of 3 packets lost"), "{all_lost}");
        assert_eq!(judge("h", &report(4, 3), Some(25)), None);
        let over = judge("h", &report(4, 2), Some(25)).expect("down");
        assert!(over.starts_with("50% packet loss to h over 25%"), "{over}");
    }

    #[tokio::test]
    async fn resolve_takes_addresses_and_bracketed_ipv6_as_they_are() {
        assert_eq!(
            resolve("127.0.0.1").await.ok(),
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(
            resolve("[::1]").await.ok(),
            Some("::1".parse().expect("ip"))
        );
    }
}
