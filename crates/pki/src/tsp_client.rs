//! The client side of time-stamping (RFC 3161): a request for a SHA-256 imprint, the token taken
//! out of an authority's reply, and a token verified the way a relying party must: the signature
//! over the signed attributes, the content digest, the ESS signing certificate, the chain to a
//! trusted root at the stamped time, the timeStamping-only purpose, and the imprint.

use der::asn1::{Any, GeneralizedTime, Int, OctetString, Uint};
use der::{Decode, Encode, Sequence};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use time::OffsetDateTime;
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::tsp::{
    CONTENT_TYPE, ContentInfo, ECDSA_SHA256, GRANTED, MESSAGE_DIGEST, MessageImprint, Oid, RSA_SHA256, SHA256,
    SIGNED_DATA, SIGNING_CERTIFICATE_V2, SignedData, SignerInfo, TST_INFO, TimeStampReq, TimeStampResp,
    is_time_stamping_only, sha256,
};

/// Largest reply or token read, in bytes (a token with a three-certificate chain is under 5 KiB).
pub const MAX_TSP_REPLY_BYTES: usize = 64 * 1024;

/// rsaEncryption.
const RSA_ENCRYPTION: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// PKIStatus grantedWithMods.
const GRANTED_WITH_MODS: u8 = 1;
/// id-kp-timeStamping, DER content of the OID.
const TIME_STAMPING: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Why a reply holds no usable token, or a token does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Larger than [`MAX_TSP_REPLY_BYTES`].
    #[error("the time-stamp reply or token is {0} bytes, more than {MAX_TSP_REPLY_BYTES}")]
    TooLarge(usize),
    /// Not the DER structure expected.
    #[error("not a DER time-stamp reply or token: {0}")]
    Malformed(String),
    /// The authority refused the request.
    #[error("the time-stamp authority refused (status {status}): {text}")]
    Rejected {
        /// The PKIStatus.
        status: u8,
        /// Its statusString, if any.
        text: String,
    },
    /// The token uses an algorithm we do not verify.
    #[error("unsupported algorithm in the token: {0}")]
    Unsupported(String),
    /// The token stamps another imprint than the one expected.
    #[error("the token stamps another hash than the one expected")]
    ImprintMismatch,
    /// The token carries no certificate matching its signer.
    #[error("the token does not carry its signer's certificate")]
    NoSignerCertificate,
    /// The signed attributes do not name the signer certificate (RFC 5816 ESS).
    #[error("the token's signing-certificate attribute does not match its signer")]
    SigningCertificateMismatch,
    /// The signed content-type or message-digest attribute does not match the content.
    #[error("the token's signed attributes do not match its content")]
    ContentMismatch,
    /// The signature does not verify with the signer certificate's key.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The signer certificate does not chain to a trusted root at the stamped time.
    #[error("the time-stamp authority's certificate is not trusted: {0}")]
    Untrusted(String),
    /// The signer certificate is not for time-stamping only (RFC 3161 §2.3).
    #[error("the signer's certificate lacks the critical timeStamping-only extended key usage")]
    NotTimeStamping,
}

fn malformed(error: impl std::fmt::Display) -> TokenError {
    TokenError::Malformed(error.to_string())
}

/// A DER TimeStampReq (version 1) for the SHA-256 digest `sha256`, asking for the authority's
/// certificates in the token, with `nonce` (its big-endian bytes, made positive).
pub fn timestamp_request(sha256: &[u8; 32], nonce: u64) -> Result<Vec<u8>, TokenError> {
    let request = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned { oid: SHA256, parameters: None },
            hashed_message: OctetString::new(sha256.to_vec()).map_err(malformed)?,
        },
        req_policy: None,
        nonce: Some(nonce_int(nonce)?),
        cert_req: true,
        extensions: None,
    };
    request.to_der().map_err(malformed)
}

fn nonce_int(nonce: u64) -> Result<Int, TokenError> {
    Ok(Int::from(Uint::new(&nonce.to_be_bytes()).map_err(malformed)?))
}

/// The token (DER ContentInfo) in a granted TimeStampResp; a refusal is [`TokenError::Rejected`].
pub fn token_from_reply(reply: &[u8]) -> Result<Vec<u8>, TokenError> {
    if reply.len() > MAX_TSP_REPLY_BYTES {
        return Err(TokenError::TooLarge(reply.len()));
    }
    let response = TimeStampResp::from_der(reply).map_err(malformed)?;
    let status = response.status.status;
    if status != GRANTED && status != GRANTED_WITH_MODS {
        let text = response.status.status_string.unwrap_or_default().join("; ");
        return Err(TokenError::Rejected { status, text });
    }
    let token = response.time_stamp_token.ok_or_else(|| malformed("a granted reply without a token"))?;
    token.to_der().map_err(malformed)
}

/// What a verified token states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimeStamp {
    gen_time: OffsetDateTime,
    serial: Vec<u8>,
    nonce: Option<Vec<u8>>,
    authority: String,
}

impl VerifiedTimeStamp {
    /// When the authority stamped the imprint (UTC, whole seconds).
    pub fn gen_time(&self) -> OffsetDateTime {
        self.gen_time
    }

    /// The token's serial number (big-endian bytes).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The nonce echoed from the request, if any (INTEGER content bytes).
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// Whether the token echoes `nonce` as [`timestamp_request`] sent it.
    pub fn echoes(&self, nonce: u64) -> bool {
        nonce_int(nonce).is_ok_and(|sent| self.nonce() == Some(sent.as_bytes()))
    }

    /// The authority's certificate subject.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// Verifies the DER token `token` (a ContentInfo) over the SHA-256 digest `sha256`, against the
/// trusted roots `roots_der`; intermediates are taken from the token.
pub fn verify_token(
    token: &[u8],
    sha256_digest: &[u8],
    roots_der: &[Vec<u8>],
) -> Result<VerifiedTimeStamp, TokenError> {
    if token.len() > MAX_TSP_REPLY_BYTES {
        return Err(TokenError::TooLarge(token.len()));
    }
    let (signed, content) = signed_content(token)?;
    let info = TstInfoView::from_der(&content).map_err(malformed)?;
    if info.version != 1 {
        return Err(malformed(format!("TSTInfo version {}", info.version)));
    }
    check_imprint(&info.message_imprint, sha256_digest)?;
    let [signer] = signed.signer_infos.as_slice() else {
        return Err(malformed("a time-stamp token has exactly one signer"));
    };
    let certificates = signed.certificates.as_ref().map(|c| c.as_slice()).unwrap_or_default();
    let certificate = signer_certificate(signer, certificates)?;
    let certificate_der = certificate.to_der().map_err(malformed)?;
    check_signed_attributes(signer, &content, &certificate_der)?;
    check_signature(signer, &certificate_der)?;
    let gen_time = offset_time(info.gen_time)?;
    check_chain(&certificate_der, certificates, roots_der, gen_time)?;
    if !is_time_stamping_only(certificate) {
        return Err(TokenError::NotTimeStamping);
    }
    Ok(VerifiedTimeStamp {
        gen_time,
        serial: info.serial_number.as_bytes().to_vec(),
        nonce: info.nonce.map(|n| n.as_bytes().to_vec()),
        authority: certificate.tbs_certificate().subject().to_string(),
    })
}

/// The SignedData and its encapsulated TSTInfo bytes.
fn signed_content(token: &[u8]) -> Result<(SignedData, Vec<u8>), TokenError> {
    let info = ContentInfo::from_der(token).map_err(malformed)?;
    if info.content_type != SIGNED_DATA {
        return Err(malformed(format!("content type {} is not SignedData", info.content_type)));
    }
    let signed: SignedData = info.content.decode_as().map_err(malformed)?;
    if signed.encap_content_info.e_content_type != TST_INFO {
        return Err(malformed("the signed content is not a TSTInfo"));
    }
    let content = signed.encap_content_info.e_content.as_ref().ok_or_else(|| malformed("no TSTInfo"))?;
    let content = content.as_bytes().to_vec();
    Ok((signed, content))
}

fn check_imprint(imprint: &MessageImprint, expected: &[u8]) -> Result<(), TokenError> {
    if imprint.hash_algorithm.oid != SHA256 {
        return Err(TokenError::Unsupported(format!("imprint hashed with {}", imprint.hash_algorithm.oid)));
    }
    if imprint.hashed_message.as_bytes() != expected {
        return Err(TokenError::ImprintMismatch);
    }
    Ok(())
}

fn signer_certificate<'c>(signer: &SignerInfo, certificates: &'c [Certificate]) -> Result<&'c Certificate, TokenError> {
    certificates
        .iter()
        .find(|c| {
            let tbs = c.tbs_certificate();
            *tbs.issuer() == signer.sid.issuer && *tbs.serial_number() == signer.sid.serial_number
        })
        .ok_or(TokenError::NoSignerCertificate)
}

/// content-type is TSTInfo, message-digest is the content's SHA-256, and signingCertificateV2
/// names the signer certificate by its SHA-256.
fn check_signed_attributes(signer: &SignerInfo, content: &[u8], certificate_der: &[u8]) -> Result<(), TokenError> {
    if signer.digest_algorithm.oid != SHA256 {
        return Err(TokenError::Unsupported(format!("digest {}", signer.digest_algorithm.oid)));
    }
    let value = |oid| -> Result<&Any, TokenError> {
        let attribute: &Attribute =
            signer.signed_attrs.iter().find(|a| a.oid == oid).ok_or(TokenError::ContentMismatch)?;
        match attribute.values.as_slice() {
            [value] => Ok(value),
            _ => Err(malformed(format!("attribute {oid} has more than one value"))),
        }
    };
    let content_type: der::asn1::ObjectIdentifier = value(CONTENT_TYPE)?.decode_as().map_err(malformed)?;
    let digest: OctetString = value(MESSAGE_DIGEST)?.decode_as().map_err(malformed)?;
    if content_type != TST_INFO || digest.as_bytes() != sha256(content) {
        return Err(TokenError::ContentMismatch);
    }
    let ess = value(SIGNING_CERTIFICATE_V2).map_err(|_| TokenError::SigningCertificateMismatch)?;
    let ess: SigningCertificateV2View = ess.decode_as().map_err(malformed)?;
    let first = ess.certs.first().ok_or(TokenError::SigningCertificateMismatch)?;
    if first.hash_algorithm.as_ref().is_some_and(|a| a.oid != SHA256) {
        return Err(TokenError::Unsupported("a signing certificate hashed with another hash than SHA-256".into()));
    }
    if first.cert_hash.as_bytes() != sha256(certificate_der) {
        return Err(TokenError::SigningCertificateMismatch);
    }
    Ok(())
}

/// The signature over the DER SET OF signed attributes (RFC 5652 §5.4).
fn check_signature(signer: &SignerInfo, certificate_der: &[u8]) -> Result<(), TokenError> {
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    use x509_parser::prelude::FromDer as _;
    let algorithm: &dyn signature::VerificationAlgorithm = match signer.signature_algorithm.oid {
        ECDSA_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
        // rsaEncryption with a SHA-256 digest, as OpenSSL's PKCS#7 signer writes it, is the same.
        RSA_SHA256 | RSA_ENCRYPTION => &signature::RSA_PKCS1_2048_8192_SHA256,
        other => return Err(TokenError::Unsupported(format!("signature algorithm {other}"))),
    };
    let (_, certificate) = x509_parser::certificate::X509Certificate::from_der(certificate_der).map_err(malformed)?;
    let key = certificate.public_key().subject_public_key.data.as_ref();
    let signed = signer.signed_attrs.to_der().map_err(malformed)?;
    UnparsedPublicKey::new(algorithm, key)
        .verify(&signed, signer.signature.as_bytes())
        .map_err(|_| TokenError::BadSignature)
}

/// The signer certificate chains to one of `roots_der` through the token's other certificates,
/// at `at` (the stamped time).
fn check_chain(
    certificate_der: &[u8],
    certificates: &[Certificate],
    roots_der: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), TokenError> {
    let roots = roots_der
        .iter()
        .map(|der| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map(|anchor| anchor.to_owned())
                .map_err(|e| TokenError::Untrusted(format!("the trusted root does not parse: {e:?}")))
        })
        .collect::<Result<Vec<TrustAnchor<'static>>, _>>()?;
    let intermediates = certificates
        .iter()
        .map(|c| c.to_der().map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed)?;
    let der = CertificateDer::from(certificate_der);
    let end_entity = EndEntityCert::try_from(&der).map_err(|e| TokenError::Untrusted(format!("{e:?}")))?;
    let seconds = u64::try_from(at.unix_timestamp()).map_err(|_| malformed("a time before 1970"))?;
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &roots,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)),
            // "If present" because the CA certificates carry no EKU; the signer's own is checked
            // to be timeStamping only by the caller.
            KeyUsage::required_if_present(TIME_STAMPING),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| TokenError::Untrusted(format!("{e:?}")))
}

fn offset_time(time: GeneralizedTime) -> Result<OffsetDateTime, TokenError> {
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).map_err(malformed)?;
    OffsetDateTime::from_unix_timestamp(seconds).map_err(malformed)
}

/// TSTInfo as other authorities may write it too (accuracy in any unit, ordering, extensions).
#[derive(Clone, Debug, Sequence)]
#[allow(dead_code, reason = "fields decoded to be skipped over are never read")]
struct TstInfoView {
    version: u8,
    policy: Oid,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GeneralizedTime,
    accuracy: Option<AccuracyView>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Sequence)]
#[allow(dead_code, reason = "fields decoded to be skipped over are never read")]
struct AccuracyView {
    seconds: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

#[derive(Clone, Debug, Sequence)]
#[allow(dead_code, reason = "fields decoded to be skipped over are never read")]
struct SigningCertificateV2View {
    certs: Vec<EssCertIdV2View>,
    policies: Option<Vec<Any>>,
}

/// ESSCertIDv2 with its hashAlgorithm, which DER omits when it is the default SHA-256.
#[derive(Clone, Debug, Sequence)]
#[allow(dead_code, reason = "fields decoded to be skipped over are never read")]
struct EssCertIdV2View {
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    issuer_serial: Option<Any>,
}
