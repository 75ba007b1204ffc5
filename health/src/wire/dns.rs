//! Just enough DNS (RFC 1035) for a health probe: build one query, parse the reply's header,
//! question and A/AAAA answers. Everything else is skipped by its RDLENGTH.
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                    QDCOUNT                    |
//! |                    ANCOUNT                    |
//! |                    NSCOUNT                    |
//! |                    ARCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

pub const HEADER_LEN: usize = 12;
const CLASS_IN: u16 = 1;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;

/// A query type. Unknown numeric types are kept as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QType(pub u16);

impl QType {
    pub const A: QType = QType(1);
    pub const NS: QType = QType(2);
    pub const CNAME: QType = QType(5);
    pub const SOA: QType = QType(6);
    pub const MX: QType = QType(15);
    pub const TXT: QType = QType(16);
    pub const AAAA: QType = QType(28);

    const NAMES: [(&'static str, QType); 7] = [
        ("A", QType::A),
        ("NS", QType::NS),
        ("CNAME", QType::CNAME),
        ("SOA", QType::SOA),
        ("MX", QType::MX),
        ("TXT", QType::TXT),
        ("AAAA", QType::AAAA),
    ];
}

impl FromStr for QType {
    type Err = String;

    /// `"A"`, `"aaaa"`, ... or RFC 3597 `"TYPE65"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, t)) = Self::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(*t);
        }
        s.to_ascii_uppercase()
            .strip_prefix("TYPE")
            .and_then(|n| n.parse().ok())
            .map(QType)
            .ok_or_else(|| format!("unknown DNS type {s:?}"))
    }
}

impl fmt::Display for QType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::NAMES.iter().find(|(_, t)| t == self) {
            Some((n, _)) => f.write_str(n),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// A response code (4 bits in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rcode(pub u8);

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);
    pub const FORMERR: Rcode = Rcode(1);
    pub const SERVFAIL: Rcode = Rcode(2);
    pub const NXDOMAIN: Rcode = Rcode(3);
    pub const NOTIMP: Rcode = Rcode(4);
    pub const REFUSED: Rcode = Rcode(5);

    const NAMES: [(&'static str, Rcode); 6] = [
        ("NOERROR", Rcode::NOERROR),
        ("FORMERR", Rcode::FORMERR),
        ("SERVFAIL", Rcode::SERVFAIL),
        ("NXDOMAIN", Rcode::NXDOMAIN),
        ("NOTIMP", Rcode::NOTIMP),
        ("REFUSED", Rcode::REFUSED),
    ];
}

impl FromStr for Rcode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, r)| *r)
            .or_else(|| s.parse::<u8>().ok().filter(|v| *v < 16).map(Rcode))
            .ok_or_else(|| format!("unknown DNS rcode {s:?}"))
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::NAMES.iter().find(|(_, r)| r == self) {
            Some((n, _)) => f.write_str(n),
            None => write!(f, "RCODE{}", self.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated message")]
    Truncated,
    #[error("bad name compression pointer")]
    BadPointer,
    #[error("label too long")]
    BadLabel,
}

/// Check a name before putting it in a query: labels of 1..=63 bytes, at most 253 in all.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Ok(()); // the root
    }
    if name.len() > 253 {
        return Err("longer than 253 bytes");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("label longer than 63 bytes");
        }
    }
    Ok(())
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name.is_empty() {
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
}

/// Build a one-question query. `name` must have passed [`validate_name`].
pub fn encode_query(id: u16, name: &str, qtype: QType, recursion_desired: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    out.extend_from_slice(&id.to_be_bytes());
    let flags = if recursion_desired { FLAG_RD } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out.extend_from_slice(&[0; 6]); // AN/NS/AR counts
    encode_name(name, &mut out);
    out.extend_from_slice(&qtype.0.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Other(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub rtype: QType,
    pub data: RData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub is_response: bool,
    pub truncated: bool,
    pub rcode: Rcode,
    /// The first question (name, type), if the reply echoes one.
    pub question: Option<(String, QType)>,
    pub answers: Vec<Answer>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self
            .buf
            .get(self.pos..self.pos + 2)
            .ok_or(DecodeError::Truncated)?;
        self.pos += 2;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let b = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(DecodeError::Truncated)?;
        self.pos += n;
        Ok(b)
    }

    /// Read a possibly compressed name, lower-cased, without the trailing dot.
    fn name(&mut self) -> Result<String, DecodeError> {
        let mut labels: Vec<String> = Vec::new();
        let mut pos = self.pos;
        let mut jumped = false;
        // Each pointer must go strictly backwards, which bounds the loop and rejects cycles.
        let mut limit = pos;
        loop {
            let len = *self.buf.get(pos).ok_or(DecodeError::Truncated)?;
            match len & 0xC0 {
                0x00 => {
                    let len = usize::from(len);
                    if len == 0 {
                        if !jumped {
                            self.pos = pos + 1;
                        }
                        break;
                    }
                    let label = self
                        .buf
                        .get(pos + 1..pos + 1 + len)
                        .ok_or(DecodeError::Truncated)?;
                    labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                    pos += 1 + len;
                }
                0xC0 => {
                    let lo = *self.buf.get(pos + 1).ok_or(DecodeError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, lo]));
                    if target >= limit {
                        return Err(DecodeError::BadPointer);
                    }
                    if !jumped {
                        self.pos = pos + 2;
                        jumped = true;
                    }
                    limit = target;
                    pos = target;
                }
                _ => return Err(DecodeError::BadLabel),
            }
        }
        Ok(labels.join("."))
    }
}

/// Parse a reply. Records beyond the answer section are not read.
pub fn parse_response(buf: &[u8]) -> Result<Response, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let qdcount = r.u16()?;
    let ancount = r.u16()?;
    r.bytes(4)?; // NSCOUNT, ARCOUNT
    let mut question = None;
    for i in 0..qdcount {
        let name = r.name()?;
        let qtype = QType(r.u16()?);
        r.u16()?; // class
        if i == 0 {
            question = Some((name, qtype));
        }
    }
    let mut answers = Vec::new();
    for _ in 0..ancount {
        let name = r.name()?;
        let rtype = QType(r.u16()?);
        r.u16()?; // class
        r.bytes(4)?; // TTL
        let rdlen = usize::from(r.u16()?);
        let rdata = r.bytes(rdlen)?;
        let data = match (rtype, rdlen) {
            (QType::A, 4) => RData::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
            (QType::AAAA, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                RData::Aaaa(Ipv6Addr::from(a))
            }
            _ => RData::Other(rtype.0),
        };
        answers.push(Answer { name, rtype, data });
    }
    Ok(Response {
        id,
        is_response: flags & FLAG_QR != 0,
        truncated: flags & FLAG_TC != 0,
        rcode: Rcode((flags & 0x000F) as u8),
        question,
        answers,
    })
}

/// Build a reply to `query` (test servers use this): same id and question, the given rcode,
/// and one record per address, each naming the question through a compression pointer.
pub fn encode_reply(query: &[u8], rcode: Rcode, addrs: &[std::net::IpAddr]) -> Option<Vec<u8>> {
    let mut r = Reader { buf: query, pos: 0 };
    let id = r.u16().ok()?;
    let qflags = r.u16().ok()?;
    r.bytes(8).ok()?;
    r.name().ok()?;
    r.bytes(4).ok()?;
    let question = &query[HEADER_LEN..r.pos];
    // The reply copies the question: a compression pointer in it would point into the
    // query's header, which the reply's header replaces. No resolver compresses a question.
    if !uncompressed(question) {
        return None;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    let flags = FLAG_QR | (qflags & FLAG_RD) | 0x0080 /* RA */ | u16::from(rcode.0 & 0x0F);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(question);
    for addr in addrs {
        out.extend_from_slice(&[0xC0, HEADER_LEN as u8]); // pointer to the question name
        let (t, data): (QType, Vec<u8>) = match addr {
            std::net::IpAddr::V4(a) => (QType::A, a.octets().to_vec()),
            std::net::IpAddr::V6(a) => (QType::AAAA, a.octets().to_vec()),
        };
        out.extend_from_slice(&t.0.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

/// Whether the name at the start of `question` (already read without error) is made of
/// labels alone.
fn uncompressed(question: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(&len) = question.get(pos) {
        if len == 0 {
            return true;
        }
        if len & 0xC0 != 0 {
            return false;
        }
        pos += 1 + usize::from(len);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `dig +noedns www.example.com A` as sent on the wire (id 0x1234, RD).
    const QUERY: [u8; 33] = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, b'w', b'w',
        b'w', 0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, 0x00,
        0x01, 0x00, 0x01,
    ];

    #[test]
    fn test_construct_query() {
        assert_eq!(
            encode_query(0x1234, "www.example.com", QType::A, true),
            QUERY
        );
        assert_eq!(
            encode_query(0x1234, "www.example.com.", QType::A, true),
            QUERY
        );
    }

    /// Found by the `dns_response` fuzz target: a question whose name points into the
    /// header was copied into a reply whose header differs, and the reply did not parse.
    #[test]
    fn no_reply_to_a_compressed_question() {
        // Id 0x0100 and flags 0x0100 (RD) read as two one-octet labels and the root when a
        // pointer leads to offset 0; a reply's flags (0x81..) do not.
        let mut q = vec![0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&[0x01, b'a', 0xC0, 0x00, 0x00, 0x01, 0x00, 0x01]);
        assert!(parse_response(&q).is_ok(), "the query itself parses");
        assert_eq!(encode_reply(&q, Rcode::NOERROR, &[]), None);
    }

    #[test]
    fn test_parse_reply_with_compression() {
        let addr: std::net::IpAddr = "198.18.0.10".parse().unwrap();
        let reply = encode_reply(&QUERY, Rcode::NOERROR, &[addr]).unwrap();
        let r = parse_response(&reply).unwrap();
        assert_eq!(r.id, 0x1234);
        assert!(r.is_response);
        assert_eq!(r.rcode, Rcode::NOERROR);
        assert_eq!(r.question, Some(("www.example.com".into(), QType::A)));
        assert_eq!(
            r.answers,
            vec![Answer {
                name: "www.example.com".into(),
                rtype: QType::A,
                data: RData::A("198.18.0.10".parse().unwrap()),
            }]
        );
    }

    #[test]
    fn test_parse_servfail() {
        let reply = encode_reply(&QUERY, Rcode::SERVFAIL, &[]).unwrap();
        let r = parse_response(&reply).unwrap();
        assert_eq!(r.rcode, Rcode::SERVFAIL);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn pointer_loop_is_rejected() {
        let mut msg = QUERY[..12].to_vec();
        msg[5] = 1; // QDCOUNT 1
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]); // points at itself
        assert_eq!(parse_response(&msg), Err(DecodeError::BadPointer));
    }

    #[test]
    fn names_and_codes() {
        assert_eq!("aaaa".parse::<QType>().unwrap(), QType::AAAA);
        assert_eq!("TYPE65".parse::<QType>().unwrap(), QType(65));
        assert_eq!(QType(65).to_string(), "TYPE65");
        assert_eq!("servfail".parse::<Rcode>().unwrap(), Rcode::SERVFAIL);
        assert_eq!(Rcode::NXDOMAIN.to_string(), "NXDOMAIN");
        assert!(validate_name("a..b").is_err());
        assert!(validate_name(&"x".repeat(64)).is_err());
        assert!(validate_name("example.com.").is_ok());
        assert!(validate_name(".").is_ok());
    }

    proptest! {
        #[test]
        fn every_truncation_is_an_error(cut in 0usize..45) {
            let addr: std::net::IpAddr = "198.18.0.10".parse().unwrap();
            let reply = encode_reply(&QUERY, Rcode::NOERROR, &[addr]).unwrap();
            prop_assume!(cut < reply.len());
            prop_assert!(parse_response(&reply[..cut]).is_err());
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_response(&bytes);
        }

        #[test]
        fn query_round_trip(labels in proptest::collection::vec("[a-z0-9-]{1,20}", 1..5), id in any::<u16>()) {
            let name = labels.join(".");
            let q = encode_query(id, &name, QType::AAAA, false);
            let r = parse_response(&q).unwrap();
            prop_assert_eq!(r.id, id);
            prop_assert!(!r.is_response);
            prop_assert_eq!(r.question, Some((name, QType::AAAA)));
        }
    }
}
