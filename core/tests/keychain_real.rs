//! The real OS keychain (Secret Service over D-Bus), the counterpart of `MemoryKeychain`:
//! store, read, overwrite and delete a secret, and load the same local signing key twice.
//! Needs a D-Bus session with an unlocked keyring: `make test` runs the tests inside
//! `tests/harness/with-keyring.sh`, which provides a private gnome-keyring.

use airlock_core::keychain::{Keychain, SecretServiceKeychain};
use airlock_core::secret::Sensitive;
use airlock_core::signer::{LocalSigner, Signer};

fn keychain() -> SecretServiceKeychain {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test uses the real keychain; run it with \
         `tests/harness/with-keyring.sh cargo test -p airlock-core --test keychain_real`"
    );
    SecretServiceKeychain::connect().expect("the Secret Service answers")
}

#[test]
fn secrets_round_trip_through_the_secret_service() {
    let k = keychain();
    let account = format!("test-{}", std::process::id());
    assert!(
        k.get("airlock-test", &account).unwrap().is_none(),
        "a fresh entry is absent"
    );
    k.set("airlock-test", &account, &Sensitive::new(b"first".to_vec()))
        .unwrap();
    k.set(
        "airlock-test",
        &account,
        &Sensitive::new(b"second".to_vec()),
    )
    .unwrap();
    let got = k
        .get("airlock-test", &account)
        .unwrap()
        .expect("the entry was stored");
    assert_eq!(got.expose(), b"second", "a second set replaces the secret");
    assert!(
        k.delete("airlock-test", &account).unwrap(),
        "delete reports the entry existed"
    );
    assert!(
        k.get("airlock-test", &account).unwrap().is_none(),
        "the entry is gone"
    );
    assert!(
        !k.delete("airlock-test", &account).unwrap(),
        "deleting again finds nothing"
    );
}

#[test]
fn the_local_signing_key_persists_in_the_keychain() {
    let k = keychain();
    let name = format!("test-key-{}", std::process::id());
    let a = LocalSigner::load_or_create(&k, &name).unwrap();
    let b = LocalSigner::load_or_create(&k, &name).unwrap();
    assert_eq!(
        a.public_key(),
        b.public_key(),
        "the key is created once and read back"
    );
    assert!(
        k.delete("airlock", &format!("local-signing-key:{name}"))
            .unwrap()
    );
}
