//! Shared builders: a test CA with an organisation seal, a realistic package, xmlsec1.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use edxml::model::*;
use edxml::{AgencyCode, BusinessType, OrganId, Package, Priority, VnDate, VnTimestamp};
use pki::{Authority, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, SubjectName, SubscriberKey};
use time::OffsetDateTime;

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// A root and issuing CA, and an agency's seal (organisation certificate and key), written as PEM
/// files for xmlsec1.
#[derive(Debug)]
pub struct Seal {
    pub dir: tempfile::TempDir,
    pub key: KeyPair,
    pub certificate: Vec<u8>,
}

impl Seal {
    pub fn new(algorithm: KeyAlgorithm) -> Self {
        let endpoints = Endpoints::new("http://127.0.0.1:8080");
        let now = OffsetDateTime::now_utc();
        let new = Authority::create(algorithm, "lienthong test", &endpoints, now).expect("authority");
        let (root_der, issuing_der) = (new.root_der, new.issuing_der);
        let authority = Authority::new(issuing_der.clone(), new.issuing_key, endpoints);
        let key = KeyPair::generate(algorithm).expect("key");
        let request = IssueRequest {
            profile: Profile::Organization,
            subject: SubjectName::parse("CN=Văn phòng Chính phủ,O=Văn phòng Chính phủ,C=VN").expect("subject"),
            agency: Some(AgencyCode::parse("000.00.00.G22").expect("agency")),
            key: SubscriberKey::from_key(&key),
        };
        let certificate = authority.issue(&request, now).expect("seal certificate").der;
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect("write");
        write("root.pem", pem("CERTIFICATE", &root_der));
        write("issuing.pem", pem("CERTIFICATE", &issuing_der));
        write("seal.pem", pem("CERTIFICATE", &certificate));
        write("seal-key.pem", key.to_unencrypted_pem().expect("key pem"));
        Self { dir, key, certificate }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `xml` and asks xmlsec1 to verify it against the test CA: (verified, what it said).
    pub fn xmlsec_verify(&self, xml: &[u8]) -> (bool, String) {
        let file = self.path("signed.xml");
        std::fs::write(&file, xml).expect("write");
        let (code, text) = run(
            "xmlsec1",
            &[
                "--verify",
                "--trusted-pem",
                p(&self.path("root.pem")),
                "--untrusted-pem",
                p(&self.path("issuing.pem")),
                p(&file),
            ],
        );
        (code == 0 && text.lines().any(|l| l.trim() == "OK"), text)
    }
}

pub fn run(program: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh installs it): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop/edxml")
}

pub fn interop(name: &str) -> Vec<u8> {
    let path = interop_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("interop sample expected at {}: {e}", path.display()))
}

fn code(text: &str) -> OrganId {
    OrganId::from(AgencyCode::parse(text).expect("valid test code"))
}

fn org(id: &str, name: &str) -> Organization {
    Organization {
        organ_id: Some(code(id)),
        organ_name: Some(name.into()),
        organization_in_charge: Some(name.into()),
        ..Organization::default()
    }
}

/// A valid new document from the Government Office to Nghệ An, with an attachment of `attachment`.
pub fn document(attachment: &[u8]) -> Vec<u8> {
    let attachment = Attachment::from_file("1", "4521-VPCP-KSTT.pdf", "application/pdf", attachment);
    let date = |text| VnDate::parse(text).expect("valid test date");
    let package = DocumentPackage {
        header: DocumentHeader {
            from: Some(org("000.00.00.G22", "Văn phòng Chính phủ")),
            to: vec![org("000.00.00.H41", "UBND Tỉnh Nghệ An")],
            document_id: Some("000.00.00.G22,2026/11/24,4521/VPCP-KSTT".into()),
            code: Some(Code { number: Some("4521".into()), notation: Some("VPCP-KSTT".into()) }),
            promulgation: Some(PromulgationInfo { place: Some("Hà Nội".into()), date: Some(date("2026/11/24")) }),
            document_type: Some(DocumentType { kind: Some(1), detail: Some(0), name: Some("Công văn".into()) }),
            subject: Some("V/v triển khai liên thông văn bản & ký số <gói tin>".into()),
            content: Some("Nội dung tóm tắt".into()),
            signer: Some(SignerInfo {
                competence: Some("KT. BỘ TRƯỞNG".into()),
                position: Some("Phó Chủ nhiệm".into()),
                full_name: Some("Nguyễn Văn A".into()),
            }),
            due_date: Some(date("2026/12/15")),
            other_info: Some(OtherInfo {
                priority: Some(Priority::Urgent),
                page_amount: Some(3),
                ..OtherInfo::default()
            }),
            response_for: Vec::new(),
            steering_type: Some(1),
            to_places: Some(vec!["Các Bộ, cơ quan ngang Bộ".into()]),
        },
        trace: Some(TraceHeaderList {
            traces: vec![TraceHeader {
                organ_id: Some(code("000.00.00.G22")),
                timestamp: Some(VnTimestamp::parse("2026/11/24 09:30:00").expect("valid timestamp")),
            }],
            business: Some(Business {
                doc_type: Some(BusinessType::New),
                reason: Some("Văn bản điện tử mới".into()),
                ..Business::default()
            }),
        }),
        signature: None,
        manifest: Some(Manifest { version: Some("1.0".into()), references: vec![attachment.manifest_reference()] }),
        attachments: vec![attachment],
    };
    edxml::write(&Package::Document(package))
}

/// `text` with the first `from` after `after` replaced by `to` (a targeted one-character change).
pub fn tamper(xml: &[u8], after: &str, from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(xml).expect("utf-8");
    let start = text.find(after).unwrap_or_else(|| panic!("{after:?} not found"));
    let at = start + text[start..].find(from).unwrap_or_else(|| panic!("{from:?} not found after {after:?}"));
    [&text[..at], to, &text[at + from.len()..]].concat().into_bytes()
}
