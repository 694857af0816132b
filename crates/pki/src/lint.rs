//! Pre-issuance linting: the signed certificate is parsed back and checked against its profile
//! and issuer. A certificate with any finding is never released (Boulder's practice).

use std::fmt;

use edxml::AgencyCode;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP};
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;

use crate::Profile;

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// Stable name of the check.
    pub check: &'static str,
    /// What is wrong.
    pub detail: String,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

struct Linter<'c> {
    cert: &'c X509Certificate<'c>,
    findings: Vec<LintFinding>,
}

impl Linter<'_> {
    fn check(&mut self, ok: bool, check: &'static str, detail: impl FnOnce() -> String) {
        if !ok {
            self.findings.push(LintFinding { check, detail: detail() });
        }
    }
}

/// Checks `der` (an end-entity certificate of `profile`) against `issuer_der`.
pub fn lint(der: &[u8], issuer_der: &[u8], profile: Profile, agency: Option<&AgencyCode>) -> Vec<LintFinding> {
    let unparsable = |check, e: String| vec![LintFinding { check, detail: e }];
    let cert = match X509Certificate::from_der(der) {
        Ok(([], cert)) => cert,
        Ok(_) => return unparsable("der", "trailing bytes after the certificate".into()),
        Err(e) => return unparsable("der", e.to_string()),
    };
    let issuer = match X509Certificate::from_der(issuer_der) {
        Ok((_, issuer)) => issuer,
        Err(e) => return unparsable("issuer", e.to_string()),
    };
    let mut l = Linter { cert: &cert, findings: Vec::new() };
    structure(&mut l, &issuer);
    key_usage(&mut l, profile);
    pointers(&mut l, profile);
    subject(&mut l, profile, agency);
    public_key(&mut l);
    l.findings
}

fn structure(l: &mut Linter<'_>, issuer: &X509Certificate<'_>) {
    let cert = l.cert;
    l.check(cert.version().0 == 2, "version", || "not an X.509 v3 certificate".into());
    let serial = cert.raw_serial();
    l.check(serial.len() <= 20 && serial.first().is_some_and(|b| b & 0x80 == 0), "serial", || {
        "serial must be positive and at most 20 bytes".into()
    });
    l.check(cert.serial.bits() >= 64, "serial-entropy", || {
        format!("serial has {} bits, fewer than 64", cert.serial.bits())
    });
    l.check(cert.issuer().as_raw() == issuer.subject().as_raw(), "issuer-name", || {
        "issuer name differs from the CA's subject".into()
    });
    l.check(cert.verify_signature(Some(issuer.public_key())).is_ok(), "signature", || {
        "the CA's key does not verify the signature".into()
    });
    let (nb, na) = (cert.validity().not_before, cert.validity().not_after);
    l.check(nb < na, "validity", || "notBefore is not before notAfter".into());
    l.check(nb >= issuer.validity().not_before && na <= issuer.validity().not_after, "validity-within-issuer", || {
        "validity extends beyond the CA's".into()
    });
    let bc = cert.basic_constraints().ok().flatten();
    l.check(bc.is_some_and(|b| b.critical && !b.value.ca), "basic-constraints", || {
        "an end-entity certificate needs critical basicConstraints cA=FALSE".into()
    });
    let ski = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        _ => None,
    });
    let issuer_ski = issuer.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        _ => None,
    });
    let aki = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    });
    l.check(ski.is_some(), "subject-key-identifier", || "subjectKeyIdentifier is missing".into());
    l.check(aki.is_some() && aki == issuer_ski, "authority-key-identifier", || {
        "authorityKeyIdentifier does not match the CA's key identifier".into()
    });
}

fn key_usage(l: &mut Linter<'_>, profile: Profile) {
    let cert = l.cert;
    let ku = cert.key_usage().ok().flatten();
    l.check(ku.as_ref().is_some_and(|k| k.critical), "key-usage", || "keyUsage must be present and critical".into());
    if let Some(ku) = ku {
        let signs = ku.value.digital_signature();
        let ca_bits = ku.value.key_cert_sign() || ku.value.crl_sign();
        l.check(signs && !ca_bits, "key-usage-bits", || {
            format!("keyUsage {} does not fit profile {profile}", ku.value)
        });
    }
    let eku = cert.extended_key_usage().ok().flatten();
    let Some(eku) = eku else {
        return l.check(false, "extended-key-usage", || "extendedKeyUsage is missing".into());
    };
    let e = &eku.value;
    let fits = match profile {
        Profile::Organization | Profile::Official => {
            e.email_protection && e.other.iter().any(|o| o.to_id_string() == "1.3.6.1.5.5.7.3.36")
        }
        Profile::Gateway => e.server_auth && e.client_auth && !e.time_stamping,
        Profile::Ocsp => e.ocsp_signing && !e.server_auth && !e.time_stamping,
        Profile::Tsa => {
            e.time_stamping
                && eku.critical
                && !e.any
                && !e.server_auth
                && !e.client_auth
                && !e.ocsp_signing
                && e.other.is_empty()
        }
    };
    l.check(fits, "extended-key-usage", || format!("extendedKeyUsage does not fit profile {profile}"));
}

fn pointers(l: &mut Linter<'_>, profile: Profile) {
    let cert = l.cert;
    let mut crl = false;
    let (mut ocsp, mut ca_issuers, mut nocheck) = (false, false, false);
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => crl = !points.points.is_empty(),
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for access in &aia.accessdescs {
                    let http = matches!(access.access_location, GeneralName::URI(uri) if uri.starts_with("http://"));
                    ocsp |= access.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP && http;
                    ca_issuers |= access.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS && http;
                }
            }
            _ => nocheck |= extension.oid.to_id_string() == "1.3.6.1.5.5.7.48.1.5",
        }
    }
    l.check(crl, "crl-distribution-points", || "no CRL distribution point".into());
    l.check(ca_issuers, "authority-info-access", || "no caIssuers URL (http)".into());
    l.check(ocsp || profile == Profile::Ocsp, "ocsp-url", || "no OCSP URL (http)".into());
    l.check(nocheck == (profile == Profile::Ocsp), "ocsp-nocheck", || {
        "id-pkix-ocsp-nocheck belongs on OCSP responder certificates only".into()
    });
}

fn subject(l: &mut Linter<'_>, profile: Profile, agency: Option<&AgencyCode>) {
    let cert = l.cert;
    let cn = cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_owned);
    l.check(cn.is_some(), "subject-cn", || "the subject has no common name".into());
    let org_ids: Vec<String> = cert
        .subject()
        .iter_by_oid(&organization_identifier())
        .filter_map(|a| a.as_str().ok().map(str::to_owned))
        .collect();
    let expected = agency.map(|code| format!("GOVVN-{code}"));
    l.check(org_ids == expected.iter().cloned().collect::<Vec<_>>(), "agency-code", || {
        format!("organizationIdentifier {org_ids:?} does not carry the agency code {expected:?}")
    });
    if profile == Profile::Gateway {
        let names: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|g| if let GeneralName::DNSName(d) = g { Some(d.to_string()) } else { None })
                    .collect()
            })
            .unwrap_or_default();
        let host = cn.unwrap_or_default().to_ascii_lowercase();
        l.check(names.contains(&host), "gateway-san", || {
            format!("subjectAltName {names:?} does not contain the host {host:?}")
        });
    }
}

fn public_key(l: &mut Linter<'_>) {
    let fits = match l.cert.public_key().parsed() {
        Ok(PublicKey::EC(point)) => point.key_size() == 256,
        Ok(PublicKey::RSA(rsa)) => rsa.key_size() >= 2048,
        _ => false,
    };
    l.check(fits, "public-key", || "the key must be ECDSA P-256 or RSA of at least 2048 bits".into());
}

/// id-at-organizationIdentifier (2.5.4.97), which the OID registry does not name.
fn organization_identifier() -> x509_parser::der_parser::oid::Oid<'static> {
    x509_parser::der_parser::oid!(2.5.4.97)
}
