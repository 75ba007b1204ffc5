//! The DNS responder at a `dns` check's target: RFC 1035 answers over UDP to the questions the
//! checks ask, each with the response code and the address the check expects; any other
//! question is answered REFUSED (the responder is authoritative for nothing else). A datagram
//! that is no query gets no DNS answer (the port's echo, if it has one, answers it).

use std::net::IpAddr;

use health::wire::dns::{encode_reply, parse_response, Rcode};

/// One question a check asks, and what it must get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    /// Lowercase, without the final dot (as the wire decoder gives names).
    pub name: String,
    pub qtype: u16,
    pub rcode: u8,
    /// The answer's records (the check's `expect_address`, if any).
    pub addrs: Vec<IpAddr>,
}

impl DnsAnswer {
    pub fn new(name: &str, qtype: u16, rcode: u8, addrs: Vec<IpAddr>) -> DnsAnswer {
        DnsAnswer {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            qtype,
            rcode,
            addrs,
        }
    }
}

/// The reply to `query`, or `None` when it is no DNS query (a response, or not DNS at all).
pub fn reply(query: &[u8], answers: &[DnsAnswer]) -> Option<Vec<u8>> {
    let q = parse_response(query).ok()?;
    if q.is_response {
        return None;
    }
    let (name, qtype) = q.question?;
    match answers
        .iter()
        .find(|a| a.name == name && a.qtype == qtype.0)
    {
        Some(a) => encode_reply(query, Rcode(a.rcode), &a.addrs),
        None => encode_reply(query, Rcode::REFUSED, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use health::wire::dns::{encode_query, QType, RData};

    #[test]
    fn answers_the_checks_question_and_refuses_others() {
        let want: IpAddr = "198.18.42.53".parse().unwrap();
        let answers = [
            DnsAnswer::new("WWW.Example.net.", QType::A.0, 0, vec![want]),
            DnsAnswer::new("gone.example.net", QType::A.0, 3, Vec::new()),
        ];
        let q = encode_query(0x1234, "www.example.net", QType::A, true);
        let r = parse_response(&reply(&q, &answers).unwrap()).unwrap();
        assert!(r.is_response && r.id == 0x1234 && r.rcode == Rcode::NOERROR);
        assert_eq!(r.question, Some(("www.example.net".to_string(), QType::A)));
        assert!(
            matches!(r.answers[..], [ref a] if a.data == RData::A("198.18.42.53".parse().unwrap()))
        );
        let q = encode_query(7, "gone.example.net", QType::A, true);
        let r = parse_response(&reply(&q, &answers).unwrap()).unwrap();
        assert_eq!(r.rcode, Rcode::NXDOMAIN);
        assert!(r.answers.is_empty());
        // Another type of the same name, another name: refused.
        for q in [
            encode_query(8, "www.example.net", QType::AAAA, true),
            encode_query(9, "other.example.net", QType::A, true),
        ] {
            let r = parse_response(&reply(&q, &answers).unwrap()).unwrap();
            assert_eq!(r.rcode, Rcode::REFUSED);
        }
        // Not a query: the drill's UDP traffic, a response.
        assert!(reply(b"drill 1\n", &answers).is_none());
        let q = encode_query(10, "www.example.net", QType::A, true);
        let resp = reply(&q, &answers).unwrap();
        assert!(reply(&resp, &answers).is_none());
    }
}
