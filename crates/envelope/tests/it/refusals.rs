//! What `seal` and `open` refuse, and that no input makes them panic.

use envelope::{MAX_RECIPIENTS, OpenError, SealError, open, seal};
use pki::{KeyAlgorithm, Profile};

use crate::{Setup, content};

#[test]
fn an_envelope_for_someone_else_is_not_for_us() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let (addressee, other) = (setup.gateway("a", algorithm), setup.gateway("b", algorithm));
        let envelope = seal(b"secret", &[&addressee.cert_der]).expect("sealed");
        assert_eq!(open(&envelope, &other.cert_der, &other.key_der), Err(OpenError::NotForUs), "{algorithm}");
    }
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let setup = Setup::new();
    let (ec, ec2) = (setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("ec2", KeyAlgorithm::P256));
    let (rsa, rsa2) = (setup.gateway("rsa", KeyAlgorithm::Rsa2048), setup.gateway("rsa2", KeyAlgorithm::Rsa2048));
    let envelope = seal(b"secret", &[&ec.cert_der, &rsa.cert_der]).expect("sealed");
    assert_eq!(open(&envelope, &ec.cert_der, &ec2.key_der), Err(OpenError::KeyMismatch));
    assert_eq!(open(&envelope, &rsa.cert_der, &rsa2.key_der), Err(OpenError::KeyMismatch));
    assert!(matches!(open(&envelope, &ec.cert_der, &rsa.key_der), Err(OpenError::Key(_))));
    assert!(matches!(open(&envelope, &rsa.cert_der, &ec.key_der), Err(OpenError::Key(_))));
    assert!(matches!(open(&envelope, &rsa.cert_der, b"not a key"), Err(OpenError::Key(_))));
    assert!(matches!(open(&envelope, b"not a certificate", &rsa.key_der), Err(OpenError::Certificate(_))));
}

#[test]
fn a_signing_certificate_is_not_encrypted_to() {
    let setup = Setup::new();
    let subject = "CN=Văn phòng Chính phủ,O=Văn phòng Chính phủ,C=VN";
    for (algorithm, needed) in [(KeyAlgorithm::P256, "keyAgreement"), (KeyAlgorithm::Rsa2048, "keyEncipherment")] {
        let organization = setup.holder("org", Profile::Organization, subject, algorithm);
        let gateway = setup.gateway("gw", algorithm);
        let refused = seal(b"x", &[&gateway.cert_der, &organization.cert_der]);
        assert_eq!(refused, Err(SealError::KeyUsage { index: 1, needed }));
        let one = envelope::Recipient::parse(&organization.cert_der).expect_err("a signing certificate");
        assert_eq!(one.problem(), format!("the certificate's key usage does not include {needed}"));
    }
}

#[test]
fn seal_wants_one_to_max_recipients_that_are_certificates() {
    let setup = Setup::new();
    let gateway = setup.gateway("gw", KeyAlgorithm::P256);
    assert_eq!(seal(b"x", &[]), Err(SealError::RecipientCount(0)));
    let too_many = vec![gateway.cert_der.as_slice(); MAX_RECIPIENTS + 1];
    assert_eq!(seal(b"x", &too_many), Err(SealError::RecipientCount(MAX_RECIPIENTS + 1)));
    let most = vec![gateway.cert_der.as_slice(); MAX_RECIPIENTS];
    let envelope = seal(b"x", &most).expect("64 recipients");
    assert_eq!(open(&envelope, &gateway.cert_der, &gateway.key_der), Ok(b"x".to_vec()));
    let refused = seal(b"x", &[&gateway.cert_der, b"garbage"]);
    assert!(matches!(refused, Err(SealError::Certificate { index: 1, .. })), "{refused:?}");
}

#[test]
fn garbage_and_truncated_envelopes_are_malformed() {
    let setup = Setup::new();
    let gateway = setup.gateway("gw", KeyAlgorithm::P256);
    let envelope = seal(&content(100), &[&gateway.cert_der]).expect("sealed");
    for garbage in [&b""[..], b"\x30", b"\x30\x80\x00\x00", b"hello, hub", &[0xFF; 64]] {
        let opened = open(garbage, &gateway.cert_der, &gateway.key_der);
        assert!(matches!(opened, Err(OpenError::Malformed(_))), "{garbage:?}: {opened:?}");
    }
    for length in 0..envelope.len() {
        let opened = open(&envelope[..length], &gateway.cert_der, &gateway.key_der);
        assert!(matches!(opened, Err(OpenError::Malformed(_))), "truncated to {length}: {opened:?}");
    }
    let mut longer = envelope.clone();
    longer.push(0);
    assert!(matches!(open(&longer, &gateway.cert_der, &gateway.key_der), Err(OpenError::Malformed(_))));
}

/// Every single-bit change anywhere in an envelope (for each kind of recipient) is refused with
/// an error, never a panic and never content.
#[test]
fn no_bit_flip_anywhere_opens() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let gateway = setup.gateway("gw", algorithm);
        let envelope = seal(&content(40), &[&gateway.cert_der]).expect("sealed");
        for position in 0..envelope.len() {
            for bit in [0x01, 0x80] {
                let mut flipped = envelope.clone();
                flipped[position] ^= bit;
                let opened = open(&flipped, &gateway.cert_der, &gateway.key_der);
                assert!(opened.is_err(), "{algorithm}: byte {position} ^ {bit:#x} still opened");
            }
        }
    }
}
