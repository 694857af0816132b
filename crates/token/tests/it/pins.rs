//! PINs, the unblock code, keys that cannot leave the device, and signing from many threads.

use std::path::Path;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use pki::{KeyAlgorithm, KeyError};
use rcgen::{PublicKeyData as _, SigningKey as _};
use token::{Token, TokenError};

use crate::{SO_PIN, USER_PIN, p, run, softhsm_test};

softhsm_test!(a_wrong_pin_is_refused_and_changes_nothing, |hsm| {
    let token = hsm.token("lienthong");
    let key = token.generate("ca", KeyAlgorithm::P256).expect("key");
    drop((token, key));
    let wrong = Token::open(hsm.module(), "lienthong", "not-the-pin").expect_err("wrong PIN");
    assert_eq!(wrong, TokenError::WrongPin { token: "lienthong".into() });
    assert!(wrong.to_string().contains("lienthong"), "{wrong}");
    let token = Token::open(hsm.module(), "lienthong", USER_PIN).expect("right PIN");
    token.key("ca").expect("the key is still there");
    // Opening again in the same process shares the login, and still checks the PIN.
    assert_eq!(
        Token::open(hsm.module(), "lienthong", "not-the-pin").expect_err("wrong PIN while open"),
        TokenError::WrongPin { token: "lienthong".into() }
    );
    Token::open(hsm.module(), "lienthong", USER_PIN).expect("right PIN while open");
});

softhsm_test!(an_unknown_token_is_named_with_the_tokens_present, |hsm| {
    hsm.token("lienthong");
    let error = Token::open(hsm.module(), "other", USER_PIN).expect_err("no such token");
    assert_eq!(error, TokenError::NoSuchToken { label: "other".into(), present: vec!["lienthong".into()] });
    assert_eq!(
        token::init_token(hsm.module(), "lienthong", SO_PIN, USER_PIN).expect_err("exists"),
        TokenError::TokenExists("lienthong".into())
    );
});

softhsm_test!(a_module_that_is_not_pkcs11_is_a_clear_error, |_hsm| {
    let error = Token::open(Path::new("/nonexistent/libpkcs11.so"), "lienthong", USER_PIN).expect_err("no module");
    assert!(
        matches!(&error, TokenError::Module { path, .. } if path == Path::new("/nonexistent/libpkcs11.so")),
        "{error}"
    );
    assert!(error.to_string().contains("/nonexistent/libpkcs11.so"), "{error}");
});

// SoftHSM 2.6 counts no failed logins, so it never locks a PIN (checked: twelve wrong PINs, then
// the right one logs in); `TokenError::PinLocked` is only reachable on real devices. Unblocking
// itself, which a locked device needs, is tested here.
softhsm_test!(the_unblock_code_sets_a_new_pin_and_a_wrong_code_is_refused, |hsm| {
    let token = hsm.token("subscriber");
    token.generate("signing", KeyAlgorithm::P256).expect("key");
    assert_eq!(
        token::unblock(hsm.module(), "subscriber", SO_PIN, "new-pin-4321").expect_err("logged in as user"),
        TokenError::InUse { token: "subscriber".into() }
    );
    drop(token);
    assert_eq!(
        token::unblock(hsm.module(), "subscriber", "not-the-code", "new-pin-4321").expect_err("wrong code"),
        TokenError::WrongUnblockCode { token: "subscriber".into() }
    );
    Token::open(hsm.module(), "subscriber", USER_PIN).expect("the old PIN still works after a wrong code");
    token::check_unblock_code(hsm.module(), "subscriber", SO_PIN).expect("the right code");
    assert_eq!(
        token::check_unblock_code(hsm.module(), "subscriber", "not-the-code").expect_err("wrong code"),
        TokenError::WrongUnblockCode { token: "subscriber".into() }
    );
    token::unblock(hsm.module(), "subscriber", SO_PIN, "new-pin-4321").expect("unblocked");
    assert_eq!(
        Token::open(hsm.module(), "subscriber", USER_PIN).expect_err("old PIN"),
        TokenError::WrongPin { token: "subscriber".into() }
    );
    let token = Token::open(hsm.module(), "subscriber", "new-pin-4321").expect("new PIN");
    token.key("signing").expect("the key survived unblocking");
});

softhsm_test!(a_private_key_never_leaves_the_token, |hsm| {
    let token = hsm.token("lienthong");
    for (label, algorithm) in [("ec", KeyAlgorithm::P256), ("rsa", KeyAlgorithm::Rsa3072)] {
        let key = token.generate(label, algorithm).expect("key");
        assert_eq!(key.algorithm(), algorithm);
        assert_eq!(key.seal("correct horse battery").expect_err("seal"), KeyError::NotExportable);
        assert_eq!(key.to_unencrypted_pem().expect_err("export"), KeyError::NotExportable);
        let protection = token.protection(label).expect("attributes");
        assert!(protection.never_left_the_device(), "{label}: {protection:?}");
        let secrets = secret_attributes(hsm.module(), "lienthong", label);
        assert!(secrets.is_empty(), "{label}: the device gave out {secrets:?}");
    }
    let (code, text) = run(
        "pkcs11-tool",
        &[
            "--module",
            p(hsm.module()),
            "--token-label",
            "lienthong",
            "--login",
            "--pin",
            USER_PIN,
            "--list-objects",
            "--type",
            "privkey",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.matches("Access:     sensitive, always sensitive, never extractable, local").count(), 2, "{text}");
    assert_eq!(
        token.generate("ec", KeyAlgorithm::P256).expect_err("same label"),
        TokenError::KeyExists { token: "lienthong".into(), label: "ec".into() }
    );
    assert_eq!(
        token.key("missing").expect_err("no key"),
        TokenError::NoSuchKey { token: "lienthong".into(), label: "missing".into() }
    );
});

/// Asks the device, through a session of our own, for the private key's secret attributes; the
/// token opened by the test keeps this process logged in.
fn secret_attributes(module: &Path, token_label: &str, key_label: &str) -> Vec<AttributeType> {
    let pkcs11 = Pkcs11::new(module).expect("module");
    // Already initialised by the token crate in this process.
    let _ = pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = pkcs11
        .get_slots_with_initialized_token()
        .expect("slots")
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).is_ok_and(|i| i.label() == token_label))
        .expect("token");
    let session = pkcs11.open_ro_session(slot).expect("session");
    let template = [Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(key_label.as_bytes().to_vec())];
    let [key] = session.find_objects(&template).expect("find")[..] else { panic!("one private key {key_label}") };
    let secret = [AttributeType::Value, AttributeType::PrivateExponent, AttributeType::Prime1];
    session.get_attributes(key, &secret).expect("C_GetAttributeValue").iter().map(Attribute::attribute_type).collect()
}

softhsm_test!(many_threads_sign_at_once_and_every_ecdsa_signature_verifies, |hsm| {
    let token = hsm.token("lienthong");
    let key = token.generate("ca", KeyAlgorithm::P256).expect("key");
    let public_key =
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, key.der_bytes());
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let (key, public_key) = (&key, &public_key);
            scope.spawn(move || {
                for i in 0..64u8 {
                    let message = [thread, i];
                    let signature = key.sign(&message).expect("signs");
                    public_key.verify(&message, &signature).expect("verifies");
                }
            });
        }
    });
});
