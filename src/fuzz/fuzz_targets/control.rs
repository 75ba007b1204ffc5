//! The control protocol on arbitrary bytes from a client, split into lines as the server reads
//! them: never a panic; a request that decodes encodes back to JSON that decodes to the same
//! request; and `appctl`'s side, the response decoder, on the same lines.
#![no_main]

use appliance::control::protocol::{Request, Response, MAX_REQUEST_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        if line.len() > MAX_REQUEST_BYTES {
            continue;
        }
        // The server reads lines as UTF-8 and refuses the others before decoding.
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if let Ok(req) = serde_json::from_str::<Request>(line.trim()) {
            let again = serde_json::to_string(&req).expect("a request encodes");
            let back: Request = serde_json::from_str(&again).expect("its encoding decodes");
            assert_eq!(back, req);
        }
        if let Ok(resp) = serde_json::from_str::<Response>(line.trim()) {
            let _ = serde_json::to_string(&resp).expect("a response encodes");
        }
    }
});
