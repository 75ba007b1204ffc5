//! The ICMP check's reply path on arbitrary datagrams, as a raw IPv4 socket (IP header first)
//! and an IPv6 or ping socket (the message alone) deliver them: no panic; a parsed echo reply
//! carries the message's identifier, sequence number and payload; and an echo reply made from
//! our own request parses back to the request's fields.
#![no_main]

use health::wire::icmp::{
    echo_request, parse_echo_reply, strip_ipv4_header, ECHO_REPLY_V4, ECHO_REPLY_V6, HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v4 = strip_ipv4_header(data);
    if let Some(msg) = v4 {
        assert!(
            msg.len() + 20 <= data.len(),
            "at least a minimal header was stripped"
        );
    }
    for (v6, msg) in [(false, v4), (false, Some(data)), (true, Some(data))] {
        let Some(msg) = msg else { continue };
        if let Some((id, seq, payload)) = parse_echo_reply(v6, msg) {
            assert_eq!(payload.len() + HEADER_LEN, msg.len());
            let mut reply = echo_request(v6, id, seq, payload);
            reply[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
            assert_eq!(parse_echo_reply(v6, &reply), Some((id, seq, payload)));
        }
    }
});
