//! OCSP (RFC 6960, with RFC 8954 nonces and RFC 5019's lightweight profile): requests parsed
//! within bounds, responses signed by a delegated responder whose certificate they carry.
//!
//! The ASN.1 is written here with `der` (the RustCrypto generation without published OCSP types).

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Any, Choice, Decode, Encode, Enumerated, Sequence, Tag};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::{Extension, Extensions};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::{CertSerial, KeyAlgorithm, KeyPair, RevocationReason};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// Largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Most certificates asked about in one request.
pub const MAX_REQUESTS: usize = 16;
/// Longest nonce accepted (RFC 8954).
pub const MAX_NONCE_BYTES: usize = 32;
/// How long a response may be cached by relying parties.
pub const RESPONSE_VALIDITY: time::Duration = time::Duration::hours(12);

#[derive(Clone, Debug, Sequence)]
struct OcspRequest {
    tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Sequence)]
struct Request {
    req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CertId {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: SerialNumber,
}

/// OCSPResponseStatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u32)]
pub enum ResponseStatus {
    /// A signed answer follows.
    Successful = 0,
    /// The request does not parse or breaks a bound.
    MalformedRequest = 1,
    /// The responder failed.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// The request must be signed.
    SigRequired = 5,
    /// The responder does not answer for this issuer.
    Unauthorized = 6,
}

#[derive(Clone, Debug, Sequence)]
struct OcspResponse {
    response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: ResponseData,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Certificate>>,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseData {
    responder_id: ResponderId,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Choice)]
enum ResponderId {
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

#[derive(Clone, Debug, Sequence)]
struct SingleResponse {
    cert_id: CertId,
    cert_status: CertStatus,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
}

#[derive(Clone, Debug, Choice)]
enum CertStatus {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

#[derive(Clone, Debug, Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<Any>,
}

/// Why a request gets no signed answer; each maps to an OCSP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// Larger than [`MAX_REQUEST_BYTES`].
    #[error("the OCSP request is {0} bytes, more than {MAX_REQUEST_BYTES}")]
    TooLarge(usize),
    /// Not a DER OCSPRequest.
    #[error("not an OCSP request: {0}")]
    Malformed(String),
    /// No certificate asked about, or more than [`MAX_REQUESTS`].
    #[error("an OCSP request must ask about 1 to {MAX_REQUESTS} certificates, not {0}")]
    RequestCount(usize),
    /// A nonce longer than [`MAX_NONCE_BYTES`].
    #[error("the nonce is {0} bytes, more than {MAX_NONCE_BYTES}")]
    NonceTooLong(usize),
    /// A hash algorithm other than SHA-1 or SHA-256 in a CertID.
    #[error("unsupported CertID hash algorithm {0}")]
    UnsupportedHash(String),
    /// A certificate of another issuer.
    #[error("this responder answers only for its own issuing CA")]
    OtherIssuer,
}

impl OcspError {
    /// The OCSP status sent back.
    pub fn status(&self) -> ResponseStatus {
        match self {
            Self::OtherIssuer => ResponseStatus::Unauthorized,
            _ => ResponseStatus::MalformedRequest,
        }
    }
}

/// A request that parsed within bounds and names our issuer: the serials asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    ids: Vec<CertId>,
    nonce: Option<Extension>,
}

impl ParsedRequest {
    /// The serials asked about, in request order.
    pub fn serials(&self) -> Vec<CertSerial> {
        self.ids.iter().map(|id| CertSerial::from_bytes(id.serial_number.as_bytes())).collect()
    }

    /// Whether the client sent a nonce (so the answer cannot come from a cache).
    pub fn has_nonce(&self) -> bool {
        self.nonce.is_some()
    }
}

/// What the authority knows of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateState {
    /// Issued by us and not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// When.
        at: OffsetDateTime,
        /// Why.
        reason: RevocationReason,
    },
    /// Not issued by us (or not known).
    Unknown,
}

/// A delegated OCSP responder for one issuing CA.
#[derive(Debug)]
pub struct OcspResponder {
    /// SHA-1 and SHA-256 of the issuer's name and key, to recognise its CertIDs.
    issuer_hashes: [(ObjectIdentifier, Vec<u8>, Vec<u8>); 2],
    responder_cert: Certificate,
    responder_key: KeyPair,
    responder_key_hash: Vec<u8>,
}

fn digest(algorithm: ObjectIdentifier, data: &[u8]) -> Vec<u8> {
    let algorithm =
        if algorithm == SHA1 { &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY } else { &aws_lc_rs::digest::SHA256 };
    aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
}

fn time(at: OffsetDateTime) -> Result<GeneralizedTime, String> {
    let at = at.replace_nanosecond(0).map_err(|e| e.to_string())?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(at.unix_timestamp().max(0) as u64))
        .map_err(|e| e.to_string())
}

impl OcspResponder {
    /// A responder for `issuing_ca_der`, signing with `responder_key` (whose certificate, of the
    /// `ocsp` profile, is `responder_cert_der`).
    pub fn new(issuing_ca_der: &[u8], responder_cert_der: &[u8], responder_key: KeyPair) -> Result<Self, String> {
        let issuer = Certificate::from_der(issuing_ca_der).map_err(|e| e.to_string())?;
        let responder_cert = Certificate::from_der(responder_cert_der).map_err(|e| e.to_string())?;
        let name = issuer.tbs_certificate().subject().to_der().map_err(|e| e.to_string())?;
        let key = issuer.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes().to_vec();
        let own_key =
            responder_cert.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes().to_vec();
        let hashes = |alg| (alg, digest(alg, &name), digest(alg, &key));
        Ok(Self {
            issuer_hashes: [hashes(SHA1), hashes(SHA256)],
            responder_cert,
            responder_key,
            responder_key_hash: digest(SHA1, &own_key),
        })
    }

    /// Parses a DER request within bounds and checks that it asks about our issuer only.
    pub fn parse(&self, der: &[u8]) -> Result<ParsedRequest, OcspError> {
        if der.len() > MAX_REQUEST_BYTES {
            return Err(OcspError::TooLarge(der.len()));
        }
        let request = OcspRequest::from_der(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
        let tbs = request.tbs_request;
        let count = tbs.request_list.len();
        if count == 0 || count > MAX_REQUESTS {
            return Err(OcspError::RequestCount(count));
        }
        let ids: Vec<CertId> = tbs.request_list.into_iter().map(|r| r.req_cert).collect();
        for id in &ids {
            self.check_issuer(id)?;
        }
        let nonce = tbs.request_extensions.unwrap_or_default().into_iter().find(|e| e.extn_id == OCSP_NONCE);
        if let Some(nonce) = &nonce {
            let length = nonce_length(nonce);
            if length > MAX_NONCE_BYTES {
                return Err(OcspError::NonceTooLong(length));
            }
        }
        Ok(ParsedRequest { ids, nonce })
    }

    fn check_issuer(&self, id: &CertId) -> Result<(), OcspError> {
        let algorithm = id.hash_algorithm.oid;
        let (_, name, key) = self
            .issuer_hashes
            .iter()
            .find(|(a, _, _)| *a == algorithm)
            .ok_or_else(|| OcspError::UnsupportedHash(algorithm.to_string()))?;
        if id.issuer_name_hash.as_bytes() != name || id.issuer_key_hash.as_bytes() != key {
            return Err(OcspError::OtherIssuer);
        }
        Ok(())
    }

    /// The signed answer: one state per serial, in the request's order.
    pub fn respond(
        &self,
        request: &ParsedRequest,
        states: &[CertificateState],
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, String> {
        let this_update = time(now)?;
        let next_update = time(now + RESPONSE_VALIDITY)?;
        let responses = request
            .ids
            .iter()
            .zip(states)
            .map(|(id, state)| {
                Ok(SingleResponse {
                    cert_id: id.clone(),
                    cert_status: cert_status(*state)?,
                    this_update,
                    next_update: Some(next_update),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let data = ResponseData {
            responder_id: ResponderId::ByKey(
                OctetString::new(self.responder_key_hash.clone()).map_err(|e| e.to_string())?,
            ),
            produced_at: this_update,
            responses,
            response_extensions: request.nonce.clone().map(|n| vec![n]),
        };
        self.sign(data)
    }

    fn sign(&self, data: ResponseData) -> Result<Vec<u8>, String> {
        let tbs = data.to_der().map_err(|e| e.to_string())?;
        let signature = rcgen::SigningKey::sign(&self.responder_key, &tbs).map_err(|e| e.to_string())?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: signature_algorithm(self.responder_key.algorithm()),
            signature: BitString::from_bytes(&signature).map_err(|e| e.to_string())?,
            certs: Some(vec![self.responder_cert.clone()]),
        };
        let response_bytes = ResponseBytes {
            response_type: OCSP_BASIC,
            response: OctetString::new(basic.to_der().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?,
        };
        OcspResponse { response_status: ResponseStatus::Successful, response_bytes: Some(response_bytes) }
            .to_der()
            .map_err(|e| e.to_string())
    }
}

/// The unsigned answer for a request that gets no signed one.
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    // Encoding a bare status cannot fail; an empty body would still tell the client nothing useful.
    OcspResponse { response_status: status, response_bytes: None }.to_der().unwrap_or_default()
}

fn nonce_length(extension: &Extension) -> usize {
    let value = extension.extn_value.as_bytes();
    OctetString::from_der(value).map(|inner| inner.as_bytes().len()).unwrap_or(value.len())
}

fn cert_status(state: CertificateState) -> Result<CertStatus, String> {
    Ok(match state {
        CertificateState::Good => CertStatus::Good(Null),
        CertificateState::Unknown => CertStatus::Unknown(Null),
        CertificateState::Revoked { at, reason } => {
            let reason = (reason != RevocationReason::Unspecified)
                .then(|| Any::new(Tag::Enumerated, vec![reason.code()]))
                .transpose()
                .map_err(|e| e.to_string())?;
            CertStatus::Revoked(RevokedInfo { revocation_time: time(at)?, revocation_reason: reason })
        }
    })
}

fn signature_algorithm(key: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    match key {
        KeyAlgorithm::P256 => AlgorithmIdentifierOwned { oid: ECDSA_SHA256, parameters: None },
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
            AlgorithmIdentifierOwned { oid: RSA_SHA256, parameters: Some(Any::from(Null)) }
        }
    }
}
