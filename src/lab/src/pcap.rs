//! Just enough of the pcap format to time VRRP failovers from a capture: the advertisements
//! and gratuitous ARPs seen on the bridge, with their kernel timestamps.

use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A VRRP advertisement (IPv4) from `src` with `priority`.
    Advert {
        src: Ipv4Addr,
        vrid: u8,
        priority: u8,
    },
    /// A gratuitous ARP for `ip` (sender IP = target IP) from `mac`.
    Garp { ip: Ipv4Addr, mac: [u8; 6] },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Seconds since the Unix epoch, microsecond resolution.
    pub t: f64,
    pub seen: Seen,
}

/// Parses a classic pcap file (Ethernet link type), keeping adverts and gratuitous ARPs.
pub fn read(bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    if bytes.len() < 24 {
        return out;
    }
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        _ => return out,
    };
    let u32_at = |b: &[u8]| {
        let a: [u8; 4] = b[..4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let sec = u32_at(&bytes[off..]) as f64;
        let frac = u32_at(&bytes[off + 4..]) as f64;
        let caplen = u32_at(&bytes[off + 8..]) as usize;
        let t = sec + frac / if nanos { 1e9 } else { 1e6 };
        off += 16;
        if off + caplen > bytes.len() {
            break;
        }
        if let Some(seen) = classify(&bytes[off..off + caplen]) {
            out.push(Frame { t, seen });
        }
        off += caplen;
    }
    out
}

fn classify(f: &[u8]) -> Option<Seen> {
    if f.len() < 14 {
        return None;
    }
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ethertype {
        0x0800 if p.len() >= 20 && p[9] == 112 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let v = p.get(ihl..)?;
            if v.len() < 3 {
                return None;
            }
            Some(Seen::Advert {
                src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
                vrid: v[1],
                priority: v[2],
            })
        }
        0x0806 if p.len() >= 28 => {
            let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let tpa = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            (spa == tpa).then(|| Seen::Garp {
                ip: spa,
                mac: p[8..14].try_into().unwrap(),
            })
        }
        _ => None,
    }
}

/// Failover time in milliseconds: from the old master's last advertisement to the new
/// master's first gratuitous ARP for `vip` after it. `None` if either is missing.
pub fn failover_ms(
    frames: &[Frame],
    old_master: Ipv4Addr,
    new_mac: [u8; 6],
    vip: Ipv4Addr,
) -> Option<f64> {
    let first_garp = frames
        .iter()
        .find(|f| matches!(&f.seen, Seen::Garp { ip, mac } if *ip == vip && *mac == new_mac))?;
    let last_advert = frames
        .iter()
        .filter(|f| f.t <= first_garp.t)
        .rfind(|f| matches!(&f.seen, Seen::Advert { src, .. } if *src == old_master))?;
    Some((first_garp.t - last_advert.t) * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t_us: u64, frame: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&((t_us / 1_000_000) as u32).to_le_bytes());
        r.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        r.extend_from_slice(frame);
        r
    }

    #[test]
    fn times_a_failover() {
        // keepalived's frame A from the shared vectors: 198.18.0.1, VRID 51, priority 200.
        let advert = hex("01005e000012be97c7e710b1080045c0002000010000ff701487c6120001e00000123133c8010064994dc6120064");
        let mut garp = vec![0xff; 6];
        garp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        garp.extend_from_slice(&[
            2, 0, 0, 0, 0, 2, 198, 18, 0, 100, 0, 0, 0, 0, 0, 0, 198, 18, 0, 100,
        ]);
        let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&65535u32.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend(record(1_000_000, &advert));
        file.extend(record(1_100_000, &advert));
        file.extend(record(1_461_000, &garp));
        let frames = read(&file);
        assert_eq!(frames.len(), 3);
        let ms = failover_ms(
            &frames,
            Ipv4Addr::new(198, 18, 0, 1),
            [2, 0, 0, 0, 0, 2],
            Ipv4Addr::new(198, 18, 0, 100),
        )
        .unwrap();
        assert!((ms - 361.0).abs() < 0.001, "{ms}");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
