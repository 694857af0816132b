//! The authority: a root CA and an issuing CA; issuing certificates by profile, each linted
//! before it is released; CRLs.

use edxml::AgencyCode;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, CustomExtension,
    DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, RevokedCertParams,
    SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::der::{
    AUTHORITY_INFO_ACCESS, EXTENDED_KEY_USAGE, OCSP_NOCHECK, authority_info_access, null, time_stamping_only,
};
use crate::lint::{LintFinding, lint};
use crate::name::{NameAttribute, SubjectName};
use crate::{CertSerial, KeyAlgorithm, KeyError, KeyPair, Profile, RevocationReason};

/// id-at-organizationIdentifier: carries the agency code, as `GOVVN-000.00.00.G22`.
pub const ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];
/// id-at-title: an official's position.
const TITLE: &[u64] = &[2, 5, 4, 12];

/// Where relying parties find the authority's services; written into every certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    base: String,
}

impl Endpoints {
    /// Services under `base`, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned() }
    }

    /// The OCSP responder.
    pub fn ocsp(&self) -> String {
        format!("{}/ocsp", self.base)
    }

    /// The issuing CA's CRL.
    pub fn crl(&self) -> String {
        format!("{}/crl", self.base)
    }

    /// The issuing CA's certificate (DER).
    pub fn ca_issuers(&self) -> String {
        format!("{}/ca.crt", self.base)
    }

    /// The root's CRL, which covers the issuing CA.
    pub fn root_crl(&self) -> String {
        format!("{}/root.crl", self.base)
    }

    /// The root certificate (DER).
    pub fn root_cert(&self) -> String {
        format!("{}/root.crt", self.base)
    }
}

/// Why a certificate or CRL was not issued. Nothing is issued when this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The request's CSR is malformed or its signature does not match its key.
    #[error("the certificate request is not acceptable: {0}")]
    BadRequest(String),
    /// The profile needs an agency code and none was given.
    #[error("profile {0} needs the agency code (--agency)")]
    MissingAgency(Profile),
    /// The subject lacks what the profile needs.
    #[error("profile {profile} needs {what} in the subject")]
    MissingSubject {
        /// The profile.
        profile: Profile,
        /// What is missing.
        what: &'static str,
    },
    /// The subscriber's key is of a kind we do not certify.
    #[error("unsupported subscriber key: {0}")]
    UnsupportedKey(String),
    /// The certificate failed its profile's own checks; it was not released.
    #[error("the certificate failed pre-issuance checks: {}", .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    Lint(Vec<LintFinding>),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing library refused.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A subscriber's public key, with proof of possession when it came from a CSR.
#[derive(Debug)]
pub enum SubscriberKey {
    /// From a PKCS#10 request whose signature was verified.
    Csr(Box<rcgen::PublicKey>),
    /// A key generated for the subscriber, or one whose possession was shown earlier.
    Generated(Vec<u8>, &'static rcgen::SignatureAlgorithm),
}

impl SubscriberKey {
    /// Parses a PEM or DER PKCS#10 request and verifies its signature.
    pub fn from_csr(bytes: &[u8]) -> Result<Self, IssueError> {
        let der = match std::str::from_utf8(bytes).ok().filter(|t| t.contains("-----BEGIN")) {
            Some(pem) => rcgen::CertificateSigningRequestParams::from_pem(pem),
            None => rcgen::CertificateSigningRequestParams::from_der(&bytes.to_vec().into()),
        };
        let params = der.map_err(|e| IssueError::BadRequest(csr_error(&e)))?;
        Ok(Self::Csr(Box::new(params.public_key)))
    }

    /// The public half of a key generated for the subscriber.
    pub fn from_key(key: &KeyPair) -> Self {
        Self::Generated(key.der_bytes().to_vec(), PublicKeyData::algorithm(key))
    }

    /// A key from its DER SubjectPublicKeyInfo, whose possession was shown earlier (by a CSR, or
    /// by the certificate being renewed).
    pub fn from_spki(spki: &[u8]) -> Result<Self, IssueError> {
        use x509_parser::prelude::FromDer as _;
        let unsupported = |what: &str| IssueError::UnsupportedKey(what.to_owned());
        let (rest, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
            .map_err(|_| IssueError::BadRequest("the public key is not a DER SubjectPublicKeyInfo".into()))?;
        if !rest.is_empty() {
            return Err(IssueError::BadRequest("bytes after the public key".into()));
        }
        let algorithm = match info.parsed() {
            Ok(x509_parser::public_key::PublicKey::EC(point)) if point.key_size() == 256 => {
                &rcgen::PKCS_ECDSA_P256_SHA256
            }
            Ok(x509_parser::public_key::PublicKey::RSA(key)) if key.key_size() >= 2048 => &rcgen::PKCS_RSA_SHA256,
            _ => return Err(unsupported("only ECDSA P-256 and RSA (2048 bits or more) keys are certified")),
        };
        Ok(Self::Generated(info.subject_public_key.data.to_vec(), algorithm))
    }

    /// The key as a DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.subject_public_key_info()
    }
}

fn csr_error(error: &rcgen::Error) -> String {
    match error {
        rcgen::Error::InvalidCertificationRequestSignature => "its signature does not match its public key".into(),
        rcgen::Error::CouldNotParseCertificationRequest => "it is not a PKCS#10 certificate request".into(),
        other => other.to_string(),
    }
}

impl PublicKeyData for SubscriberKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            Self::Csr(key) => key.der_bytes(),
            Self::Generated(der, _) => der,
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::Csr(key) => PublicKeyData::algorithm(key.as_ref()),
            Self::Generated(_, algorithm) => algorithm,
        }
    }
}

/// What a subscriber asks for, after approval.
#[derive(Debug)]
pub struct IssueRequest {
    /// The profile.
    pub profile: Profile,
    /// The subject.
    pub subject: SubjectName,
    /// The agency the subscriber belongs to.
    pub agency: Option<AgencyCode>,
    /// The key to certify.
    pub key: SubscriberKey,
}

/// A certificate the authority released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Its serial.
    pub serial: CertSerial,
    /// DER.
    pub der: Vec<u8>,
    /// The profile it was issued under.
    pub profile: Profile,
    /// Subject, as text.
    pub subject: String,
    /// The agency code, if any.
    pub agency: Option<String>,
    /// Validity.
    pub not_before: OffsetDateTime,
    /// Validity.
    pub not_after: OffsetDateTime,
}

/// A newly created authority: both CA certificates and both keys, to be sealed by the caller.
#[derive(Debug)]
pub struct NewAuthority {
    /// The root's key (keep it offline once the issuing CA exists).
    pub root_key: KeyPair,
    /// The root certificate (DER): the trust anchor.
    pub root_der: Vec<u8>,
    /// The issuing CA's key.
    pub issuing_key: KeyPair,
    /// The issuing CA's certificate (DER).
    pub issuing_der: Vec<u8>,
}

/// An issuing CA ready to sign.
#[derive(Debug)]
pub struct Authority {
    issuing_der: Vec<u8>,
    issuing_key: KeyPair,
    endpoints: Endpoints,
}

/// A revoked certificate as the CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial.
    pub serial: CertSerial,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// How long a CRL is good for; the authority reissues it well before.
pub const CRL_VALIDITY: Duration = Duration::days(1);
/// Certificates are dated this much in the past, for relying parties with slow clocks.
const BACKDATE: Duration = Duration::minutes(5);

fn ca_name(organization: &str, common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(
        DnType::CountryName,
        DnValue::PrintableString("VN".try_into().unwrap_or_else(|_| unreachable!("VN is printable"))),
    );
    name.push(DnType::OrganizationName, organization);
    name.push(DnType::CommonName, common_name);
    name
}

fn ca_params(name: DistinguishedName, path_len: u8, years: i64, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(365 * years);
    params.serial_number = Some(SerialNumber::from_slice(CertSerial::random().as_bytes()));
    params.key_identifier_method = KeyIdMethod::Sha256;
    params
}

impl Authority {
    /// Creates a root CA (20 years) and an issuing CA (10 years) with fresh keys of `algorithm`.
    pub fn create(
        algorithm: KeyAlgorithm,
        organization: &str,
        endpoints: &Endpoints,
        now: OffsetDateTime,
    ) -> Result<NewAuthority, IssueError> {
        let root_key = KeyPair::generate(algorithm)?;
        let issuing_key = KeyPair::generate(algorithm)?;
        Self::create_with_keys(root_key, issuing_key, organization, endpoints, now)
    }

    /// Creates a root CA (20 years) and an issuing CA (10 years) with the given keys, e.g. keys
    /// generated in a key device.
    pub fn create_with_keys(
        root_key: KeyPair,
        issuing_key: KeyPair,
        organization: &str,
        endpoints: &Endpoints,
        now: OffsetDateTime,
    ) -> Result<NewAuthority, IssueError> {
        let root_params = ca_params(ca_name(organization, &format!("{organization} Root CA")), 1, 20, now);
        let root = root_params.self_signed(&root_key).map_err(signing)?;
        let mut params = ca_params(ca_name(organization, &format!("{organization} Issuing CA 1")), 0, 10, now);
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![endpoints.root_crl()] }];
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            AUTHORITY_INFO_ACCESS,
            authority_info_access(None, &endpoints.root_cert()),
        )];
        let root_issuer = Issuer::new(root_params, &root_key);
        let issuing = params.signed_by(&issuing_key, &root_issuer).map_err(signing)?;
        Ok(NewAuthority { root_der: root.der().to_vec(), root_key, issuing_der: issuing.der().to_vec(), issuing_key })
    }

    /// The issuing CA, from its certificate and key.
    pub fn new(issuing_der: Vec<u8>, issuing_key: KeyPair, endpoints: Endpoints) -> Self {
        Self { issuing_der, issuing_key, endpoints }
    }

    /// The issuing CA's certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.issuing_der
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, IssueError> {
        Issuer::from_ca_cert_der(&CertificateDer::from(self.issuing_der.clone()), &self.issuing_key).map_err(signing)
    }

    /// Issues a certificate; it is linted against its profile before it is returned.
    pub fn issue(&self, request: &IssueRequest, now: OffsetDateTime) -> Result<IssuedCertificate, IssueError> {
        let params = self.params(request, now)?;
        let certificate = params.signed_by(&request.key, &self.issuer()?).map_err(signing)?;
        let der = certificate.der().to_vec();
        let findings = lint(&der, &self.issuing_der, request.profile, request.agency.as_ref());
        if !findings.is_empty() {
            return Err(IssueError::Lint(findings));
        }
        Ok(IssuedCertificate {
            serial: CertSerial::from_bytes(params.serial_number.as_ref().map(|s| s.as_ref()).unwrap_or_default()),
            der,
            profile: request.profile,
            subject: request.subject.to_string(),
            agency: request.agency.as_ref().map(ToString::to_string),
            not_before: params.not_before,
            not_after: params.not_after,
        })
    }

    /// Checks a request against its profile without signing anything: what [`Authority::issue`]
    /// would refuse before signing, this refuses.
    pub fn check(&self, request: &IssueRequest, now: OffsetDateTime) -> Result<(), IssueError> {
        self.params(request, now).map(|_| ())
    }

    /// Signs a statement of the authority's own (an audit checkpoint) with the issuing CA key.
    /// Statements are text, so a signature over one can never pass for one over a certificate or
    /// CRL (which are DER and begin with a SEQUENCE tag).
    pub fn sign_statement(&self, statement: &str) -> Result<Vec<u8>, IssueError> {
        rcgen::SigningKey::sign(&self.issuing_key, statement.as_bytes()).map_err(signing)
    }

    fn params(&self, request: &IssueRequest, now: OffsetDateTime) -> Result<CertificateParams, IssueError> {
        let profile = request.profile;
        let key = key_algorithm(&request.key)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject_name(request)?;
        params.serial_number = Some(SerialNumber::from_slice(CertSerial::random().as_bytes()));
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(profile.validity_days());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = profile.key_usages(key);
        params.extended_key_usages = profile.extended_key_usages();
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![self.endpoints.crl()] }];
        let ocsp_url = (profile != Profile::Ocsp).then(|| self.endpoints.ocsp());
        let aia = CustomExtension::from_oid_content(
            AUTHORITY_INFO_ACCESS,
            authority_info_access(ocsp_url.as_deref(), &self.endpoints.ca_issuers()),
        );
        params.custom_extensions = vec![aia];
        if profile == Profile::Ocsp {
            params.custom_extensions.push(CustomExtension::from_oid_content(OCSP_NOCHECK, null()));
        }
        if profile == Profile::Tsa {
            let mut eku = CustomExtension::from_oid_content(EXTENDED_KEY_USAGE, time_stamping_only());
            eku.set_criticality(true);
            params.custom_extensions.push(eku);
        }
        if profile == Profile::Gateway {
            let host = request.subject.get(NameAttribute::CommonName).unwrap_or_default().to_ascii_lowercase();
            let bad_host = || IssueError::MissingSubject { profile, what: "a host name (CN) that is a valid DNS name" };
            if !is_dns_name(&host) {
                return Err(bad_host());
            }
            let dns = host.try_into().map_err(|_| bad_host())?;
            params.subject_alt_names = vec![SanType::DnsName(dns)];
        }
        Ok(params)
    }

    /// A CRL numbered `number`, listing `revoked`, valid for [`CRL_VALIDITY`].
    pub fn crl(&self, number: u64, revoked: &[RevokedEntry], now: OffsetDateTime) -> Result<Vec<u8>, IssueError> {
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + CRL_VALIDITY,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(r.serial.as_bytes()),
                    revocation_time: r.revoked_at,
                    reason_code: r.reason.rcgen(),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer()?).map_err(signing)?.der().to_vec())
    }
}

/// Checks a signature made by [`Authority::sign_statement`] against the certificate `cert_der`.
pub fn verify_statement(cert_der: &[u8], statement: &str, signature: &[u8]) -> Result<(), String> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use x509_parser::prelude::FromDer as _;
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(cert_der).map_err(|e| format!("not a certificate: {e}"))?;
    let spki = cert.public_key();
    let key = spki.subject_public_key.data.as_ref();
    let result = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::EC(_)) => {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key).verify(statement.as_bytes(), signature)
        }
        Ok(x509_parser::public_key::PublicKey::RSA(_)) => {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key).verify(statement.as_bytes(), signature)
        }
        _ => return Err("the certificate's key is neither P-256 nor RSA".into()),
    };
    result.map_err(|_| "the signature does not match".into())
}

fn signing(error: rcgen::Error) -> IssueError {
    IssueError::Signing(error.to_string())
}

fn key_algorithm(key: &SubscriberKey) -> Result<KeyAlgorithm, IssueError> {
    let algorithm = key.algorithm();
    if algorithm == &rcgen::PKCS_ECDSA_P256_SHA256 {
        return Ok(KeyAlgorithm::P256);
    }
    let is_rsa = [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_RSA_SHA384, &rcgen::PKCS_RSA_SHA512].contains(&algorithm);
    if is_rsa {
        return Ok(KeyAlgorithm::Rsa2048);
    }
    Err(IssueError::UnsupportedKey("only ECDSA P-256 and RSA keys are certified".into()))
}

/// The certificate's subject: the request's attributes, plus the agency code where the profile needs it.
fn subject_name(request: &IssueRequest) -> Result<DistinguishedName, IssueError> {
    let profile = request.profile;
    let subject = &request.subject;
    let missing = |what| IssueError::MissingSubject { profile, what };
    subject.get(NameAttribute::CommonName).ok_or(missing("CN"))?;
    if profile == Profile::Official && subject.get(NameAttribute::Title).is_none() {
        return Err(missing("the official's position (T=…)"));
    }
    if matches!(profile, Profile::Organization | Profile::Official | Profile::Tsa | Profile::Ocsp)
        && subject.get(NameAttribute::Organization).is_none()
    {
        return Err(missing("the organisation (O=…)"));
    }
    let mut name = DistinguishedName::new();
    for (attribute, value) in subject.attributes() {
        let (kind, value) = match attribute {
            NameAttribute::Country => (
                DnType::CountryName,
                DnValue::PrintableString(value.clone().try_into().map_err(|_| missing("a two-letter country"))?),
            ),
            NameAttribute::Province => (DnType::StateOrProvinceName, value.into()),
            NameAttribute::Locality => (DnType::LocalityName, value.into()),
            NameAttribute::Organization => (DnType::OrganizationName, value.into()),
            NameAttribute::OrganizationalUnit => (DnType::OrganizationalUnitName, value.into()),
            NameAttribute::Title => (DnType::CustomDnType(TITLE.to_vec()), value.into()),
            NameAttribute::CommonName => (DnType::CommonName, value.into()),
        };
        name.push(kind, value);
    }
    match (&request.agency, profile.needs_agency()) {
        (Some(code), _) => name.push(DnType::CustomDnType(ORGANIZATION_IDENTIFIER.to_vec()), format!("GOVVN-{code}")),
        (None, true) => return Err(IssueError::MissingAgency(profile)),
        (None, false) => {}
    }
    Ok(name)
}

/// A fully qualified host name: two or more labels of letters, digits and inner hyphens; or
/// `localhost`, for services on one machine (the demo, tests).
fn is_dns_name(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    host.len() <= 253 && host.split('.').count() >= 2 && host.split('.').all(label_ok)
}
