//! Finds the local ICE ufrag in a STUN message, so an incoming binding request is routed to its peer by one map
//! lookup instead of asking every peer's `Rtc` whether it accepts it.
//!
//! Only the framing is read (RFC 8489 §5 header, §14 attributes): the message integrity is still checked by the
//! owning peer's ICE agent, so a forged username can at worst reach the wrong peer's agent, which refuses it.

/// Why a datagram is not a STUN message we can read a username from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StunError {
    /// Shorter than the 20-byte header.
    TooShort,
    /// The two leading bits are not zero or the magic cookie is wrong.
    NotStun,
    /// The header's length is not a multiple of 4 or disagrees with the datagram's size.
    BadLength,
    /// An attribute runs past the end of the message.
    Truncated,
    /// The USERNAME is not `local:remote` in UTF-8 with a non-empty local part.
    BadUsername,
}

const HEADER_LEN: usize = 20;
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// Whether the datagram looks like STUN at all (RFC 7983 demultiplexing: first byte 0..=3), before parsing.
pub(crate) fn is_stun(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| *b < 4)
}

/// The local ufrag of a STUN message's USERNAME (`local:remote`, RFC 8445 §7.2.2), `Ok(None)` when the message has
/// no USERNAME (binding responses and indications), or why the framing is broken.
pub(crate) fn local_ufrag(datagram: &[u8]) -> Result<Option<&str>, StunError> {
    if datagram.len() < HEADER_LEN {
        return Err(StunError::TooShort);
    }
    if datagram[0] & 0b1100_0000 != 0 || datagram[4..8] != MAGIC_COOKIE {
        return Err(StunError::NotStun);
    }
    let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    if !len.is_multiple_of(4) || HEADER_LEN + len != datagram.len() {
        return Err(StunError::BadLength);
    }

    let mut rest = &datagram[HEADER_LEN..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(StunError::Truncated);
        }
        let typ = u16::from_be_bytes([rest[0], rest[1]]);
        let value_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        // Values are padded to a multiple of four bytes; the length field does not count the padding.
        let padded = value_len.div_ceil(4) * 4;
        if rest.len() < 4 + padded {
            return Err(StunError::Truncated);
        }
        if typ == ATTR_USERNAME {
            let value = &rest[4..4 + value_len];
            let username = std::str::from_utf8(value).map_err(|_| StunError::BadUsername)?;
            let (local, _remote) = username.split_once(':').ok_or(StunError::BadUsername)?;
            if local.is_empty() {
                return Err(StunError::BadUsername);
            }
            return Ok(Some(local));
        }
        rest = &rest[4 + padded..];
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binding request with the given attributes (type, value), each padded as on the wire.
    fn message(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (typ, value) in attrs {
            body.extend_from_slice(&typ.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    const PRIORITY: (u16, &[u8]) = (0x0024, &[0, 0, 0, 1]);
    const INTEGRITY: (u16, &[u8]) = (0x0008, &[0xaa; 20]);

    #[test]
    fn finds_the_local_part_of_the_username() {
        let m = message(&[PRIORITY, (ATTR_USERNAME, b"sfuufrag:clientufrag"), INTEGRITY]);
        assert_eq!(local_ufrag(&m), Ok(Some("sfuufrag")));
        assert!(is_stun(&m));
    }

    #[test]
    fn skips_padding_of_odd_length_attributes() {
        // USERNAME of 9 bytes is padded to 12; an odd-length attribute before it is padded too.
        let m = message(&[(0x8022, b"soft"), (0x0099, b"abcde"), (ATTR_USERNAME, b"abcd:wxyz"), INTEGRITY]);
        assert_eq!(local_ufrag(&m), Ok(Some("abcd")));
        let m = message(&[(ATTR_USERNAME, b"a:b")]);
        assert_eq!(local_ufrag(&m), Ok(Some("a")));
    }

    #[test]
    fn no_username_is_not_an_error() {
        let m = message(&[PRIORITY, INTEGRITY]);
        assert_eq!(local_ufrag(&m), Ok(None));
        let m = message(&[]);
        assert_eq!(local_ufrag(&m), Ok(None));
    }

    #[test]
    fn truncated_messages_are_refused() {
        let m = message(&[PRIORITY, (ATTR_USERNAME, b"sfuufrag:clientufrag")]);
        assert_eq!(local_ufrag(&m[..12]), Err(StunError::TooShort));
        // Cut inside the attribute, and fix the header so only the attribute is short.
        let mut cut = m[..m.len() - 8].to_vec();
        let body = (cut.len() - HEADER_LEN) as u16;
        cut[2..4].copy_from_slice(&body.to_be_bytes());
        assert_eq!(local_ufrag(&cut), Err(StunError::Truncated));
        // An attribute header of fewer than four bytes cannot even be; the length check refuses it first.
        let mut short = message(&[PRIORITY]);
        short.extend_from_slice(&[0, 6]);
        assert_eq!(local_ufrag(&short), Err(StunError::BadLength));
    }

    #[test]
    fn attribute_longer_than_the_message_is_truncated() {
        let mut m = message(&[(ATTR_USERNAME, b"abcd:wxyz")]);
        // Claim 200 bytes of username in a 12-byte value.
        m[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(local_ufrag(&m), Err(StunError::Truncated));
    }

    #[test]
    fn header_lengths_must_agree() {
        let mut m = message(&[PRIORITY]);
        m[3] = 6; // not a multiple of four
        assert_eq!(local_ufrag(&m), Err(StunError::BadLength));
        let mut m = message(&[PRIORITY]);
        m.push(0); // datagram longer than the header says
        assert_eq!(local_ufrag(&m), Err(StunError::BadLength));
    }

    #[test]
    fn not_stun_is_refused() {
        let mut m = message(&[PRIORITY]);
        m[4] = 0; // cookie
        assert_eq!(local_ufrag(&m), Err(StunError::NotStun));
        let mut m = message(&[PRIORITY]);
        m[0] = 0x80; // an RTP version byte
        assert_eq!(local_ufrag(&m), Err(StunError::NotStun));
        assert!(!is_stun(&[0x80, 0, 0]));
        assert!(!is_stun(&[]));
    }

    #[test]
    fn malformed_usernames_are_refused() {
        for bad in [&b"nocolon"[..], b":remote", &[0xff, 0xfe, b':', b'a']] {
            let m = message(&[(ATTR_USERNAME, bad)]);
            assert_eq!(local_ufrag(&m), Err(StunError::BadUsername), "{bad:?}");
        }
    }
}
