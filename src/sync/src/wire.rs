//! The datagram codec: header, records, HMAC-SHA256 trailer (layout in the crate docs).
//! Decoding checks, in order: length, magic, version, length field, HMAC, then the body, so
//! nothing but the header is ever parsed from bytes the key did not sign.

use std::net::Ipv4Addr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::record::*;

pub const MAGIC: [u8; 4] = *b"ASYN";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 52;
pub const MAC_LEN: usize = 16;
/// Type, length.
pub const RECORD_HEADER_LEN: usize = 3;
/// The address family byte of every record with addresses; IPv6 (6) is reserved for later.
pub const AF_INET: u8 = 4;
/// Acks cover the cumulative sequence number plus this many after it (one bit each).
pub const SACK_BITS: u32 = 64;

/// Message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// Carries state records under a sequence number: acked, resent, delivered in order once.
    Data = 1,
    /// Acks and hellos: never acked nor resent; its sequence number is a separate counter
    /// that only has to grow (replay protection).
    Control = 2,
}

/// Header flag: the sender wants an ack at once (set on retransmissions).
pub const FLAG_ACK_NOW: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub msg_type: MsgType,
    pub flags: u8,
    pub node_id: u64,
    pub epoch: u64,
    pub seq: u32,
    /// The receiver's epoch as the sender knows it (0: not heard yet); the acks below, and
    /// a Data datagram's whole stream, belong to that epoch.
    pub peer_epoch: u64,
    /// Every sequence number of the peer's up to this one arrived (0: none).
    pub cum_ack: u32,
    /// Bit `i`: `cum_ack + 2 + i` arrived too.
    pub sack: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Datagram {
    pub header: Header,
    pub records: Vec<Record>,
}

/// Why bytes are not a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: {0} bytes")]
    Truncated(usize),
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    #[error("length field {declared} but {actual} bytes")]
    BadLength { declared: usize, actual: usize },
    #[error("bad HMAC")]
    BadHmac,
    #[error("unknown message type {0}")]
    UnknownMessageType(u8),
    #[error("nonzero reserved field")]
    Reserved,
    #[error("unknown record type {0}")]
    UnknownRecordType(u8),
    #[error("record type {code} with bad length {len}")]
    BadRecordLength { code: u8, len: usize },
    #[error("record count {declared} but {actual} records")]
    BadRecordCount { declared: usize, actual: usize },
    #[error("unsupported address family {0}")]
    UnsupportedAddressFamily(u8),
    #[error("bad value in record type {0}")]
    BadValue(u8),
}

/// HMAC-SHA256 keyed once; cloned per datagram.
#[derive(Clone)]
pub struct Key(Hmac<Sha256>);

impl Key {
    pub fn new(secret: &[u8]) -> Key {
        // HMAC takes a key of any length.
        Key(Hmac::new_from_slice(secret).expect("HMAC accepts any key length"))
    }

    /// The truncated tag of `bytes`.
    pub fn sign(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let mut m = self.0.clone();
        m.update(bytes);
        let full = m.finalize().into_bytes();
        let mut t = [0; MAC_LEN];
        t.copy_from_slice(&full[..MAC_LEN]);
        t
    }

    fn verify(&self, bytes: &[u8], tag: &[u8]) -> bool {
        let mut m = self.0.clone();
        m.update(bytes);
        // Constant time, on the truncated tag.
        m.verify_truncated_left(tag).is_ok()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The encoded size of a record, its 3-byte type-length header included.
pub fn record_len(r: &Record) -> usize {
    RECORD_HEADER_LEN
        + match r {
            Record::FlowUpsert(_) => FLOW_LEN,
            Record::FlowRefresh(_) => FLOW_REFRESH_LEN,
            Record::FlowRemoved(_) => FLOW_KEY_LEN,
            Record::SnatMapping(_) => SNAT_MAPPING_LEN,
            Record::SnatMappingRemoved(_) => INSIDE_LEN,
            Record::FullNatPort(_) => FULLNAT_PORT_LEN,
            Record::BulkRequest(_) => BULK_REQUEST_LEN,
            Record::BulkPage(_) => BULK_PAGE_LEN,
            Record::Hello(h) => HELLO_FIXED_LEN + POOL_LEN * h.settings.pools.len(),
        }
}

const FLOW_KEY_LEN: usize = 16;
const FLOW_LEN: usize = FLOW_KEY_LEN + 5 + 12 + 4;
const FLOW_REFRESH_LEN: usize = FLOW_KEY_LEN + 3 + 4;
const INSIDE_LEN: usize = 10;
const SNAT_MAPPING_LEN: usize = INSIDE_LEN + 7;
const FULLNAT_PORT_LEN: usize = 15;
const BULK_REQUEST_LEN: usize = 8;
const BULK_PAGE_LEN: usize = 21;
const HELLO_FIXED_LEN: usize = 8 + 2 + 8 + 1;
const POOL_LEN: usize = 9;
/// Pools in one hello (its count is a byte).
pub const MAX_POOLS: usize = 255;

impl Datagram {
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.records.iter().map(record_len).sum::<usize>() + MAC_LEN
    }

    /// Encodes and signs. Panics only on a datagram no encoder should build: more than
    /// 65,535 bytes or records, or a hello with more than [`MAX_POOLS`] pools.
    pub fn encode(&self, key: &Key) -> Vec<u8> {
        let len = self.encoded_len();
        let count = u16::try_from(self.records.len()).expect("record count fits 16 bits");
        let len16 = u16::try_from(len).expect("datagram fits 65,535 bytes");
        let mut b = Vec::with_capacity(len);
        let h = &self.header;
        b.extend_from_slice(&MAGIC);
        b.push(VERSION);
        b.push(h.msg_type as u8);
        b.push(h.flags);
        b.push(0);
        b.extend_from_slice(&h.node_id.to_be_bytes());
        b.extend_from_slice(&h.epoch.to_be_bytes());
        b.extend_from_slice(&h.seq.to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&len16.to_be_bytes());
        b.extend_from_slice(&h.peer_epoch.to_be_bytes());
        b.extend_from_slice(&h.cum_ack.to_be_bytes());
        b.extend_from_slice(&h.sack.to_be_bytes());
        debug_assert_eq!(b.len(), HEADER_LEN);
        for r in &self.records {
            encode_record(r, &mut b);
        }
        let tag = key.sign(&b);
        b.extend_from_slice(&tag);
        debug_assert_eq!(b.len(), len);
        b
    }

    /// Decodes and authenticates untrusted bytes; never panics.
    pub fn decode(bytes: &[u8], key: &Key) -> Result<Datagram, DecodeError> {
        if bytes.len() < HEADER_LEN + MAC_LEN {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        if bytes[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[4]));
        }
        let declared = usize::from(u16::from_be_bytes([bytes[30], bytes[31]]));
        if declared != bytes.len() {
            return Err(DecodeError::BadLength {
                declared,
                actual: bytes.len(),
            });
        }
        let (signed, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        if !key.verify(signed, tag) {
            return Err(DecodeError::BadHmac);
        }
        let mut r = Reader(signed);
        r.take(5)?;
        let msg_type = match r.u8()? {
            1 => MsgType::Data,
            2 => MsgType::Control,
            t => return Err(DecodeError::UnknownMessageType(t)),
        };
        let flags = r.u8()?;
        if r.u8()? != 0 {
            return Err(DecodeError::Reserved);
        }
        let node_id = r.u64()?;
        let epoch = r.u64()?;
        let seq = r.u32()?;
        let count = usize::from(r.u16()?);
        r.u16()?;
        let header = Header {
            msg_type,
            flags,
            node_id,
            epoch,
            seq,
            peer_epoch: r.u64()?,
            cum_ack: r.u32()?,
            sack: r.u64()?,
        };
        // Every record takes at least its 3-byte header, so `count` cannot ask for more.
        let mut records = Vec::with_capacity(count.min(r.0.len() / RECORD_HEADER_LEN));
        while !r.0.is_empty() {
            records.push(decode_record(&mut r)?);
        }
        if records.len() != count {
            return Err(DecodeError::BadRecordCount {
                declared: count,
                actual: records.len(),
            });
        }
        Ok(Datagram { header, records })
    }
}

/// The sender of a datagram, read without authenticating it: for choosing the peer whose key
/// and state decode it. Trust nothing from it before `Datagram::decode` succeeds.
pub fn peek_sender(bytes: &[u8]) -> Option<(u64, u64)> {
    let id = bytes.get(8..16)?.try_into().ok()?;
    let epoch = bytes.get(16..24)?.try_into().ok()?;
    Some((u64::from_be_bytes(id), u64::from_be_bytes(epoch)))
}

fn put_v4(b: &mut Vec<u8>, a: Ipv4Addr) {
    b.extend_from_slice(&a.octets());
}

fn put_key(b: &mut Vec<u8>, k: &FlowKey) {
    b.push(AF_INET);
    b.push(k.proto);
    b.extend_from_slice(&k.zone.to_be_bytes());
    put_v4(b, k.client);
    b.extend_from_slice(&k.client_port.to_be_bytes());
    put_v4(b, k.vip);
    b.extend_from_slice(&k.vip_port.to_be_bytes());
}

fn put_inside(b: &mut Vec<u8>, i: &Inside) {
    b.push(AF_INET);
    b.push(i.proto);
    b.extend_from_slice(&i.zone.to_be_bytes());
    put_v4(b, i.addr);
    b.extend_from_slice(&i.port.to_be_bytes());
}

fn encode_record(r: &Record, b: &mut Vec<u8>) {
    b.push(r.code());
    let body = u16::try_from(record_len(r) - RECORD_HEADER_LEN).expect("record fits");
    b.extend_from_slice(&body.to_be_bytes());
    let start = b.len();
    match r {
        Record::FlowUpsert(f) => {
            put_key(b, &f.key);
            b.extend_from_slice(&[f.kind as u8, f.state, f.class, f.fins, f.profile]);
            put_v4(b, f.backend);
            b.extend_from_slice(&f.backend_port.to_be_bytes());
            put_v4(b, f.local);
            b.extend_from_slice(&f.local_port.to_be_bytes());
            b.extend_from_slice(&f.remaining_ms.to_be_bytes());
        }
        Record::FlowRefresh(f) => {
            put_key(b, &f.key);
            b.extend_from_slice(&[f.state, f.class, f.fins]);
            b.extend_from_slice(&f.remaining_ms.to_be_bytes());
        }
        Record::FlowRemoved(k) => put_key(b, k),
        Record::SnatMapping(m) => {
            put_inside(b, &m.inside);
            put_v4(b, m.external);
            b.extend_from_slice(&m.external_port.to_be_bytes());
            b.push(m.pool);
        }
        Record::SnatMappingRemoved(i) => put_inside(b, i),
        Record::FullNatPort(p) => {
            b.push(AF_INET);
            b.push(p.proto);
            put_v4(b, p.local);
            b.extend_from_slice(&p.local_port.to_be_bytes());
            put_v4(b, p.backend);
            b.extend_from_slice(&p.backend_port.to_be_bytes());
            b.push(u8::from(p.held));
        }
        Record::BulkRequest(q) => b.extend_from_slice(&q.cursor.to_be_bytes()),
        Record::BulkPage(p) => {
            b.extend_from_slice(&p.cursor.to_be_bytes());
            b.extend_from_slice(&p.total.to_be_bytes());
            b.extend_from_slice(&p.entries.to_be_bytes());
            b.push(u8::from(p.last));
        }
        Record::Hello(h) => {
            b.extend_from_slice(&h.table_size.to_be_bytes());
            b.extend_from_slice(&h.settings.workers.to_be_bytes());
            b.extend_from_slice(&h.settings.config_digest.to_be_bytes());
            b.push(u8::try_from(h.settings.pools.len()).expect("at most 255 pools"));
            for p in &h.settings.pools {
                b.push(AF_INET);
                put_v4(b, p.addr);
                b.extend_from_slice(&p.port_lo.to_be_bytes());
                b.extend_from_slice(&p.port_hi.to_be_bytes());
            }
        }
    }
    debug_assert_eq!(b.len() - start, usize::from(body));
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(self.0.len()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn v4(&mut self) -> Result<Ipv4Addr, DecodeError> {
        Ok(Ipv4Addr::from(self.u32()?))
    }
    fn af(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            AF_INET => Ok(()),
            af => Err(DecodeError::UnsupportedAddressFamily(af)),
        }
    }
    fn flag(&mut self, code: u8) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadValue(code)),
        }
    }
    fn key(&mut self) -> Result<FlowKey, DecodeError> {
        self.af()?;
        let proto = self.u8()?;
        let zone = self.u16()?;
        Ok(FlowKey {
            zone,
            proto,
            client: self.v4()?,
            client_port: self.u16()?,
            vip: self.v4()?,
            vip_port: self.u16()?,
        })
    }
    fn inside(&mut self) -> Result<Inside, DecodeError> {
        self.af()?;
        let proto = self.u8()?;
        let zone = self.u16()?;
        Ok(Inside {
            zone,
            proto,
            addr: self.v4()?,
            port: self.u16()?,
        })
    }
}

fn decode_record(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let code = r.u8()?;
    let len = usize::from(r.u16()?);
    let fixed = match code {
        code::FLOW_UPSERT => Some(FLOW_LEN),
        code::FLOW_REFRESH => Some(FLOW_REFRESH_LEN),
        code::FLOW_REMOVED => Some(FLOW_KEY_LEN),
        code::SNAT_MAPPING => Some(SNAT_MAPPING_LEN),
        code::SNAT_MAPPING_REMOVED => Some(INSIDE_LEN),
        code::FULLNAT_PORT => Some(FULLNAT_PORT_LEN),
        code::BULK_REQUEST => Some(BULK_REQUEST_LEN),
        code::BULK_PAGE => Some(BULK_PAGE_LEN),
        code::HELLO => None,
        c => return Err(DecodeError::UnknownRecordType(c)),
    };
    let bad_len = DecodeError::BadRecordLength { code, len };
    if fixed.is_some_and(|f| f != len) || r.0.len() < len {
        return Err(bad_len);
    }
    let mut b = Reader(r.take(len)?);
    let rec = match code {
        code::FLOW_UPSERT => {
            let key = b.key()?;
            let kind = Kind::from_u8(b.u8()?).ok_or(DecodeError::BadValue(code))?;
            Record::FlowUpsert(Flow {
                key,
                kind,
                state: b.u8()?,
                class: b.u8()?,
                fins: b.u8()?,
                profile: b.u8()?,
                backend: b.v4()?,
                backend_port: b.u16()?,
                local: b.v4()?,
                local_port: b.u16()?,
                remaining_ms: b.u32()?,
            })
        }
        code::FLOW_REFRESH => Record::FlowRefresh(FlowRefresh {
            key: b.key()?,
            state: b.u8()?,
            class: b.u8()?,
            fins: b.u8()?,
            remaining_ms: b.u32()?,
        }),
        code::FLOW_REMOVED => Record::FlowRemoved(b.key()?),
        code::SNAT_MAPPING => Record::SnatMapping(SnatMapping {
            inside: b.inside()?,
            external: b.v4()?,
            external_port: b.u16()?,
            pool: b.u8()?,
        }),
        code::SNAT_MAPPING_REMOVED => Record::SnatMappingRemoved(b.inside()?),
        code::FULLNAT_PORT => {
            b.af()?;
            Record::FullNatPort(FullNatPort {
                proto: b.u8()?,
                local: b.v4()?,
                local_port: b.u16()?,
                backend: b.v4()?,
                backend_port: b.u16()?,
                held: b.flag(code)?,
            })
        }
        code::BULK_REQUEST => Record::BulkRequest(BulkRequest { cursor: b.u64()? }),
        code::BULK_PAGE => Record::BulkPage(BulkPage {
            cursor: b.u64()?,
            total: b.u64()?,
            entries: b.u32()?,
            last: b.flag(code)?,
        }),
        _ => {
            if len < HELLO_FIXED_LEN {
                return Err(bad_len);
            }
            let table_size = b.u64()?;
            let workers = b.u16()?;
            let config_digest = b.u64()?;
            let n = usize::from(b.u8()?);
            if len != HELLO_FIXED_LEN + n * POOL_LEN {
                return Err(bad_len);
            }
            let mut pools = Vec::with_capacity(n);
            for _ in 0..n {
                b.af()?;
                pools.push(PoolRange {
                    addr: b.v4()?,
                    port_lo: b.u16()?,
                    port_hi: b.u16()?,
                });
            }
            Record::Hello(Hello {
                table_size,
                settings: Settings {
                    workers,
                    pools,
                    config_digest,
                },
            })
        }
    };
    Ok(rec)
}
