//! DNS check over UDP (keepalived `DNS_CHECK`): one query; the reply's rcode must match
//! (NOERROR by default, so SERVFAIL fails) and, optionally, an A/AAAA answer must carry an
//! expected address.

use super::udp::{connected, describe_udp};
use super::{describe_io, random_u16, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::DnsCheck;
use crate::wire::dns::{encode_query, parse_response, RData};

pub async fn check(spec: &DnsCheck, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let sock = match connected(spec.server, ctx).await {
        Ok(s) => s,
        Err(e) => return deadline.fail(describe_io(&e)),
    };
    let id = random_u16();
    let query = encode_query(id, &spec.name, spec.qtype, spec.recursion_desired);
    if let Err(e) = sock.send(&query).await {
        return deadline.fail(describe_udp(&e));
    }
    let want_name = spec.name.trim_end_matches('.').to_ascii_lowercase();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match deadline.run("DNS reply", sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return deadline.fail(describe_udp(&e)),
            Err(timeout) => return timeout,
        };
        let Ok(resp) = parse_response(&buf[..n]) else {
            // Malformed datagrams might be noise or spoofing; keep waiting for ours.
            continue;
        };
        // Ignore replies that are not to this query (a late reply to a previous probe, or
        // an off-path guess): same id, response bit, same question.
        let question_matches = resp
            .question
            .as_ref()
            .is_none_or(|(name, t)| *name == want_name && *t == spec.qtype);
        if resp.id != id || !resp.is_response || !question_matches {
            continue;
        }
        if resp.rcode != spec.expect_rcode {
            return deadline.fail(format!(
                "rcode {} (expected {})",
                resp.rcode, spec.expect_rcode
            ));
        }
        let Some(addr) = spec.expect_address else {
            return deadline.ok(format!("{}, {} answers", resp.rcode, resp.answers.len()));
        };
        let found = resp.answers.iter().any(|a| match a.data {
            RData::A(v4) => addr == v4,
            RData::Aaaa(v6) => addr == v6,
            RData::Other(_) => false,
        });
        return if found {
            deadline.ok(format!("{} answered {addr}", resp.rcode))
        } else if resp.truncated {
            deadline.fail("reply truncated without the expected address")
        } else {
            let got: Vec<String> = resp
                .answers
                .iter()
                .filter_map(|a| match a.data {
                    RData::A(v4) => Some(v4.to_string()),
                    RData::Aaaa(v6) => Some(v6.to_string()),
                    RData::Other(_) => None,
                })
                .collect();
            deadline.fail(format!("no answer with {addr} (got [{}])", got.join(", ")))
        };
    }
}
