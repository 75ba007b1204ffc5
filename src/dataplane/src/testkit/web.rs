//! The in-memory benchmarks' web service and its clients: TCP to [`VIP`]`:80` over
//! [`BACKENDS`] backends on port 8080, clients across 198.19.0.0/16 sending 60-byte frames.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::frames;
use crate::snapshot::ServiceSpec;
use crate::wire::MacAddr;

use super::{l2, mac, web_service};

/// The web service's address (TCP port 80).
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
/// How many backends the web service has: [`backend`]`(0)` to `backend(BACKENDS - 1)`.
pub const BACKENDS: u8 = 10;
/// A client's frame: the 60-byte minimum (a TCP segment without payload, padded).
pub const FRAME: usize = 60;

/// Backend `i`: 198.18.2.(1 + i).
pub fn backend(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 2, 1 + i)
}

/// The web service over every backend (port 8080); FullNAT from `pool` if given.
pub fn service(pool: Option<u16>) -> ServiceSpec {
    let backends = (0..BACKENDS)
        .map(|i| super::backend(backend(i), 8080, true))
        .collect();
    web_service(VIP, backends, pool)
}

/// The backends' neighbour entries: backend `i` has MAC `…:b<i>`.
pub fn backend_neighbours() -> impl Iterator<Item = (Ipv4Addr, MacAddr)> {
    (0..BACKENDS).map(|i| (backend(i), mac(0xb0 + i)))
}

/// Client `i`: addresses across 198.19.0.0/16, ports above 1024.
pub fn client(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8),
        1024 + (i >> 16) as u16,
    )
}

/// Client `i`'s segment to the VIP with TCP `flags`, from the router (`…:fe`) to interface 0.
pub fn client_frame(i: u32, flags: u8) -> [u8; FRAME] {
    to_frame(frames::ethernet(
        l2(0xfe, 0xa0),
        &frames::tcp_segment(client(i), SocketAddrV4::new(VIP, 80), flags, b""),
    ))
}

/// A 60-byte frame as an array; panics on any other length.
pub fn to_frame(v: Vec<u8>) -> [u8; FRAME] {
    v.try_into().expect("60-byte frame")
}
