//! What an envelope needs from a certificate: how a RecipientInfo names it, and its public key.

use der::asn1::{BitStringRef, ObjectIdentifier};
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{KeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::SubjectPublicKeyInfoRef;

use crate::asn1::{EC_PUBLIC_KEY, IssuerAndSerialNumber, P256, RSA_ENCRYPTION};

/// A certificate's identity and key, as envelopes use them.
#[derive(Debug)]
pub(crate) struct Party {
    /// The issuer Name, DER-encoded.
    issuer: Vec<u8>,
    /// The serial number's INTEGER contents.
    serial: Vec<u8>,
    /// The subjectKeyIdentifier extension, if any.
    ski: Option<Vec<u8>>,
    key_usage: Option<KeyUsage>,
    pub(crate) key: PublicKey,
}

/// Why a certificate cannot take part in an envelope.
#[derive(Debug)]
pub(crate) enum Unusable {
    /// It is not a DER X.509 certificate.
    Certificate(String),
    /// Its key is neither RSA nor P-256.
    Key(String),
}

/// The kinds of key a content key can be wrapped for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// An RSA key: its SubjectPublicKeyInfo (as aws-lc-rs reads it) and the RSAPublicKey inside.
    Rsa { spki: Vec<u8>, bits: Vec<u8> },
    /// A P-256 key: the uncompressed point.
    P256 { point: Vec<u8> },
}

impl Party {
    /// Reads a DER certificate with an RSA or P-256 key.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, Unusable> {
        let bad = |e: der::Error| Unusable::Certificate(e.to_string());
        let certificate = Certificate::from_der(der).map_err(bad)?;
        let tbs = certificate.tbs_certificate();
        let spki = tbs.subject_public_key_info().to_der().map_err(bad)?;
        let ski = tbs.get_extension::<SubjectKeyIdentifier>().map_err(bad)?;
        let key_usage = tbs.get_extension::<KeyUsage>().map_err(bad)?;
        Ok(Self {
            issuer: tbs.issuer().to_der().map_err(bad)?,
            serial: tbs.serial_number().as_bytes().to_vec(),
            ski: ski.map(|(_, ski)| ski.0.as_bytes().to_vec()),
            key_usage: key_usage.map(|(_, usage)| usage),
            key: PublicKey::from_spki(&spki).map_err(Unusable::Key)?,
        })
    }

    /// The identifier [`crate::seal`] writes.
    pub(crate) fn issuer_and_serial(&self) -> der::Result<IssuerAndSerialNumber<'_>> {
        Ok(IssuerAndSerialNumber {
            issuer: der::asn1::AnyRef::from_der(&self.issuer)?,
            serial_number: der::asn1::IntRef::new(&self.serial)?,
        })
    }

    /// Whether `id` names this certificate.
    pub(crate) fn is(&self, id: &IssuerAndSerialNumber<'_>) -> bool {
        id.serial_number.as_bytes() == self.serial.as_slice() && id.issuer.to_der().is_ok_and(|der| der == self.issuer)
    }

    /// Whether `ski` is this certificate's subject key identifier.
    pub(crate) fn has_key_id(&self, ski: &[u8]) -> bool {
        self.ski.as_deref() == Some(ski)
    }

    /// The key usage encryption to this key needs, if the certificate restricts it and lacks it.
    pub(crate) fn missing_key_usage(&self) -> Option<&'static str> {
        let usage = self.key_usage.as_ref()?;
        match self.key {
            PublicKey::Rsa { .. } => (!usage.key_encipherment()).then_some("keyEncipherment"),
            PublicKey::P256 { .. } => (!usage.key_agreement()).then_some("keyAgreement"),
        }
    }
}

impl PublicKey {
    /// The key of a DER SubjectPublicKeyInfo: RSA or P-256.
    pub(crate) fn from_spki(der: &[u8]) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| e.to_string())?;
        let bits = key_bits(spki.subject_public_key)?;
        let algorithm = spki.algorithm.oid;
        if algorithm == RSA_ENCRYPTION {
            return Ok(Self::Rsa { spki: der.to_vec(), bits: bits.to_vec() });
        }
        let curve = spki.algorithm.parameters.and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match (algorithm == EC_PUBLIC_KEY, curve) {
            (true, Some(P256)) => Ok(Self::P256 { point: bits.to_vec() }),
            (true, curve) => Err(format!("an EC key on curve {curve:?}: only P-256 is supported")),
            (false, _) => Err(format!("a key of algorithm {algorithm}: only RSA and P-256 are supported")),
        }
    }
}

fn key_bits(bits: BitStringRef<'_>) -> Result<&[u8], String> {
    bits.as_bytes().ok_or_else(|| "the public key is not a whole number of bytes".to_owned())
}
