//! A minimal, strict DER reader: just enough to read a SubjectPublicKeyInfo.
//!
//! Invariant: it accepts only definite, minimally encoded lengths and low tag numbers, and never
//! reads past its input, so a key accepted here has exactly one encoding (and one key id).

/// `SEQUENCE`.
pub(crate) const SEQUENCE: u8 = 0x30;
/// `INTEGER`.
pub(crate) const INTEGER: u8 = 0x02;
/// `BIT STRING`.
pub(crate) const BIT_STRING: u8 = 0x03;
/// `NULL`.
pub(crate) const NULL: u8 = 0x05;
/// `OBJECT IDENTIFIER`.
pub(crate) const OID: u8 = 0x06;

/// Reads consecutive TLVs from a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one TLV that must have tag `tag`; returns its value.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let (&found, after_tag) = self.rest.split_first().ok_or("unexpected end of data")?;
        if found != tag {
            return Err(format!("expected tag 0x{tag:02x}, found 0x{found:02x}"));
        }
        let (&first, after_len) = after_tag.split_first().ok_or("missing length")?;
        let (len, body) = match first {
            0..=0x7f => (usize::from(first), after_len),
            0x80 => return Err("indefinite lengths are not DER".into()),
            _ => {
                let count = usize::from(first & 0x7f);
                if count > 4 || after_len.len() < count {
                    return Err("length field too long or truncated".into());
                }
                let (len_bytes, body) = after_len.split_at(count);
                if len_bytes[0] == 0 {
                    return Err("length has leading zero bytes (not DER)".into());
                }
                let len = len_bytes
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                if len < 0x80 {
                    return Err("short length in long form (not DER)".into());
                }
                (len, body)
            }
        };
        if body.len() < len {
            return Err(format!(
                "value of {len} bytes is truncated to {}",
                body.len()
            ));
        }
        let (value, rest) = body.split_at(len);
        self.rest = rest;
        Ok(value)
    }
}

/// The dotted form of an OID's DER value, for error messages (`1.2.840.10045.3.1.7`).
pub(crate) fn oid_to_string(value: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut current: u128 = 0;
    for &byte in value {
        current = current
            .saturating_mul(128)
            .saturating_add(u128::from(byte & 0x7f));
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = current.min(80) / 40;
                arcs.extend([first, current - first * 40]);
            } else {
                arcs.push(current);
            }
            current = 0;
        }
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The bit length of a non-negative, minimally encoded INTEGER value.
pub(crate) fn positive_integer_bits(value: &[u8]) -> Result<usize, String> {
    let (&first, rest) = value.split_first().ok_or("empty INTEGER")?;
    if first & 0x80 != 0 {
        return Err("negative INTEGER".into());
    }
    if first == 0 && rest.first().is_some_and(|b| b & 0x80 == 0) {
        return Err("INTEGER has a redundant leading zero (not DER)".into());
    }
    let magnitude = if first == 0 { rest } else { value };
    Ok(match magnitude.first() {
        None => 0,
        Some(&top) => (magnitude.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut r = Reader::new(&[0x04, 0x01, 0xaa, 0x05, 0x00]);
        assert_eq!(r.read(0x04).unwrap(), &[0xaa]);
        assert_eq!(r.peek_tag(), Some(NULL));
        assert_eq!(r.read(NULL).unwrap(), &[] as &[u8]);
        assert!(r.is_empty());
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert_eq!(Reader::new(&long).read(0x04).unwrap().len(), 0x80);
    }

    #[test]
    fn refuses_non_der() {
        for bad in [
            &[0x04, 0x80, 0x00, 0x00][..], // indefinite
            &[0x04, 0x81, 0x01, 0xaa],     // long form for a short length
            &[0x04, 0x82, 0x00, 0x81],     // leading zero in length
            &[0x04, 0x05, 0xaa],           // truncated
            &[0x04],                       // no length
        ] {
            assert!(
                Reader::new(bad).read(0x04).is_err(),
                "{bad:02x?} must be refused"
            );
        }
        assert!(
            Reader::new(&[0x05, 0x00]).read(0x04).is_err(),
            "wrong tag must be refused"
        );
    }

    #[test]
    fn oids_and_integers() {
        let p256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        assert_eq!(oid_to_string(&p256), "1.2.840.10045.3.1.7");
        assert_eq!(oid_to_string(&[0x2b, 0x65, 0x70]), "1.3.101.112");
        assert_eq!(positive_integer_bits(&[0x00, 0x80]).unwrap(), 8);
        assert_eq!(positive_integer_bits(&[0x01, 0x00]).unwrap(), 9);
        assert!(
            positive_integer_bits(&[0x00, 0x01]).is_err(),
            "redundant zero"
        );
        assert!(positive_integer_bits(&[0x80]).is_err(), "negative");
    }
}
