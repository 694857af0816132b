//! Interoperability with OpenSSL 3.0's `cms` command, both ways.

use pki::KeyAlgorithm;

use crate::{Holder, Setup, content, openssl_decrypt, p, run};

/// `openssl cms -encrypt -aes-256-gcm` (which writes AuthEnvelopedData) for `recipients`, with
/// extra options (`-keyid`, `-keyopt …`) before the certificates.
pub fn openssl_encrypt(setup: &Setup, document: &[u8], options: &[&str], recipients: &[&Holder]) -> Vec<u8> {
    let input = setup.write("plain.bin", document);
    let output = setup.path("openssl-env.der");
    let mut args = vec!["cms", "-encrypt", "-aes-256-gcm", "-binary", "-outform", "DER", "-in", p(&input)];
    args.extend(["-out", p(&output)]);
    for holder in recipients {
        args.extend(["-recip", p(&holder.cert_pem)]);
        args.extend(options);
    }
    let (code, text) = run("openssl", &args);
    assert_eq!(code, 0, "openssl cms -encrypt {options:?}: {text}");
    std::fs::read(&output).expect("openssl's envelope")
}

fn openssl_print(setup: &Setup, envelope: &[u8]) -> String {
    let input = setup.write("print.der", envelope);
    let (code, text) = run("openssl", &["cms", "-cmsout", "-print", "-inform", "DER", "-in", p(&input)]);
    assert_eq!(code, 0, "{text}");
    text
}

#[test]
fn openssl_decrypts_what_we_seal_for_p256_and_rsa() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let holder = setup.gateway("gw", algorithm);
        let document = content(100_003);
        let envelope = envelope::seal(&document, &[&holder.cert_der]).expect("sealed");
        assert_eq!(openssl_decrypt(&setup, &envelope, &holder), Ok(document), "{algorithm}");
    }
}

#[test]
fn openssl_reads_our_structure_as_rfc_5083_aes_256_gcm() {
    let setup = Setup::new();
    let (p256, rsa) = (setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048));
    let envelope = envelope::seal(b"x", &[&p256.cert_der, &rsa.cert_der]).expect("sealed");
    let text = openssl_print(&setup, &envelope);
    for expected in [
        "contentType: id-smime-ct-authEnvelopedData",
        "algorithm: aes-256-gcm",
        "algorithm: rsaesOaep",
        "algorithm: dhSinglePass-stdDH-sha256kdf-scheme",
        ":id-aes256-wrap",
        ":mgf1",
        "INTEGER           :10",
        "algorithm: id-ecPublicKey",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn we_open_what_openssl_encrypts() {
    let setup = Setup::new();
    let (p256, rsa) = (setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048));
    let oaep = ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256"];
    let cases: [(&str, &[&str], &Holder); 7] = [
        ("P-256, OpenSSL's defaults (SHA-1 KDF, AES-256 wrap)", &[], &p256),
        ("P-256, SHA-256 KDF", &["-keyopt", "ecdh_kdf_md:sha256"], &p256),
        ("P-256, by subject key identifier", &["-keyid"], &p256),
        ("RSA, OpenSSL's default PKCS#1 v1.5", &[], &rsa),
        ("RSA-OAEP SHA-256", &oaep, &rsa),
        ("RSA-OAEP SHA-1", &["-keyopt", "rsa_padding_mode:oaep"], &rsa),
        ("RSA, by subject key identifier", &["-keyid"], &rsa),
    ];
    for (case, options, holder) in cases {
        let document = content(70_001);
        let envelope = openssl_encrypt(&setup, &document, options, &[holder]);
        let opened = envelope::open(&envelope, &holder.cert_der, &holder.key_der);
        assert_eq!(opened.as_deref().map_err(Clone::clone), Ok(&document[..]), "{case}");
        let mut streamed = Vec::new();
        let opened = envelope::open_to(&envelope, &holder.cert_der, &holder.key_der, &mut streamed);
        assert_eq!(opened, Ok(document.len() as u64), "{case}, open_to");
        assert!(streamed == document, "{case}, open_to");
    }
}

#[test]
fn we_open_an_openssl_envelope_for_several_recipients() {
    let setup = Setup::new();
    let holders = [setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048)];
    let envelope = openssl_encrypt(&setup, b"for both", &[], &[&holders[0], &holders[1]]);
    for holder in &holders {
        assert_eq!(envelope::open(&envelope, &holder.cert_der, &holder.key_der), Ok(b"for both".to_vec()));
    }
}

#[test]
fn a_tampered_envelope_fails_here_and_in_openssl() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let holder = setup.gateway("gw", algorithm);
        let document = content(1000);
        let envelope = envelope::seal(&document, &[&holder.cert_der]).expect("sealed");
        let tag_start = envelope.len() - 16;
        for (what, position) in
            [("ciphertext", tag_start - 2 - 500), ("last ciphertext byte", tag_start - 3), ("tag", tag_start + 7)]
        {
            let mut tampered = envelope.clone();
            tampered[position] ^= 0x01;
            let opened = envelope::open(&tampered, &holder.cert_der, &holder.key_der);
            assert_eq!(opened, Err(envelope::OpenError::Tampered), "{algorithm}, {what}");
            assert!(openssl_decrypt(&setup, &tampered, &holder).is_err(), "openssl accepted a tampered {what}");
        }
    }
}
