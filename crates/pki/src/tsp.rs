//! Time-stamping (RFC 3161, with RFC 5816's signingCertificateV2): requests parsed within bounds,
//! tokens signed as CMS SignedData (RFC 5652) over a TSTInfo by a TSA whose certificate carries
//! the critical, timeStamping-only extended key usage.
//!
//! The ASN.1 is written here with `der` (the RustCrypto generation without published TSP or CMS
//! types). `const-oid` stops at 32-bit arcs, so the policy OID, a UUID arc under 2.25, has its
//! own type.

use std::fmt;

use der::asn1::{Any, BitString, GeneralizedTime, Int, Null, ObjectIdentifier, OctetString, SetOfVec, Uint};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Tagged, ValueOrd, Writer,
};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::{CertSerial, KeyAlgorithm, KeyPair};

/// The policy every token of this authority is issued under: a UUID OID (ITU-T X.667, arc 2.25),
/// from the random UUID 0e1e92cb-762c-45c4-b959-688914f62ad7 minted for lienthong.
pub const TSA_POLICY: &str = "2.25.18767938198436743956238380875629603543";
pub(crate) const TSA_POLICY_UUID: u128 = 0x0e1e92cb_762c_45c4_b959_688914f62ad7;

/// Largest request accepted, in bytes (a SHA-512 request with a nonce is under 150).
pub const MAX_TSP_REQUEST_BYTES: usize = 4 * 1024;
/// Longest nonce accepted, in bytes.
pub const MAX_TSP_NONCE_BYTES: usize = 32;
/// The accuracy stated in every token, in seconds: genTime is truncated to whole seconds.
pub const ACCURACY_SECONDS: u8 = 1;

const MD5: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub(crate) const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
pub(crate) const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub(crate) const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub(crate) const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub(crate) const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub(crate) const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub(crate) const SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// PKIStatus granted.
pub(crate) const GRANTED: u8 = 0;
/// PKIStatus rejection.
const REJECTION: u8 = 2;

/// The hash of a message imprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImprintHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl ImprintHash {
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        [(SHA256, Self::Sha256), (SHA384, Self::Sha384), (SHA512, Self::Sha512)]
            .into_iter()
            .find_map(|(known, hash)| (known == oid).then_some(hash))
    }

    /// The length of its digests, in bytes.
    pub fn output_bytes(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for ImprintHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        })
    }
}

/// A bit of PKIFailureInfo (RFC 3161 §2.4.2), as sent in a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureInfo {
    /// Unrecognized or unsupported algorithm.
    BadAlg = 0,
    /// Transaction not permitted or supported.
    BadRequest = 2,
    /// The data submitted has the wrong format.
    BadDataFormat = 5,
    /// The requested TSA policy is not supported.
    UnacceptedPolicy = 15,
    /// The requested extension is not supported.
    UnacceptedExtension = 16,
    /// The request cannot be handled due to a system failure.
    SystemFailure = 25,
}

impl FailureInfo {
    /// The bit's number in the PKIFailureInfo BIT STRING.
    pub fn bit(self) -> usize {
        self as usize
    }

    /// A named-bit BIT STRING with only this bit set (DER: no trailing zero bits).
    fn bit_string(self) -> Result<BitString, der::Error> {
        let bit = self.bit();
        let mut bytes = vec![0u8; bit / 8 + 1];
        if let Some(last) = bytes.last_mut() {
            *last = 0x80 >> (bit % 8);
        }
        BitString::new(7 - (bit % 8) as u8, bytes)
    }
}

/// Why a request gets no token, or the authority cannot be set up; each maps to a failure bit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TspError {
    /// Larger than [`MAX_TSP_REQUEST_BYTES`].
    #[error("the time-stamp request is {0} bytes, more than {MAX_TSP_REQUEST_BYTES}")]
    TooLarge(usize),
    /// Not a DER TimeStampReq.
    #[error("not a DER time-stamp request (RFC 3161 TimeStampReq): {0}")]
    Malformed(String),
    /// A TimeStampReq version other than 1.
    #[error("time-stamp request version {0} is not supported: only version 1 is")]
    Version(u8),
    /// A message imprint hashed with another algorithm than SHA-256, SHA-384 or SHA-512.
    #[error("the message imprint is hashed with {0}: use SHA-256, SHA-384 or SHA-512")]
    UnsupportedHash(String),
    /// A hashed message whose length does not fit its algorithm.
    #[error("a {hash} message imprint has {expected} bytes, not {found}")]
    ImprintLength {
        /// The algorithm named in the request.
        hash: ImprintHash,
        /// Its digest length.
        expected: usize,
        /// The length sent.
        found: usize,
    },
    /// A nonce longer than [`MAX_TSP_NONCE_BYTES`].
    #[error("the nonce is {0} bytes, more than {MAX_TSP_NONCE_BYTES}")]
    NonceTooLong(usize),
    /// A requested policy that is not [`TSA_POLICY`].
    #[error("policy {0} is not offered: this authority issues tokens under {TSA_POLICY} only")]
    UnacceptedPolicy(String),
    /// A request extension (none is supported).
    #[error("request extension {0} is not supported: send the request without extensions")]
    UnacceptedExtension(String),
    /// The TSA certificate or a chain certificate does not parse.
    #[error("not an X.509 certificate: {0}")]
    Certificate(String),
    /// The TSA certificate certifies another key than the signing key.
    #[error("the TSA certificate does not certify the TSA's signing key")]
    KeyMismatch,
    /// The TSA certificate lacks RFC 3161 §2.3's extended key usage.
    #[error("the TSA certificate must have a critical extended key usage holding only timeStamping")]
    NotTimeStamping,
    /// The TSA certificate is not yet or no longer valid.
    #[error("the TSA certificate is not valid at {0}")]
    OutsideValidity(OffsetDateTime),
    /// Encoding or signing the token failed.
    #[error("could not sign the time-stamp token: {0}")]
    Signing(String),
}

impl TspError {
    /// The PKIFailureInfo bit sent back.
    pub fn failure_info(&self) -> FailureInfo {
        match self {
            Self::TooLarge(_) | Self::NonceTooLong(_) => FailureInfo::BadRequest,
            Self::Malformed(_) | Self::Version(_) | Self::ImprintLength { .. } => FailureInfo::BadDataFormat,
            Self::UnsupportedHash(_) => FailureInfo::BadAlg,
            Self::UnacceptedPolicy(_) => FailureInfo::UnacceptedPolicy,
            Self::UnacceptedExtension(_) => FailureInfo::UnacceptedExtension,
            Self::Certificate(_)
            | Self::KeyMismatch
            | Self::NotTimeStamping
            | Self::OutsideValidity(_)
            | Self::Signing(_) => FailureInfo::SystemFailure,
        }
    }

    /// The TimeStampResp that refuses the request: PKIStatus rejection, a statusString saying
    /// what is wrong, and the failure bit.
    pub fn rejection(&self) -> Vec<u8> {
        let status = |fail_info| TimeStampResp {
            status: PkiStatusInfo { status: REJECTION, status_string: Some(vec![self.status_string()]), fail_info },
            time_stamp_token: None,
        };
        // Encoding a status cannot fail; the bare rejection is the fallback all the same.
        self.failure_info()
            .bit_string()
            .and_then(|bits| status(Some(bits)).to_der())
            .unwrap_or_else(|_| vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, REJECTION])
    }

    /// What the client is told: what is wrong with its request, or only that we failed.
    fn status_string(&self) -> String {
        match self.failure_info() {
            FailureInfo::SystemFailure => "the time-stamp authority cannot answer now; try again later".to_owned(),
            _ => self.to_string(),
        }
    }
}

fn signing(error: impl fmt::Display) -> TspError {
    TspError::Signing(error.to_string())
}

/// A request that parsed within bounds, with an imprint we can stamp and nothing we refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampRequest {
    imprint: MessageImprint,
    hash: ImprintHash,
    nonce: Option<Int>,
    cert_req: bool,
}

impl TimeStampRequest {
    /// The imprint's hash algorithm.
    pub fn hash(&self) -> ImprintHash {
        self.hash
    }

    /// The hashed message, as sent.
    pub fn hashed_message(&self) -> &[u8] {
        self.imprint.hashed_message.as_bytes()
    }

    /// The nonce's INTEGER content bytes, if the client sent one.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_ref().map(|n| n.as_bytes())
    }

    /// Whether the client asked for the TSA's certificate in the token (certReq).
    pub fn wants_certificate(&self) -> bool {
        self.cert_req
    }
}

/// A time-stamp authority: its certificate (profile `tsa`), the chain to send along, its key.
#[derive(Debug)]
pub struct TimeStampAuthority {
    cert: Certificate,
    cert_sha256: Vec<u8>,
    chain: Vec<Certificate>,
    key: KeyPair,
}

impl TimeStampAuthority {
    /// An authority signing with `key`, certified by `tsa_cert_der`; `chain_der` (the issuing
    /// CA, …; may be empty) goes into tokens for clients that ask for certificates.
    pub fn new(tsa_cert_der: &[u8], chain_der: Vec<Vec<u8>>, key: KeyPair) -> Result<Self, TspError> {
        let certificate = |der: &[u8]| Certificate::from_der(der).map_err(|e| TspError::Certificate(e.to_string()));
        let cert = certificate(tsa_cert_der)?;
        let spki = cert.tbs_certificate().subject_public_key_info().to_der().map_err(signing)?;
        if spki != key.public_key_der() {
            return Err(TspError::KeyMismatch);
        }
        if !is_time_stamping_only(&cert) {
            return Err(TspError::NotTimeStamping);
        }
        let chain = chain_der
            .iter()
            .filter(|der| der.as_slice() != tsa_cert_der)
            .map(|der| certificate(der))
            .collect::<Result<_, _>>()?;
        Ok(Self { cert, cert_sha256: sha256(tsa_cert_der), chain, key })
    }

    /// Parses a DER TimeStampReq within bounds and checks that we can grant it.
    pub fn parse_request(&self, der: &[u8]) -> Result<TimeStampRequest, TspError> {
        if der.len() > MAX_TSP_REQUEST_BYTES {
            return Err(TspError::TooLarge(der.len()));
        }
        let request = TimeStampReq::from_der(der).map_err(|e| TspError::Malformed(e.to_string()))?;
        if request.version != 1 {
            return Err(TspError::Version(request.version));
        }
        let hash = check_imprint(&request.message_imprint)?;
        if let Some(policy) = request.req_policy.filter(|p| *p != Oid::uuid(TSA_POLICY_UUID)) {
            return Err(TspError::UnacceptedPolicy(policy.to_string()));
        }
        if let Some(nonce) = request.nonce.as_ref().filter(|n| n.as_bytes().len() > MAX_TSP_NONCE_BYTES) {
            return Err(TspError::NonceTooLong(nonce.as_bytes().len()));
        }
        if let Some(extension) = request.extensions.unwrap_or_default().first() {
            return Err(TspError::UnacceptedExtension(extension.extn_id.to_string()));
        }
        Ok(TimeStampRequest {
            imprint: request.message_imprint,
            hash,
            nonce: request.nonce,
            cert_req: request.cert_req,
        })
    }

    /// The granted TimeStampResp for `request`, stamped `now` (whole seconds, UTC) with serial
    /// number `serial`, which the caller keeps unique (e.g. [`CertSerial::random`]) and records.
    pub fn respond(
        &self,
        request: &TimeStampRequest,
        serial: &CertSerial,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, TspError> {
        self.check_validity(now)?;
        let info = TstInfo {
            version: 1,
            policy: Oid::uuid(TSA_POLICY_UUID),
            message_imprint: request.imprint.clone(),
            serial_number: Uint::new(serial.as_bytes()).map_err(signing)?,
            gen_time: generalized_time(now)?,
            accuracy: Some(Accuracy { seconds: ACCURACY_SECONDS }),
            nonce: request.nonce.clone(),
            tsa: Some(GeneralName::DirectoryName(self.cert.tbs_certificate().subject().clone())),
        };
        let token = self.sign(&info.to_der().map_err(signing)?, request.cert_req)?;
        let response = TimeStampResp {
            status: PkiStatusInfo { status: GRANTED, status_string: None, fail_info: None },
            time_stamp_token: Some(token),
        };
        response.to_der().map_err(signing)
    }

    fn check_validity(&self, now: OffsetDateTime) -> Result<(), TspError> {
        let validity = self.cert.tbs_certificate().validity();
        let seconds = |time: x509_cert::time::Time| time.to_unix_duration().as_secs() as i128;
        let now_seconds = i128::from(now.unix_timestamp());
        if now_seconds < seconds(validity.not_before) || now_seconds > seconds(validity.not_after) {
            return Err(TspError::OutsideValidity(now));
        }
        Ok(())
    }

    /// ContentInfo(SignedData) with one SignerInfo over the DER TSTInfo `content`.
    fn sign(&self, content: &[u8], with_certificates: bool) -> Result<ContentInfo, TspError> {
        let signed_attrs = self.signed_attributes(content).map_err(signing)?;
        // The signature covers the attributes as an explicit SET OF (RFC 5652 §5.4).
        let signature =
            rcgen::SigningKey::sign(&self.key, &signed_attrs.to_der().map_err(signing)?).map_err(signing)?;
        let tbs = self.cert.tbs_certificate();
        let signer = SignerInfo {
            version: 1,
            sid: IssuerAndSerialNumber { issuer: tbs.issuer().clone(), serial_number: tbs.serial_number().clone() },
            digest_algorithm: sha256_algorithm(),
            signed_attrs,
            signature_algorithm: signature_algorithm(self.key.algorithm()),
            signature: OctetString::new(signature).map_err(signing)?,
        };
        let certificates = with_certificates
            .then(|| SetOfVec::try_from([&[self.cert.clone()][..], &self.chain].concat()))
            .transpose()
            .map_err(signing)?;
        let signed_data = SignedData {
            version: 3,
            digest_algorithms: SetOfVec::try_from([sha256_algorithm()]).map_err(signing)?,
            encap_content_info: EncapsulatedContentInfo {
                e_content_type: TST_INFO,
                e_content: Some(OctetString::new(content).map_err(signing)?),
            },
            certificates,
            signer_infos: SetOfVec::try_from([signer]).map_err(signing)?,
        };
        Ok(ContentInfo { content_type: SIGNED_DATA, content: Any::encode_from(&signed_data).map_err(signing)? })
    }

    /// contentType, messageDigest and signingCertificateV2, DER-sorted.
    fn signed_attributes(&self, content: &[u8]) -> Result<SetOfVec<Attribute>, der::Error> {
        let tbs = self.cert.tbs_certificate();
        let signing_certificate = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(self.cert_sha256.clone())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                }),
            }],
        };
        SetOfVec::try_from([
            attribute(CONTENT_TYPE, &TST_INFO)?,
            attribute(MESSAGE_DIGEST, &OctetString::new(sha256(content))?)?,
            attribute(SIGNING_CERTIFICATE_V2, &signing_certificate)?,
        ])
    }
}

fn check_imprint(imprint: &MessageImprint) -> Result<ImprintHash, TspError> {
    let algorithm = &imprint.hash_algorithm;
    let hash =
        ImprintHash::from_oid(algorithm.oid).ok_or_else(|| TspError::UnsupportedHash(hash_name(algorithm.oid)))?;
    if algorithm.parameters.as_ref().is_some_and(|p| *p != Any::from(Null)) {
        return Err(TspError::Malformed(format!("{hash} takes no parameters (or NULL)")));
    }
    let found = imprint.hashed_message.as_bytes().len();
    if found != hash.output_bytes() {
        return Err(TspError::ImprintLength { hash, expected: hash.output_bytes(), found });
    }
    Ok(hash)
}

fn hash_name(oid: ObjectIdentifier) -> String {
    match oid {
        SHA1 => format!("SHA-1 ({oid})"),
        MD5 => format!("MD5 ({oid})"),
        _ => oid.to_string(),
    }
}

pub(crate) fn is_time_stamping_only(cert: &Certificate) -> bool {
    let ekus: Vec<_> =
        cert.tbs_certificate().extensions().into_iter().flatten().filter(|e| e.extn_id == EXTENDED_KEY_USAGE).collect();
    matches!(ekus[..], [eku] if eku.critical && eku.extn_value.as_bytes() == crate::der::time_stamping_only())
}

fn attribute(oid: ObjectIdentifier, value: &(impl Tagged + EncodeValue)) -> Result<Attribute, der::Error> {
    Ok(Attribute { oid, values: SetOfVec::try_from([Any::encode_from(value)?])? })
}

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: SHA256, parameters: None }
}

fn signature_algorithm(key: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    match key {
        KeyAlgorithm::P256 => AlgorithmIdentifierOwned { oid: ECDSA_SHA256, parameters: None },
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
            AlgorithmIdentifierOwned { oid: RSA_SHA256, parameters: Some(Any::from(Null)) }
        }
    }
}

fn generalized_time(at: OffsetDateTime) -> Result<GeneralizedTime, TspError> {
    let seconds = u64::try_from(at.unix_timestamp()).map_err(|_| signing(format!("{at} is before 1970")))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds)).map_err(signing)
}

/// An OBJECT IDENTIFIER whose arcs may exceed 32 bits (as 2.25 UUID arcs do), kept as its DER
/// content octets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Oid(Vec<u8>);

impl Oid {
    /// `2.25.<uuid>` (ITU-T X.667).
    pub(crate) fn uuid(uuid: u128) -> Self {
        let mut arc = Vec::new();
        let mut rest = uuid;
        loop {
            arc.push((rest & 0x7F) as u8 | if arc.is_empty() { 0 } else { 0x80 });
            rest >>= 7;
            if rest == 0 {
                break;
            }
        }
        arc.reverse();
        Self([&[2 * 40 + 25][..], &arc].concat())
    }

    /// The subidentifiers, or `None` for one over 128 bits.
    fn subidentifiers(&self) -> Option<Vec<u128>> {
        let mut out = Vec::new();
        let mut current: u128 = 0;
        for byte in &self.0 {
            current = current.checked_mul(0x80)?.checked_add(u128::from(byte & 0x7F))?;
            if byte & 0x80 == 0 {
                out.push(current);
                current = 0;
            }
        }
        Some(out)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(subidentifiers) = self.subidentifiers() else {
            return write!(f, "an OID with an arc over 128 bits");
        };
        for (i, sub) in subidentifiers.into_iter().enumerate() {
            match (i, sub) {
                (0, 0..40) => write!(f, "0.{sub}")?,
                (0, 40..80) => write!(f, "1.{}", sub - 40)?,
                (0, _) => write!(f, "2.{}", sub - 80)?,
                _ => write!(f, ".{sub}")?,
            }
        }
        Ok(())
    }
}

impl FixedTag for Oid {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl<'a> DecodeValue<'a> for Oid {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> Result<Self, der::Error> {
        let bytes = reader.read_vec(header.length())?;
        // Non-empty, the last subidentifier complete, none padded with a leading 0x80 (X.690 §8.19.2).
        let complete = bytes.last().is_some_and(|b| b & 0x80 == 0);
        let padded = bytes.split_inclusive(|b| b & 0x80 == 0).any(|sub| sub.first() == Some(&0x80));
        if !complete || padded {
            return Err(reader.error(Tag::ObjectIdentifier.value_error()));
        }
        Ok(Self(bytes))
    }
}

impl EncodeValue for Oid {
    fn value_len(&self) -> Result<Length, der::Error> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> Result<(), der::Error> {
        writer.write(&self.0)
    }
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct TimeStampReq {
    pub(crate) version: u8,
    pub(crate) message_imprint: MessageImprint,
    pub(crate) req_policy: Option<Oid>,
    pub(crate) nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    pub(crate) cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) extensions: Option<Vec<RequestExtension>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct MessageImprint {
    pub(crate) hash_algorithm: AlgorithmIdentifierOwned,
    pub(crate) hashed_message: OctetString,
}

/// An Extension whose OID may have wide arcs: only its name is used, to refuse it.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct RequestExtension {
    pub(crate) extn_id: Oid,
    #[asn1(default = "Default::default")]
    pub(crate) critical: bool,
    pub(crate) extn_value: OctetString,
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct TimeStampResp {
    pub(crate) status: PkiStatusInfo,
    pub(crate) time_stamp_token: Option<ContentInfo>,
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct PkiStatusInfo {
    pub(crate) status: u8,
    pub(crate) status_string: Option<Vec<String>>,
    pub(crate) fail_info: Option<BitString>,
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct ContentInfo {
    pub(crate) content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(crate) content: Any,
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct SignedData {
    pub(crate) version: u8,
    pub(crate) digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    pub(crate) encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) certificates: Option<SetOfVec<Certificate>>,
    pub(crate) signer_infos: SetOfVec<SignerInfo>,
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct EncapsulatedContentInfo {
    pub(crate) e_content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) e_content: Option<OctetString>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
pub(crate) struct SignerInfo {
    pub(crate) version: u8,
    pub(crate) sid: IssuerAndSerialNumber,
    pub(crate) digest_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    pub(crate) signed_attrs: SetOfVec<Attribute>,
    pub(crate) signature_algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: OctetString,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
pub(crate) struct IssuerAndSerialNumber {
    pub(crate) issuer: Name,
    pub(crate) serial_number: SerialNumber,
}

#[derive(Clone, Debug, Sequence)]
struct TstInfo {
    version: u8,
    policy: Oid,
    message_imprint: MessageImprint,
    serial_number: Uint,
    gen_time: GeneralizedTime,
    accuracy: Option<Accuracy>,
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
}

#[derive(Clone, Debug, Sequence)]
struct Accuracy {
    seconds: u8,
}

#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// ESSCertIDv2 with hashAlgorithm left out: SHA-256 is its DEFAULT, which DER omits.
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Sequence)]
pub(crate) struct IssuerSerial {
    pub(crate) issuer: Vec<GeneralName>,
    pub(crate) serial_number: SerialNumber,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_constant_is_the_uuid_arc() {
        assert_eq!(Oid::uuid(TSA_POLICY_UUID).to_string(), TSA_POLICY);
        let decoded = Oid::from_der(&Oid::uuid(TSA_POLICY_UUID).to_der().expect("encodes")).expect("decodes");
        assert_eq!(decoded, Oid::uuid(TSA_POLICY_UUID));
        assert_eq!(Oid(vec![0x2A, 0x86, 0x48]).to_string(), "1.2.840");
        assert!(Oid::from_der(&[0x06, 0x02, 0x2A, 0x86]).is_err(), "unfinished arc");
        assert!(Oid::from_der(&[0x06, 0x03, 0x2A, 0x80, 0x01]).is_err(), "padded arc");
    }
}
