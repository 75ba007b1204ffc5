//! Every header view and `Repr` of the wire module on arbitrary bytes: no panic in a checked
//! view's accessors, and where a header parses, parse → emit → parse gives the same `Repr`.
#![no_main]

use dataplane::wire::{
    EthernetFrame, EthernetRepr, GrePacket, GreRepr, IcmpPacket, IcmpRepr, Icmpv6Packet,
    Icmpv6Repr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpRepr, TcpSegment, UdpDatagram,
    UdpRepr,
};
use libfuzzer_sys::fuzz_target;

/// Emits `r` into a buffer of `len` bytes, views it again and parses it.
macro_rules! round_trip {
    ($repr:ident, $view:ident, $r:expr, $len:expr) => {{
        let r = $r;
        let mut b = vec![0u8; $len];
        r.emit(&mut b);
        let again = $repr::parse(&$view::new_checked(&b[..]).expect("emitted header parses"));
        assert_eq!(again, r, "{} round trip", stringify!($repr));
    }};
}

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = EthernetFrame::new_checked(data) {
        let r = EthernetRepr::parse(&f);
        let _ = f.payload();
        round_trip!(EthernetRepr, EthernetFrame, r, r.buffer_len());
    }
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let r = Ipv4Repr::parse(&p);
        let _ = (p.verify_checksum(), p.payload(), p.rest(), p.is_fragment());
        round_trip!(Ipv4Repr, Ipv4Packet, r, r.buffer_len() + r.payload_len);
    }
    if let Ok(p) = Ipv4Packet::new_quoted(data) {
        let _ = (p.header_len(), p.total_len(), p.rest(), p.verify_checksum());
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let r = Ipv6Repr::parse(&p);
        let _ = p.payload();
        round_trip!(Ipv6Repr, Ipv6Packet, r, r.buffer_len() + r.payload_len);
    }
    if let Ok(t) = TcpSegment::new_checked(data) {
        let r = TcpRepr::parse(&t);
        let _ = (t.payload(), t.options());
        round_trip!(TcpRepr, TcpSegment, r, r.buffer_len());
    }
    if let Ok(u) = UdpDatagram::new_checked(data) {
        let r = UdpRepr::parse(&u);
        let _ = u.payload();
        round_trip!(UdpRepr, UdpDatagram, r, r.buffer_len() + r.payload_len);
    }
    if let Ok(m) = IcmpPacket::new_checked(data) {
        let r = IcmpRepr::parse(&m);
        let _ = (m.verify_checksum(), m.is_error(), m.quoted());
        round_trip!(IcmpRepr, IcmpPacket, r, r.buffer_len());
    }
    if let Ok(m) = Icmpv6Packet::new_checked(data) {
        let r = Icmpv6Repr::parse(&m);
        round_trip!(Icmpv6Repr, Icmpv6Packet, r, r.buffer_len());
    }
    if let Ok(g) = GrePacket::new_checked(data) {
        let r = GreRepr::parse(&g);
        let _ = g.payload();
        round_trip!(GreRepr, GrePacket, r, r.buffer_len());
    }
});
