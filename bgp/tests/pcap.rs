//! Every BGP message in the raw captures (tests/data/*.pcap: BIRD 2.0.12
//! talking to BIRD, gobgpd, FRR and ExaBGP) is framed out of the
//! reassembled TCP streams, decoded and re-encoded byte-exactly.

use std::collections::HashMap;

use bgp::packet::framer::MessageReader;
use bgp::packet::{CodecContext, Message};

const CAPTURES: [(&str, &[u8]); 4] = [
    ("bird2", include_bytes!("data/bird2-router_vs_bird2.pcap")),
    ("exabgp", include_bytes!("data/bird2-router_vs_exabgp.pcap")),
    ("frr", include_bytes!("data/bird2-router_vs_frr-bgpd.pcap")),
    ("gobgpd", include_bytes!("data/bird2-router_vs_gobgpd.pcap")),
];

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// (flow key, TCP flags, seq, payload) of each TCP segment on port 179.
fn tcp_segments(pcap: &[u8]) -> Vec<(Vec<u8>, u8, u32, Vec<u8>)> {
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian classic pcap"
    );
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &pcap[off + 16..off + 16 + incl];
        off += 16 + incl;
        let (ethertype, mut l3) = (be16(&frame[12..14]), &frame[14..]);
        let (src, dst, l4) = match ethertype {
            0x0800 if l3[9] == 6 => {
                let ihl = (l3[0] & 0x0f) as usize * 4;
                let total = be16(&l3[2..4]) as usize;
                l3 = &l3[..total];
                (l3[12..16].to_vec(), l3[16..20].to_vec(), &l3[ihl..])
            }
            0x86dd if l3[6] == 6 => {
                let plen = be16(&l3[4..6]) as usize;
                (l3[8..24].to_vec(), l3[24..40].to_vec(), &l3[40..40 + plen])
            }
            _ => continue,
        };
        let (sport, dport) = (be16(&l4[0..2]), be16(&l4[2..4]));
        if sport != 179 && dport != 179 {
            continue;
        }
        let doff = (l4[12] >> 4) as usize * 4;
        let mut key = src;
        key.extend_from_slice(&sport.to_be_bytes());
        key.extend_from_slice(&dst);
        key.extend_from_slice(&dport.to_be_bytes());
        out.push((key, l4[13], be32(&l4[4..8]), l4[doff..].to_vec()));
    }
    out
}

#[derive(Default)]
struct Flow {
    next_seq: Option<u32>,
    reader: MessageReader,
}

#[test]
fn every_captured_message_round_trips() {
    let ctx = CodecContext {
        four_octet_as: true,
    };
    let mut grand_total = 0;
    for (name, pcap) in CAPTURES {
        let mut flows: HashMap<Vec<u8>, Flow> = HashMap::new();
        let mut by_type = [0usize; 6];
        for (key, tcp_flags, seq, payload) in tcp_segments(pcap) {
            let flow = flows.entry(key).or_default();
            if tcp_flags & 0x02 != 0 {
                // SYN: a new connection on this 4-tuple.
                *flow = Flow {
                    next_seq: Some(seq.wrapping_add(1)),
                    ..Default::default()
                };
                continue;
            }
            if payload.is_empty() {
                continue;
            }
            let next = *flow.next_seq.get_or_insert(seq);
            let ahead = seq.wrapping_sub(next) as i32;
            let fresh = if ahead == 0 {
                &payload[..]
            } else if ahead < 0 && (-ahead as usize) < payload.len() {
                &payload[-ahead as usize..]
            } else if ahead < 0 {
                continue; // pure retransmission
            } else {
                panic!("{name}: gap in the capture");
            };
            flow.next_seq = Some(next.wrapping_add(fresh.len() as u32));
            flow.reader.push(fresh);
            while let Some((t, raw)) = flow.reader.next_frame().unwrap() {
                let (msg, used) =
                    Message::decode(&raw, ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(used, raw.len());
                assert_eq!(msg.encode(ctx).unwrap(), raw, "{name}: {msg:?}");
                by_type[t as usize] += 1;
            }
        }
        eprintln!("{name}: messages by type {by_type:?}");
        let total: usize = by_type.iter().sum();
        assert!(
            by_type[1] >= 2 && by_type[2] >= 1 && by_type[4] >= 2,
            "{name}: {by_type:?}"
        );
        grand_total += total;
    }
    assert!(grand_total > 500, "{grand_total}");
}
