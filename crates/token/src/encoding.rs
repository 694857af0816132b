//! The DER a device does not give us: SubjectPublicKeyInfo from key attributes, and the X.509
//! form of an ECDSA signature from PKCS#11's raw `r || s`.

use der::asn1::{BitString, ObjectIdentifier, UintRef};
use der::{Any, Encode as _, Sequence};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// id-ecPublicKey.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 (secp256r1).
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// rsaEncryption.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// CKA_EC_PARAMS for P-256: the curve's OID, DER-encoded.
pub(crate) fn p256_params() -> Result<Vec<u8>, der::Error> {
    PRIME256V1.to_der()
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// The SubjectPublicKeyInfo of a P-256 key whose CKA_EC_POINT is `ec_point`: PKCS#11 says it is
/// DER-wrapped in an OCTET STRING, some devices give the bare point; both are taken.
pub(crate) fn p256_spki(ec_point: &[u8]) -> Result<Vec<u8>, der::Error> {
    let point = match ec_point {
        [0x04, 0x41, rest @ ..] if rest.len() == 0x41 => rest,
        bare => bare,
    };
    if point.len() != 65 || point[0] != 0x04 {
        return Err(der::ErrorKind::Length { tag: der::Tag::BitString }.into());
    }
    let algorithm = AlgorithmIdentifierOwned { oid: EC_PUBLIC_KEY, parameters: Some(Any::from(&PRIME256V1)) };
    spki(algorithm, point)
}

/// The SubjectPublicKeyInfo of an RSA key.
pub(crate) fn rsa_spki(modulus: &[u8], public_exponent: &[u8]) -> Result<Vec<u8>, der::Error> {
    let key = RsaPublicKey { modulus: UintRef::new(modulus)?, public_exponent: UintRef::new(public_exponent)? };
    let algorithm = AlgorithmIdentifierOwned { oid: RSA_ENCRYPTION, parameters: Some(Any::null()) };
    spki(algorithm, &key.to_der()?)
}

fn spki(algorithm: AlgorithmIdentifierOwned, key: &[u8]) -> Result<Vec<u8>, der::Error> {
    SubjectPublicKeyInfoOwned { algorithm, subject_public_key: BitString::from_bytes(key)? }.to_der()
}

/// PKCS#11's ECDSA signature (`r || s`, each as long as the curve's order) as X.509 wants it:
/// a DER ECDSA-Sig-Value, with leading zeros stripped and a zero prepended to a high bit.
pub(crate) fn ecdsa_der(raw: &[u8]) -> Result<Vec<u8>, der::Error> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(der::ErrorKind::Length { tag: der::Tag::Sequence }.into());
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    EcdsaSigValue { r: UintRef::new(r)?, s: UintRef::new(s)? }.to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &[u8], der: &[u8]) {
        assert_eq!(ecdsa_der(raw).expect("encodes"), der);
    }

    #[test]
    fn ecdsa_integers_are_minimal_and_positive() {
        check(&[0x01, 0x02, 0x03, 0x04], &[0x30, 0x08, 0x02, 0x02, 0x01, 0x02, 0x02, 0x02, 0x03, 0x04]);
        check(&[0x00, 0x7f, 0x80, 0x00], &[0x30, 0x08, 0x02, 0x01, 0x7f, 0x02, 0x03, 0x00, 0x80, 0x00]);
        check(&[0x00, 0x00, 0xff, 0x01], &[0x30, 0x08, 0x02, 0x01, 0x00, 0x02, 0x03, 0x00, 0xff, 0x01]);
    }

    #[test]
    fn an_odd_length_signature_is_refused() {
        assert!(ecdsa_der(&[1, 2, 3]).is_err());
        assert!(ecdsa_der(&[]).is_err());
    }

    #[test]
    fn a_wrapped_and_a_bare_ec_point_give_the_same_key() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let wrapped = [&[0x04, 0x41][..], &point].concat();
        assert_eq!(p256_spki(&point).expect("bare"), p256_spki(&wrapped).expect("wrapped"));
        assert_eq!(p256_spki(&point).expect("bare").len(), 91);
    }
}
