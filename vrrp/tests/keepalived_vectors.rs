//! Golden vectors: every VRRP frame keepalived 2.2.7 sent in the lab captures
//! (tests/data, copied from shared/vectors/vrrp) decodes, passes the checksum
//! in the keepalived form, re-encodes byte for byte, and is accepted by an
//! instance with the default configuration.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use vrrp::{
    AddressFamily, Advertisement, Centiseconds, ChecksumContext, ChecksumMode, Config, Instance,
    Packet, RxMeta, State,
};

/// One VRRP message cut out of an Ethernet frame.
#[derive(Debug, Clone)]
struct Frame {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    family: AddressFamily,
    vrrp: Vec<u8>,
}

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Splits an Ethernet frame into IP metadata and the VRRP payload; `None` for
/// the gratuitous ARP / NA frames the captures also hold.
fn parse_ethernet(frame: &[u8]) -> Option<Frame> {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[14..];
    match ethertype {
        0x0800 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            if ip[9] != 112 {
                return None;
            }
            Some(Frame {
                src: IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])),
                dst: IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
                ttl: ip[8],
                family: AddressFamily::Ipv4,
                vrrp: ip[ihl..total].to_vec(),
            })
        }
        0x86dd => {
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            if ip[6] != 112 {
                return None;
            }
            let addr = |b: &[u8]| {
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            Some(Frame {
                src: addr(&ip[8..24]),
                dst: addr(&ip[24..40]),
                ttl: ip[7],
                family: AddressFamily::Ipv6,
                vrrp: ip[40..40 + payload].to_vec(),
            })
        }
        _ => None,
    }
}

/// Reads a classic little-endian pcap with Ethernet link type.
fn read_pcap(name: &str) -> Vec<Frame> {
    let bytes = std::fs::read(data_path(name)).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "pcap magic");
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        1,
        "DLT_EN10MB"
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let data = &bytes[at + 16..at + 16 + incl];
        frames.extend(parse_ethernet(data));
        at += 16 + incl;
    }
    assert_eq!(at, bytes.len(), "{name}: trailing bytes");
    frames
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The frames of the text capture, with the fields tcpdump decoded.
struct TextVector {
    frame: Frame,
    vrid: u8,
    priority: u8,
    interval: u16,
    checksum: u16,
}

fn field<'a>(decoded: &'a str, key: &str) -> &'a str {
    decoded
        .split_whitespace()
        .find_map(|t| t.strip_prefix(key))
        .unwrap()
}

fn read_text_vectors() -> Vec<TextVector> {
    let text = std::fs::read_to_string(data_path("keepalived-2.2.7-vrrpv3.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with("flat hex") {
            continue;
        }
        let frame = parse_ethernet(&decode_hex(lines[i + 1].trim())).unwrap();
        let decoded = lines[i + 2];
        assert!(decoded.starts_with("decoded:"));
        let interval = field(decoded, "max_adver_int=");
        out.push(TextVector {
            frame,
            vrid: field(decoded, "vrid=").parse().unwrap(),
            priority: field(decoded, "prio=").parse().unwrap(),
            interval: interval.trim_end_matches("cs").parse().unwrap(),
            checksum: u16::from_str_radix(field(decoded, "cksum=0x"), 16).unwrap(),
        });
    }
    out
}

fn keepalived_ctx(frame: &Frame) -> ChecksumContext {
    ChecksumContext {
        src: frame.src,
        dst: frame.dst,
        mode: ChecksumMode::PseudoHeaderV4,
    }
}

/// Decode, verify, re-encode: the three properties every captured frame has.
fn round_trip(frame: &Frame) -> Advertisement {
    assert_eq!(frame.ttl, 255);
    let packet = Packet::new_checked(&frame.vrrp[..]).unwrap();
    assert!(packet.verify_checksum(&keepalived_ctx(frame)));
    if frame.family == AddressFamily::Ipv4 {
        // keepalived 2.2.7 defaults to the pseudo-header: the RFC 9568 form
        // must not verify, or the default choice would not matter.
        let rfc = ChecksumContext {
            mode: ChecksumMode::Rfc9568,
            ..keepalived_ctx(frame)
        };
        assert!(!packet.verify_checksum(&rfc));
    }
    let advert = Advertisement::parse(&packet, frame.family).unwrap();
    assert_eq!(advert.to_bytes(&keepalived_ctx(frame)), frame.vrrp);
    advert
}

#[test]
fn text_vectors_decode_and_reencode() {
    let vectors = read_text_vectors();
    assert_eq!(vectors.len(), 6, "vectors A-F");
    for v in &vectors {
        let advert = round_trip(&v.frame);
        assert_eq!(advert.vrid, v.vrid);
        assert_eq!(advert.priority, v.priority);
        assert_eq!(advert.max_adver_int, Centiseconds(v.interval));
        let packet = Packet::new_checked(&v.frame.vrrp[..]).unwrap();
        assert_eq!(packet.checksum(), v.checksum);
        assert_eq!(advert.addresses.len(), 1);
    }
}

#[test]
fn every_pcap_frame_round_trips() {
    let files = [
        ("ipv4_prio0_shutdown.pcap", 0, 100),
        ("ipv4_prio200_100cs.pcap", 200, 100),
        ("ipv4_prio200_10cs.pcap", 200, 10),
        ("ipv4_vmac.pcap", 200, 100),
        ("ipv6_prio200_100cs.pcap", 200, 100),
    ];
    let mut total = 0;
    for (name, priority, interval) in files {
        let frames = read_pcap(name);
        assert!(!frames.is_empty(), "{name}");
        for frame in &frames {
            let advert = round_trip(frame);
            total += 1;
            // The long captures include the other router's adverts after a
            // failover; every frame must still be a valid advert.
            if frames.len() == 1 {
                assert_eq!(advert.priority, priority, "{name}");
                assert_eq!(advert.max_adver_int, Centiseconds(interval), "{name}");
            }
        }
    }
    assert!(total >= 5);
}

/// A default-configured instance (pseudo-header checksum) accepts every
/// keepalived frame: no receive error is counted.
#[test]
fn default_instance_accepts_keepalived() {
    let t0 = Instant::now();
    let mut frames = read_pcap("ipv4_prio200_100cs.pcap");
    frames.extend(read_pcap("ipv4_prio0_shutdown.pcap"));
    frames.extend(read_pcap("ipv4_prio200_10cs.pcap"));
    let mut cfg = Config::new(
        51,
        "198.18.0.9".parse().unwrap(),
        vec!["198.18.0.100".parse().unwrap()],
    );
    cfg.priority = 50;
    let mut inst = Instance::new(cfg).unwrap();
    inst.handle_startup(t0);
    for (i, f) in frames.iter().enumerate() {
        let meta = RxMeta {
            src: f.src,
            dst: f.dst,
            ttl_or_hop_limit: f.ttl,
        };
        inst.handle_advertisement(t0 + Duration::from_millis(i as u64), meta, &f.vrrp);
    }
    let s = inst.statistics();
    assert_eq!(s.rcvd_advertisements, frames.len() as u64);
    assert_eq!(s.router.checksum_errors, 0);
    assert_eq!(s.packet_length_errors, 0);
    assert_eq!(s.address_list_errors, 0);
    // The long capture spans several keepalived restarts.
    assert!(s.rcvd_pri_zero_packets >= 1);
    assert_eq!(inst.state(), State::Backup);

    let v6 = read_pcap("ipv6_prio200_100cs.pcap");
    let cfg6 = Config::new(
        52,
        "fe80::9".parse().unwrap(),
        vec!["2001:db8:0:1::100".parse().unwrap()],
    );
    let mut inst6 = Instance::new(cfg6).unwrap();
    inst6.handle_startup(t0);
    for f in &v6 {
        let meta = RxMeta {
            src: f.src,
            dst: f.dst,
            ttl_or_hop_limit: f.ttl,
        };
        inst6.handle_advertisement(t0, meta, &f.vrrp);
    }
    assert_eq!(inst6.statistics().rcvd_advertisements, v6.len() as u64);
    assert_eq!(inst6.status().master_address, Some(v6[0].src));
}

/// With the RFC 9568 form configured, the same frames are checksum errors,
/// which is why the default is the pseudo-header.
#[test]
fn rfc9568_instance_rejects_keepalived_defaults() {
    let t0 = Instant::now();
    let frames = read_pcap("ipv4_prio200_10cs.pcap");
    let mut cfg = Config::new(
        51,
        "198.18.0.9".parse().unwrap(),
        vec!["198.18.0.100".parse().unwrap()],
    );
    cfg.checksum_mode = ChecksumMode::Rfc9568;
    let mut inst = Instance::new(cfg.clone()).unwrap();
    inst.handle_startup(t0);
    let f = &frames[0];
    let meta = RxMeta {
        src: f.src,
        dst: f.dst,
        ttl_or_hop_limit: f.ttl,
    };
    inst.handle_advertisement(t0, meta, &f.vrrp);
    assert_eq!(inst.statistics().router.checksum_errors, 1);
    assert_eq!(inst.statistics().rcvd_advertisements, 0);

    // accept_either_checksum eases a migration between the two forms.
    cfg.accept_either_checksum = true;
    let mut lenient = Instance::new(cfg).unwrap();
    lenient.handle_startup(t0);
    lenient.handle_advertisement(t0, meta, &f.vrrp);
    assert_eq!(lenient.statistics().rcvd_advertisements, 1);
}
