//! Key parsing: accepted algorithms, clear refusals, PEM handling.
//!
//! Invariant: only RSA 2048–8192 and P-256 SubjectPublicKeyInfo keys are ever trusted.

mod common;

use airlock_protocol::Error;
use airlock_protocol::keys::{KeyAlgorithm, PublicKey};
use common::{P256_KEY_PEM, P256_PUB_PEM, RSA_PUB_PEM, Signer, pem_der};

fn refusal(pem: &str) -> String {
    match PublicKey::from_pem(pem) {
        Err(Error::Key(message)) => message,
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn pem_round_trips_exactly_like_openssl_writes_it() {
    for pem in [RSA_PUB_PEM, P256_PUB_PEM] {
        let key = PublicKey::from_pem(pem).unwrap().remove(0);
        assert_eq!(
            key.to_pem(),
            pem,
            "to_pem uses 64-column lines like openssl"
        );
        assert_eq!(key.spki_der(), pem_der(pem));
        assert_eq!(PublicKey::from_spki_der(key.spki_der()).unwrap(), key);
    }
}

#[test]
fn several_blocks_are_read_in_order() {
    let both = format!("# trusted keys\n{RSA_PUB_PEM}\n{P256_PUB_PEM}");
    let keys = PublicKey::from_pem(&both).unwrap();
    let algorithms: Vec<_> = keys.iter().map(PublicKey::algorithm).collect();
    assert_eq!(
        algorithms,
        [KeyAlgorithm::RsaPkcs1Sha256, KeyAlgorithm::EcdsaP256Sha256]
    );
    assert_eq!(keys[1].algorithm().as_str(), "ecdsa-p256-sha256");
    assert_eq!(keys[0].algorithm().as_str(), "rsa-pkcs1-sha256");
}

#[test]
fn unsupported_keys_are_refused_with_reasons() {
    let weak = refusal(include_str!("vectors/refused/rsa1024.pub.pem"));
    assert!(
        weak.contains("1024 bits") && weak.contains("2048"),
        "{weak}"
    );
    let p384 = refusal(include_str!("vectors/refused/p384.pub.pem"));
    assert!(
        p384.contains("1.3.132.0.34") && p384.contains("P-256"),
        "{p384}"
    );
    let ed25519 = refusal(include_str!("vectors/refused/ed25519.pub.pem"));
    assert!(ed25519.contains("1.3.101.112"), "{ed25519}");
    let compressed = refusal(include_str!("vectors/refused/p256-compressed.pub.pem"));
    assert!(compressed.contains("uncompressed"), "{compressed}");
}

#[test]
fn wrong_pem_blocks_are_refused() {
    let private = refusal(P256_KEY_PEM);
    assert!(
        private.contains("private key"),
        "never accept a private key as trusted: {private}"
    );
    let none = refusal("nothing here");
    assert!(none.contains("no -----BEGIN PUBLIC KEY-----"), "{none}");
    let pkcs1 = RSA_PUB_PEM.replace("PUBLIC KEY", "RSA PUBLIC KEY");
    assert!(
        refusal(&pkcs1).contains("RSAPublicKey_in"),
        "PKCS#1 input gets a conversion hint"
    );
    let unterminated = RSA_PUB_PEM.replace("-----END PUBLIC KEY-----", "");
    assert!(matches!(
        PublicKey::from_pem(&unterminated),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn non_der_input_is_refused() {
    let der = pem_der(RSA_PUB_PEM);
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(
        PublicKey::from_spki_der(&trailing).is_err(),
        "trailing bytes change the key id"
    );
    assert!(
        PublicKey::from_spki_der(&der[..der.len() - 1]).is_err(),
        "truncated"
    );
    assert!(PublicKey::from_spki_der(&[]).is_err(), "empty");
    let mut bad_point = pem_der(P256_PUB_PEM);
    *bad_point.last_mut().unwrap() ^= 1;
    let err = PublicKey::from_spki_der(&bad_point).unwrap_err();
    assert!(
        err.to_string().contains("aws-lc"),
        "points off the curve are refused: {err}"
    );
}

#[test]
fn verify_checks_key_and_message() {
    let signer = Signer::fresh_p256();
    let key = signer.public_key();
    let signature = signer.sign(b"message");
    assert!(key.verify(b"message", &signature));
    assert!(!key.verify(b"massage", &signature), "other message");
    assert!(
        !Signer::fresh_p256()
            .public_key()
            .verify(b"message", &signature),
        "other key"
    );
    assert!(
        !key.verify(b"message", b"not a signature"),
        "garbage signature"
    );
    let rsa = Signer::fixed_rsa();
    assert!(rsa.public_key().verify(b"message", &rsa.sign(b"message")));
    assert!(
        !rsa.public_key().verify(b"message", &signature),
        "algorithms do not mix"
    );
}
