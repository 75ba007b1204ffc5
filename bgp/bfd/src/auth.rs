//! The optional Authentication Section (RFC 5880 §4.2-4.4) and its digests (§6.7).
//!
//! ```text
//! Simple Password (§4.2)           Keyed MD5 / SHA1 (§4.3, §4.4)
//! | Type=1 | Len | Key ID |        | Type=2..5 | Len=24/28 | Key ID | Reserved |
//! | Password (1-16 bytes)  |       |                Sequence Number             |
//!                                  |  Auth Key/Digest (16) or Auth Key/Hash (20) |
//! ```
//!
//! The codec keeps every byte (the Reserved octet too, which receivers ignore), so sections
//! re-encode unchanged. [`sign`] and [`verify`] compute and check the digest of a whole
//! packet as §6.7.3 and §6.7.4 describe: with the key, zero-padded, in the digest field.

use crate::digest;
use crate::error::{DecodeError, EncodeError};
use crate::packet::MANDATORY_LEN;

/// RFC 5880 §4.1 Auth Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 1 - Simple Password.
    SimplePassword,
    /// 2 - Keyed MD5.
    KeyedMd5,
    /// 3 - Meticulous Keyed MD5.
    MeticulousKeyedMd5,
    /// 4 - Keyed SHA1.
    KeyedSha1,
    /// 5 - Meticulous Keyed SHA1.
    MeticulousKeyedSha1,
}

impl AuthType {
    /// The Auth Type value.
    pub fn code(self) -> u8 {
        match self {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
        }
    }

    /// The longest key (password) the type carries: §4.2 "from 1 to 16 bytes", §6.7.3 "up to
    /// 16 bytes", §6.7.4 "up to 20 bytes".
    pub fn max_key_len(self) -> usize {
        match self {
            AuthType::SimplePassword | AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => 16,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
        }
    }

    /// Whether the sequence number must advance with every packet (§6.7.3, §6.7.4).
    pub fn meticulous(self) -> bool {
        matches!(
            self,
            AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1
        )
    }

    /// Whether packets carry a sequence number and a digest (every type but the password).
    pub fn keyed(self) -> bool {
        self != AuthType::SimplePassword
    }

    /// Name for configuration files and status.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::SimplePassword => "simple",
            AuthType::KeyedMd5 => "keyed-md5",
            AuthType::MeticulousKeyedMd5 => "meticulous-keyed-md5",
            AuthType::KeyedSha1 => "keyed-sha1",
            AuthType::MeticulousKeyedSha1 => "meticulous-keyed-sha1",
        }
    }
}

/// Auth Len of the keyed MD5 and SHA1 sections (§4.3, §4.4).
const MD5_SECTION_LEN: usize = 24;
const SHA1_SECTION_LEN: usize = 28;
/// Where the digest starts inside the packet: Mandatory Section, then type, len, key id,
/// reserved and the 4-byte sequence number.
const DIGEST_OFFSET: usize = MANDATORY_LEN + 8;

/// One Authentication Section as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSection {
    /// §4.2, Auth Type 1.
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// Password, 1 to 16 bytes.
        password: Vec<u8>,
    },
    /// §4.3, Auth Type 2 (Keyed MD5) or 3 (Meticulous Keyed MD5).
    KeyedMd5 {
        /// Type 3 rather than 2.
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// "This byte MUST be set to zero on transmit, and ignored on receipt."
        reserved: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// §4.4, Auth Type 4 (Keyed SHA1) or 5 (Meticulous Keyed SHA1).
    KeyedSha1 {
        /// Type 5 rather than 4.
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Zero on transmit, ignored on receipt.
        reserved: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        hash: [u8; 20],
    },
    /// Type 0 or 6-255 (reserved): kept so the packet can be counted and re-encoded; no
    /// session accepts it.
    Unknown {
        /// Auth Type.
        auth_type: u8,
        /// The octets after Auth Type and Auth Len.
        data: Vec<u8>,
    },
}

impl AuthSection {
    /// Decodes the section at the start of `body` (the packet after its Mandatory Section, up
    /// to Length, at least 2 bytes). Returns it and the bytes it spans (its Auth Len).
    pub(crate) fn decode(body: &[u8]) -> Result<(AuthSection, usize), DecodeError> {
        let (auth_type, auth_len) = match body {
            [t, l, ..] => (*t, usize::from(*l)),
            _ => {
                return Err(DecodeError::AuthLength {
                    auth_type: body.first().copied().unwrap_or(0),
                    auth_len: 0,
                })
            }
        };
        let bad = Err(DecodeError::AuthLength {
            auth_type,
            auth_len,
        });
        if auth_len > body.len() {
            // The section would end past Length.
            return bad;
        }
        let s = &body[..auth_len];
        let seq = |s: &[u8]| u32::from_be_bytes([s[4], s[5], s[6], s[7]]);
        let section = match auth_type {
            // §6.7.2: "The Auth Len field MUST be set to the proper length (4 to 19 bytes)."
            1 if (4..=19).contains(&auth_len) => AuthSection::SimplePassword {
                key_id: s[2],
                password: s[3..].to_vec(),
            },
            // §6.7.3: "The Auth Len field MUST be set to 24."
            2 | 3 if auth_len == MD5_SECTION_LEN => {
                let mut digest = [0u8; 16];
                digest.copy_from_slice(&s[8..24]);
                AuthSection::KeyedMd5 {
                    meticulous: auth_type == 3,
                    key_id: s[2],
                    reserved: s[3],
                    sequence: seq(s),
                    digest,
                }
            }
            // §6.7.4: "The Auth Len field MUST be set to 28."
            4 | 5 if auth_len == SHA1_SECTION_LEN => {
                let mut hash = [0u8; 20];
                hash.copy_from_slice(&s[8..28]);
                AuthSection::KeyedSha1 {
                    meticulous: auth_type == 5,
                    key_id: s[2],
                    reserved: s[3],
                    sequence: seq(s),
                    hash,
                }
            }
            1..=5 => return bad,
            _ if auth_len >= 2 => AuthSection::Unknown {
                auth_type,
                data: s[2..].to_vec(),
            },
            _ => return bad,
        };
        Ok((section, auth_len))
    }

    /// Auth Type.
    pub fn auth_type_code(&self) -> u8 {
        match self {
            AuthSection::SimplePassword { .. } => 1,
            AuthSection::KeyedMd5 { meticulous, .. } => 2 + u8::from(*meticulous),
            AuthSection::KeyedSha1 { meticulous, .. } => 4 + u8::from(*meticulous),
            AuthSection::Unknown { auth_type, .. } => *auth_type,
        }
    }

    /// Auth Key ID (`None` for an unknown type).
    pub fn key_id(&self) -> Option<u8> {
        match self {
            AuthSection::SimplePassword { key_id, .. }
            | AuthSection::KeyedMd5 { key_id, .. }
            | AuthSection::KeyedSha1 { key_id, .. } => Some(*key_id),
            AuthSection::Unknown { .. } => None,
        }
    }

    /// Sequence Number of a keyed section.
    pub fn sequence(&self) -> Option<u32> {
        match self {
            AuthSection::KeyedMd5 { sequence, .. } | AuthSection::KeyedSha1 { sequence, .. } => {
                Some(*sequence)
            }
            _ => None,
        }
    }

    /// Auth Len: the section's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            AuthSection::SimplePassword { password, .. } => 3 + password.len(),
            AuthSection::KeyedMd5 { .. } => MD5_SECTION_LEN,
            AuthSection::KeyedSha1 { .. } => SHA1_SECTION_LEN,
            AuthSection::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Never: every section has at least its type and length octets.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Refuses what cannot be encoded: a password outside 1-16 bytes, an unknown section
    /// longer than Auth Len can say.
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        match self {
            AuthSection::SimplePassword { password, .. }
                if password.is_empty() || password.len() > 16 =>
            {
                Err(EncodeError::Password {
                    len: password.len(),
                })
            }
            AuthSection::Unknown { data, .. } if data.len() > 253 => Err(EncodeError::TooLong {
                length: MANDATORY_LEN + 2 + data.len(),
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.auth_type_code());
        out.push(self.len() as u8);
        match self {
            AuthSection::SimplePassword { key_id, password } => {
                out.push(*key_id);
                out.extend_from_slice(password);
            }
            AuthSection::KeyedMd5 {
                key_id,
                reserved,
                sequence,
                digest,
                ..
            } => {
                out.extend_from_slice(&[*key_id, *reserved]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(digest);
            }
            AuthSection::KeyedSha1 {
                key_id,
                reserved,
                sequence,
                hash,
                ..
            } => {
                out.extend_from_slice(&[*key_id, *reserved]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(hash);
            }
            AuthSection::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// The digest of `packet` (a whole encoded Control packet with a keyed section) computed as
/// §6.7.3 and §6.7.4 prescribe: the key, padded with trailing zeros to the field's size, in
/// place of the digest. `None` if the packet has no keyed section.
fn keyed_digest(packet: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let auth_type = *packet.get(MANDATORY_LEN)?;
    let field = match auth_type {
        2 | 3 => 16,
        4 | 5 => 20,
        _ => return None,
    };
    if packet.len() < DIGEST_OFFSET + field || key.len() > field {
        return None;
    }
    let mut scratch = packet.to_vec();
    let slot = &mut scratch[DIGEST_OFFSET..DIGEST_OFFSET + field];
    slot.fill(0);
    slot[..key.len()].copy_from_slice(key);
    Some(if field == 16 {
        digest::md5(&scratch).to_vec()
    } else {
        digest::sha1(&scratch).to_vec()
    })
}

/// Signs an encoded packet whose keyed section carries any digest: writes the MD5 or SHA1
/// digest of the packet computed with `key` (§6.7.3, §6.7.4 transmission). Packets without a
/// keyed section are left unchanged.
pub fn sign(packet: &mut [u8], key: &[u8]) {
    if let Some(d) = keyed_digest(packet, key) {
        packet[DIGEST_OFFSET..DIGEST_OFFSET + d.len()].copy_from_slice(&d);
    }
}

/// Whether the keyed section's digest of `packet` (the packet's `Length` bytes) is the one
/// `key` gives (§6.7.3, §6.7.4 reception). False for packets without a keyed section.
pub fn verify(packet: &[u8], key: &[u8]) -> bool {
    match keyed_digest(packet, key) {
        Some(d) => digest::equal(&d, &packet[DIGEST_OFFSET..DIGEST_OFFSET + d.len()]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::ControlPacket;

    fn with(auth: AuthSection) -> ControlPacket {
        ControlPacket {
            my_discriminator: 1,
            auth: Some(auth),
            ..ControlPacket::default()
        }
    }

    #[test]
    fn simple_password_layout() {
        let p = with(AuthSection::SimplePassword {
            key_id: 5,
            password: b"secret".to_vec(),
        });
        let bytes = p.encode().unwrap();
        assert_eq!(bytes[1] & 0x04, 0x04, "A bit");
        assert_eq!(bytes[3], 24 + 9);
        assert_eq!(&bytes[24..], b"\x01\x09\x05secret");
        assert_eq!(ControlPacket::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn keyed_layouts() {
        for meticulous in [false, true] {
            let p = with(AuthSection::KeyedMd5 {
                meticulous,
                key_id: 1,
                reserved: 0,
                sequence: 0x0102_0304,
                digest: [0xaa; 16],
            });
            let bytes = p.encode().unwrap();
            assert_eq!(bytes.len(), 48);
            assert_eq!(
                &bytes[24..32],
                &[2 + u8::from(meticulous), 24, 1, 0, 1, 2, 3, 4]
            );
            assert_eq!(ControlPacket::decode(&bytes).unwrap(), p);

            let p = with(AuthSection::KeyedSha1 {
                meticulous,
                key_id: 9,
                reserved: 0x5a,
                sequence: 7,
                hash: [0xbb; 20],
            });
            let bytes = p.encode().unwrap();
            assert_eq!(bytes.len(), 52);
            assert_eq!(
                &bytes[24..32],
                &[4 + u8::from(meticulous), 28, 9, 0x5a, 0, 0, 0, 7]
            );
            assert_eq!(ControlPacket::decode(&bytes).unwrap(), p);
        }
    }

    /// Each type has exactly one right Auth Len (a range for the password).
    #[test]
    fn wrong_auth_lengths_are_decode_errors() {
        let base = with(AuthSection::KeyedSha1 {
            meticulous: false,
            key_id: 1,
            reserved: 0,
            sequence: 1,
            hash: [0; 20],
        })
        .encode()
        .unwrap();
        for (ty, len) in [(1u8, 3u8), (1, 20), (2, 28), (3, 23), (4, 24), (5, 27)] {
            let mut b = base.clone();
            b[24] = ty;
            b[25] = len;
            assert_eq!(
                ControlPacket::decode(&b),
                Err(DecodeError::AuthLength {
                    auth_type: ty,
                    auth_len: usize::from(len)
                }),
                "type {ty} len {len}"
            );
        }
        // A section running past Length.
        let mut b = base.clone();
        b[25] = 29;
        assert!(matches!(
            ControlPacket::decode(&b),
            Err(DecodeError::AuthLength { .. })
        ));
    }

    #[test]
    fn unknown_types_are_kept() {
        let p = with(AuthSection::Unknown {
            auth_type: 6,
            data: vec![1, 2, 3],
        });
        let bytes = p.encode().unwrap();
        assert_eq!(ControlPacket::decode(&bytes).unwrap(), p);
        let mut b = bytes.clone();
        b[25] = 1;
        assert!(ControlPacket::decode(&b).is_err());
    }

    #[test]
    fn passwords_outside_1_to_16_bytes_do_not_encode() {
        for len in [0, 17] {
            let p = with(AuthSection::SimplePassword {
                key_id: 1,
                password: vec![b'x'; len],
            });
            assert_eq!(p.encode(), Err(EncodeError::Password { len }));
        }
    }

    /// The digest covers the whole packet with the key in the digest field; any changed bit
    /// or another key fails.
    #[test]
    fn sign_then_verify() {
        for p in [
            with(AuthSection::KeyedMd5 {
                meticulous: true,
                key_id: 1,
                reserved: 0,
                sequence: 42,
                digest: [0; 16],
            }),
            with(AuthSection::KeyedSha1 {
                meticulous: false,
                key_id: 1,
                reserved: 0,
                sequence: 42,
                hash: [0; 20],
            }),
        ] {
            let mut bytes = p.encode().unwrap();
            sign(&mut bytes, b"key");
            assert!(verify(&bytes, b"key"));
            assert!(!verify(&bytes, b"kez"));
            // The key is not carried in the packet.
            assert!(!bytes.windows(3).any(|w| w == b"key"));
            for i in 0..bytes.len() {
                let mut t = bytes.clone();
                t[i] ^= 1;
                assert!(!verify(&t, b"key"), "bit flipped in byte {i}");
            }
        }
    }

    /// §6.7.3 by hand: MD5 over the packet with the key, zero-padded, in the digest field.
    #[test]
    fn digest_is_md5_of_the_packet_with_the_padded_key() {
        let p = with(AuthSection::KeyedMd5 {
            meticulous: false,
            key_id: 1,
            reserved: 0,
            sequence: 1,
            digest: [0; 16],
        });
        let mut bytes = p.encode().unwrap();
        let mut expect = bytes.clone();
        expect[32..35].copy_from_slice(b"abc");
        let want = crate::digest::md5(&expect);
        sign(&mut bytes, b"abc");
        assert_eq!(&bytes[32..48], &want);
    }
}
