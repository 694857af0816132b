//! The few DER encodings rcgen has no builder for: Authority Information Access and the OCSP
//! no-check marker.

/// id-pe-authorityInfoAccess.
pub(crate) const AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-pkix-ocsp-nocheck.
pub(crate) const OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
const ACCESS_OCSP: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
const ACCESS_CA_ISSUERS: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];

/// `AuthorityInfoAccessSyntax`: an OCSP URL (if any) and a caIssuers URL.
pub(crate) fn authority_info_access(ocsp: Option<&str>, ca_issuers: &str) -> Vec<u8> {
    let mut descriptions = Vec::new();
    if let Some(url) = ocsp {
        descriptions.extend(access_description(ACCESS_OCSP, url));
    }
    descriptions.extend(access_description(ACCESS_CA_ISSUERS, ca_issuers));
    tlv(0x30, &descriptions)
}

/// id-ce-extKeyUsage, for when it must be critical (rcgen writes it non-critical).
pub(crate) const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// id-kp-timeStamping.
const TIME_STAMPING: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// `ExtKeyUsageSyntax` holding only id-kp-timeStamping (RFC 3161 §2.3).
pub(crate) fn time_stamping_only() -> Vec<u8> {
    tlv(0x30, &tlv(0x06, TIME_STAMPING))
}

/// The NULL that id-pkix-ocsp-nocheck carries.
pub(crate) fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

fn access_description(method: &[u8], url: &str) -> Vec<u8> {
    let mut body = tlv(0x06, method);
    body.extend(tlv(0x86, url.as_bytes())); // [6] uniformResourceIdentifier
    tlv(0x30, &body)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
