//! Low-S ECDSA P-256 signatures. An ECDSA signature (r, s) has a twin (r, n − s) that
//! verifies just as well; KMS may return either. Airlock writes only the low-S form
//! (s ≤ n/2), so one message has one signature in circulation, and [`is_low_s`] lets a
//! client insist on it (docs/PROTOCOL.md says when it must).

use crate::Error;
use crate::der::{INTEGER, Reader, SEQUENCE};

/// The order n of the P-256 group, big-endian.
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];
/// ⌊n/2⌋, big-endian.
const HALF_N: [u8; 32] = [
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
];

fn bad(detail: impl std::fmt::Display) -> Error {
    Error::malformed("ECDSA signature", detail)
}

/// (r, s) of a DER `Ecdsa-Sig-Value`, each as 32 big-endian bytes.
fn parse(sig: &[u8]) -> Result<([u8; 32], [u8; 32]), Error> {
    let mut outer = Reader::new(sig);
    let body = outer.read(SEQUENCE).map_err(bad)?;
    if !outer.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let mut inner = Reader::new(body);
    let r = inner.read(INTEGER).map_err(bad)?;
    let s = inner.read(INTEGER).map_err(bad)?;
    if !inner.is_empty() {
        return Err(bad("trailing bytes in the sequence"));
    }
    Ok((fixed(r)?, fixed(s)?))
}

fn fixed(int: &[u8]) -> Result<[u8; 32], Error> {
    let trimmed: &[u8] = match int {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    if trimmed.len() > 32 || int.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(bad("an integer is negative or longer than 32 bytes"));
    }
    let mut out = [0u8; 32];
    out[32 - trimmed.len()..].copy_from_slice(trimmed);
    Ok(out)
}

fn encode_int(v: &[u8; 32]) -> Vec<u8> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(31);
    let mut out = Vec::with_capacity(35);
    out.push(INTEGER);
    let pad = v[start] & 0x80 != 0;
    out.push((32 - start + usize::from(pad)) as u8);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(&v[start..]);
    out
}

/// Whether `sig` is in low-S form.
pub fn is_low_s(sig: &[u8]) -> Result<bool, Error> {
    let (_, s) = parse(sig)?;
    Ok(s <= HALF_N)
}

/// The low-S form of `sig` (unchanged if it already is).
pub fn to_low_s(sig: &[u8]) -> Result<Vec<u8>, Error> {
    let (r, s) = parse(sig)?;
    if s <= HALF_N {
        return Ok(sig.to_vec());
    }
    // n − s, byte by byte with borrow (s < n for any valid signature).
    let mut low = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        low[i] = d as u8;
    }
    let (r, s) = (encode_int(&r), encode_int(&low));
    let mut out = vec![SEQUENCE, (r.len() + s.len()) as u8];
    out.extend(r);
    out.extend(s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
        UnparsedPublicKey,
    };

    #[test]
    fn high_s_twins_become_low_s_and_still_verify() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref());
        let (mut saw_high, mut saw_low) = (false, false);
        for i in 0..64u32 {
            let msg = i.to_be_bytes();
            let sig = pair.sign(&rng, &msg).unwrap();
            let low = to_low_s(sig.as_ref()).unwrap();
            if is_low_s(sig.as_ref()).unwrap() {
                saw_low = true;
                assert_eq!(low, sig.as_ref(), "a low-S signature is kept as it is");
            } else {
                saw_high = true;
            }
            assert!(is_low_s(&low).unwrap(), "the result is low-S");
            public
                .verify(&msg, &low)
                .expect("the low-S twin verifies with the same key");
        }
        assert!(saw_high && saw_low, "64 signatures include both forms");
    }

    #[test]
    fn malformed_signatures_are_refused() {
        assert!(to_low_s(b"").is_err());
        assert!(to_low_s(&[0x30, 0x02, 0x02, 0x00]).is_err());
    }
}
