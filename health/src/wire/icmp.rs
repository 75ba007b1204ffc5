//! ICMP / ICMPv6 echo messages (RFC 792, RFC 4443 §4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Identifier          |        Sequence Number        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data ...
//! ```

pub const ECHO_REQUEST_V4: u8 = 8;
pub const ECHO_REPLY_V4: u8 = 0;
pub const ECHO_REQUEST_V6: u8 = 128;
pub const ECHO_REPLY_V6: u8 = 129;
pub const HEADER_LEN: usize = 8;

/// RFC 1071 Internet checksum.
pub fn checksum(data: &[u8]) -> u16 {
    checksum_of(&[data])
}

/// RFC 1071 over consecutive pieces (a pseudo-header, then a segment) without joining them.
/// Every piece but the last must have an even length; the last may end on an odd byte.
pub fn checksum_of(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request. The ICMPv4 checksum is filled in; the ICMPv6 one is left zero because the
/// kernel computes it (it covers a pseudo-header with the source address we may not know).
pub fn echo_request(v6: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    out.push(0);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(payload);
    if !v6 {
        let c = checksum(&out);
        out[2..4].copy_from_slice(&c.to_be_bytes());
    }
    out
}

/// An echo reply's identifier, sequence number and payload; `None` for anything else.
pub fn parse_echo_reply(v6: bool, msg: &[u8]) -> Option<(u16, u16, &[u8])> {
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if msg.len() < HEADER_LEN || msg[0] != want || msg[1] != 0 {
        return None;
    }
    let id = u16::from_be_bytes([msg[4], msg[5]]);
    let seq = u16::from_be_bytes([msg[6], msg[7]]);
    Some((id, seq, &msg[HEADER_LEN..]))
}

/// Raw IPv4 sockets deliver the IP header too; skip it (IHL words). IPv6 raw sockets and ping
/// sockets deliver the ICMP message alone.
pub fn strip_ipv4_header(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0F) * 4;
    if ihl < 20 {
        return None;
    }
    packet.get(ihl..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_construct_v4() {
        // `ping -c1 -p 00 -s 4`: id 0x1234, seq 1, payload 00 01 02 03.
        let m = echo_request(false, 0x1234, 1, &[0, 1, 2, 3]);
        assert_eq!(
            m,
            [0x08, 0x00, 0xE3, 0xC6, 0x12, 0x34, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03]
        );
        // A message with its checksum in place sums to zero.
        assert_eq!(checksum(&m), 0);
    }

    #[test]
    fn checksum_odd_length() {
        assert_eq!(checksum(&[0xFF]), !0xFF00);
    }

    #[test]
    fn test_parse_reply() {
        let mut m = echo_request(false, 7, 9, b"abc");
        m[0] = ECHO_REPLY_V4;
        assert_eq!(parse_echo_reply(false, &m), Some((7, 9, &b"abc"[..])));
        assert_eq!(parse_echo_reply(true, &m), None);
        // Our own request is not a reply.
        assert_eq!(
            parse_echo_reply(false, &echo_request(false, 7, 9, b"")),
            None
        );
        let mut m6 = echo_request(true, 1, 2, b"");
        m6[0] = ECHO_REPLY_V6;
        assert_eq!(parse_echo_reply(true, &m6), Some((1, 2, &b""[..])));
        assert_eq!(parse_echo_reply(true, &m6[..7]), None);
    }

    #[test]
    fn test_strip_ipv4() {
        let mut pkt = vec![0x45; 20];
        pkt.extend_from_slice(&[0, 0]);
        assert_eq!(strip_ipv4_header(&pkt), Some(&[0u8, 0][..]));
        assert_eq!(strip_ipv4_header(&[0x60, 0, 0]), None);
        assert_eq!(strip_ipv4_header(&[0x41]), None);
    }
}
