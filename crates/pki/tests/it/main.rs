//! The authority, checked by tools nobody on this team wrote: `openssl verify` (with CRLs),
//! `openssl crl`, `openssl pkey`, `openssl ocsp`, and pkilint (`scripts/test.sh` installs it in
//! `.venv`).
#![allow(unreachable_pub, reason = "helpers shared with the test modules")]

mod ocsp;
mod tsp;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use edxml::AgencyCode;
use pki::{
    Authority, CertSerial, Endpoints, IssueError, IssueRequest, KeyAlgorithm, KeyError, KeyPair, NewAuthority, Profile,
    RevocationReason, RevokedEntry, SubjectName, SubscriberKey,
};
use time::OffsetDateTime;

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[derive(Debug)]
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub authority: Authority,
    pub new: NewAuthority,
}

impl Setup {
    pub fn new(algorithm: KeyAlgorithm) -> Self {
        let endpoints = Endpoints::new("http://127.0.0.1:8080");
        let new =
            Authority::create(algorithm, "lienthong test", &endpoints, OffsetDateTime::now_utc()).expect("authority");
        let issuing_key =
            KeyPair::open(&new.issuing_key.seal("correct horse battery").expect("seal"), "correct horse battery")
                .expect("open");
        let authority = Authority::new(new.issuing_der.clone(), issuing_key, endpoints);
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("root.pem"), pem("CERTIFICATE", &new.root_der)).expect("write");
        std::fs::write(dir.path().join("issuing.pem"), pem("CERTIFICATE", &new.issuing_der)).expect("write");
        let chain = pem("CERTIFICATE", &new.issuing_der) + &pem("CERTIFICATE", &new.root_der);
        std::fs::write(dir.path().join("chain.pem"), chain).expect("write");
        Self { dir, authority, new }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write_cert(&self, name: &str, der: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, pem("CERTIFICATE", der)).expect("write");
        path
    }

    pub fn issue(
        &self,
        profile: Profile,
        subject: &str,
        agency: Option<&str>,
        algorithm: KeyAlgorithm,
    ) -> Result<pki::IssuedCertificate, IssueError> {
        self.issue_with_key(profile, subject, agency, algorithm).map(|(issued, _)| issued)
    }

    pub fn issue_with_key(
        &self,
        profile: Profile,
        subject: &str,
        agency: Option<&str>,
        algorithm: KeyAlgorithm,
    ) -> Result<(pki::IssuedCertificate, KeyPair), IssueError> {
        let key = KeyPair::generate(algorithm).expect("key");
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject).expect("subject"),
            agency: agency.map(|a| AgencyCode::parse(a).expect("agency")),
            key: SubscriberKey::from_key(&key),
        };
        self.authority.issue(&request, OffsetDateTime::now_utc()).map(|issued| (issued, key))
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

/// pkilint from the project's venv; its exit code is the number of findings.
pub fn pkilint(tool: &str, args: &[&str]) -> (i32, String) {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin").join(tool);
    assert!(venv.exists(), "{} is missing: run scripts/test.sh, which installs the validators", venv.display());
    run(p(&venv), args)
}

pub const SUBJECTS: &[(Profile, &str, Option<&str>)] = &[
    (Profile::Organization, "CN=Văn phòng Chính phủ,O=Văn phòng Chính phủ,C=VN", Some("000.00.00.G22")),
    (
        Profile::Official,
        "CN=Nguyễn Văn A,T=Phó Chủ nhiệm,OU=Vụ Hành chính,O=Văn phòng Chính phủ,C=VN",
        Some("000.00.00.G22"),
    ),
    (Profile::Gateway, "CN=gw.nghean.gov.vn,O=UBND Tỉnh Nghệ An,C=VN", Some("000.00.00.H41")),
    (Profile::Ocsp, "CN=lienthong OCSP 1,O=lienthong test,C=VN", None),
    (Profile::Tsa, "CN=lienthong TSA 1,O=lienthong test,C=VN", None),
];

#[test]
fn every_profile_verifies_with_openssl_and_passes_pkilint() {
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let setup = Setup::new(algorithm);
        for name in ["root.pem", "issuing.pem"] {
            let (findings, text) = pkilint("lint_pkix_cert", &["lint", "-s", "WARNING", p(&setup.path(name))]);
            assert_eq!(findings, 0, "{algorithm} {name}: pkilint findings:\n{text}");
        }
        for &(profile, subject, agency) in SUBJECTS {
            let issued = setup.issue(profile, subject, agency, algorithm).unwrap_or_else(|e| panic!("{profile}: {e}"));
            let cert = setup.write_cert(&format!("{profile}.pem"), &issued.der);
            let (code, text) = run(
                "openssl",
                &[
                    "verify",
                    "-CAfile",
                    p(&setup.path("root.pem")),
                    "-untrusted",
                    p(&setup.path("issuing.pem")),
                    p(&cert),
                ],
            );
            assert_eq!((code, text.trim_end().ends_with(": OK")), (0, true), "{algorithm} {profile}: {text}");
            let (findings, text) = pkilint("lint_pkix_cert", &["lint", "-s", "WARNING", p(&cert)]);
            assert_eq!(findings, 0, "{algorithm} {profile}: pkilint findings:\n{text}");
            assert_eq!(issued.serial.as_bytes().len(), 16);
        }
    }
}

#[test]
fn an_rsa3072_authority_issues_too() {
    let setup = Setup::new(KeyAlgorithm::Rsa3072);
    let issued = setup.issue(Profile::Organization, SUBJECTS[0].1, SUBJECTS[0].2, KeyAlgorithm::P256).expect("issued");
    let cert = setup.write_cert("org.pem", &issued.der);
    let (code, text) = run("openssl", &["x509", "-in", p(&cert), "-noout", "-text"]);
    assert_eq!(code, 0);
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"), "{text}");
    let (_, issuer) = run("openssl", &["x509", "-in", p(&setup.path("issuing.pem")), "-noout", "-text"]);
    assert!(issuer.contains("Public-Key: (3072 bit)"), "{issuer}");
}

#[test]
fn certificates_say_what_their_profile_promises() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let text_of = |profile: Profile| {
        let &(_, subject, agency) = SUBJECTS.iter().find(|(p, _, _)| *p == profile).expect("subject");
        let issued = setup.issue(profile, subject, agency, KeyAlgorithm::P256).expect("issued");
        let cert = setup.write_cert("x.pem", &issued.der);
        run("openssl", &["x509", "-in", p(&cert), "-noout", "-text", "-nameopt", "utf8"]).1
    };
    let official = text_of(Profile::Official);
    for expected in [
        "CN=Nguyễn Văn A",
        "title=Phó Chủ nhiệm",
        "organizationIdentifier=GOVVN-000.00.00.G22",
        "Digital Signature, Non Repudiation",
        "E-mail Protection",
        "OCSP - URI:http://127.0.0.1:8080/ocsp",
        "CA Issuers - URI:http://127.0.0.1:8080/ca.crt",
        "URI:http://127.0.0.1:8080/crl",
        "CA:FALSE",
    ] {
        assert!(official.contains(expected), "official lacks {expected:?}:\n{official}");
    }
    let gateway = text_of(Profile::Gateway);
    assert!(
        gateway.contains("TLS Web Server Authentication, TLS Web Client Authentication")
            && gateway.contains("DNS:gw.nghean.gov.vn"),
        "{gateway}"
    );
    let ocsp = text_of(Profile::Ocsp);
    assert!(ocsp.contains("OCSP Signing") && ocsp.contains("OCSP No Check") && !ocsp.contains("OCSP - URI"), "{ocsp}");
    let tsa = text_of(Profile::Tsa);
    assert!(tsa.contains("X509v3 Extended Key Usage: critical\n                Time Stamping\n"), "{tsa}");
}

#[test]
fn revoked_certificates_fail_openssl_crl_checks_and_the_crl_passes_pkilint() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let good = setup.issue(Profile::Organization, SUBJECTS[0].1, SUBJECTS[0].2, KeyAlgorithm::P256).expect("good");
    let bad = setup.issue(Profile::Official, SUBJECTS[1].1, SUBJECTS[1].2, KeyAlgorithm::P256).expect("bad");
    let revoked = [RevokedEntry {
        serial: bad.serial.clone(),
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::KeyCompromise,
    }];
    let crl = setup.authority.crl(7, &revoked, OffsetDateTime::now_utc()).expect("crl");
    std::fs::write(setup.path("crl.der"), &crl).expect("write");
    std::fs::write(setup.path("crl.pem"), pem("X509 CRL", &crl)).expect("write");
    let chain = setup.path("chain.pem");
    let verify = |cert: &Path| {
        run("openssl", &["verify", "-CAfile", p(&chain), "-crl_check", "-CRLfile", p(&setup.path("crl.pem")), p(cert)])
    };
    let (code, text) = verify(&setup.write_cert("good.pem", &good.der));
    assert_eq!((code, text.trim_end().ends_with(": OK")), (0, true), "{text}");
    let (code, text) = verify(&setup.write_cert("bad.pem", &bad.der));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("certificate revoked"), "{text}");
    let (code, text) = run(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            p(&setup.path("crl.der")),
            "-CAfile",
            p(&setup.path("issuing.pem")),
            "-noout",
            "-text",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("verify OK")
            && text.contains("X509v3 CRL Number: \n                7")
            && text.contains("Key Compromise"),
        "{text}"
    );
    assert!(text.contains(&bad.serial.to_hex()), "{text}");
    let (findings, text) =
        pkilint("lint_crl", &["lint", "-s", "WARNING", "-t", "CRL", "-p", "PKIX", p(&setup.path("crl.der"))]);
    assert_eq!(findings, 0, "pkilint CRL findings:\n{text}");
}

#[test]
fn csr_requests_are_verified_before_issuing() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let (csr, key) = (setup.path("req.pem"), setup.path("req.key"));
    let (code, text) = run(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=ignored",
            "-keyout",
            p(&key),
            "-out",
            p(&csr),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let bytes = std::fs::read(&csr).expect("csr");
    let request = IssueRequest {
        profile: Profile::Gateway,
        subject: SubjectName::parse(SUBJECTS[2].1).expect("subject"),
        agency: Some(AgencyCode::parse("000.00.00.H41").expect("agency")),
        key: SubscriberKey::from_csr(&bytes).expect("valid csr"),
    };
    let issued = setup.authority.issue(&request, OffsetDateTime::now_utc()).expect("issued");
    let cert = setup.write_cert("gw.pem", &issued.der);
    let (_, cert_key) = run("openssl", &["x509", "-in", p(&cert), "-noout", "-pubkey"]);
    let (_, csr_key) = run("openssl", &["req", "-in", p(&csr), "-noout", "-pubkey"]);
    assert_eq!(cert_key, csr_key, "the certificate certifies the CSR's key");

    let mut tampered = std::fs::read(setup.path("req.pem")).expect("csr");
    let der = {
        let text = String::from_utf8(tampered.clone()).expect("pem");
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
    };
    let mut broken = der.clone();
    let last = broken.len() - 3;
    broken[last] ^= 0x01;
    let error = SubscriberKey::from_csr(&broken).expect_err("tampered");
    assert!(error.to_string().contains("its signature does not match its public key"), "{error}");
    tampered.truncate(20);
    let error = SubscriberKey::from_csr(b"not a request").expect_err("garbage");
    assert!(error.to_string().contains("not a PKCS#10 certificate request"), "{error}");
}

#[test]
fn requests_missing_what_the_profile_needs_are_refused() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let error = setup.issue(Profile::Organization, SUBJECTS[0].1, None, KeyAlgorithm::P256).expect_err("no agency");
    assert_eq!(error.to_string(), "profile organization needs the agency code (--agency)");
    let error = setup
        .issue(Profile::Official, "CN=Nguyễn Văn A,O=VPCP", Some("000.00.00.G22"), KeyAlgorithm::P256)
        .expect_err("no title");
    assert_eq!(error.to_string(), "profile official needs the official's position (T=…) in the subject");
    let error = setup
        .issue(Profile::Gateway, "CN=not a host name!,O=X", Some("000.00.00.G22"), KeyAlgorithm::P256)
        .expect_err("bad host");
    assert!(error.to_string().contains("a host name (CN) that is a valid DNS name"), "{error}");
    assert_eq!(
        SubjectName::parse("CN=a,X=b").expect_err("unknown key").to_string(),
        "unknown attribute \"X\": use CN, O, OU, T, L, ST or C"
    );
    assert_eq!(SubjectName::parse("CN=a,CN=b").expect_err("dup").to_string(), "attribute CN appears twice");
    assert_eq!(
        "webserver".parse::<Profile>().expect_err("profile").to_string(),
        "unknown profile \"webserver\": choose organization, official, gateway, ocsp or tsa"
    );
}

#[test]
fn the_linter_refuses_certificates_that_break_their_profile() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let findings = pki::lint(&setup.new.issuing_der, &setup.new.root_der, Profile::Organization, None);
    let checks: Vec<&str> = findings.iter().map(|f| f.check).collect();
    for expected in ["basic-constraints", "key-usage-bits", "extended-key-usage", "ocsp-url"] {
        assert!(checks.contains(&expected), "{expected} not in {checks:?}");
    }
    let other = Setup::new(KeyAlgorithm::P256);
    let issued = setup.issue(Profile::Tsa, SUBJECTS[4].1, None, KeyAlgorithm::P256).expect("issued");
    let checks: Vec<&str> =
        pki::lint(&issued.der, &other.new.issuing_der, Profile::Tsa, None).iter().map(|f| f.check).collect();
    assert!(checks.contains(&"signature") && checks.contains(&"authority-key-identifier"), "{checks:?}");
    assert!(pki::lint(&issued.der, &setup.new.issuing_der, Profile::Tsa, None).is_empty());
}

#[test]
fn keystores_open_only_with_their_passphrase_and_openssl_reads_them() {
    let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    assert_eq!(key.seal("short").expect_err("weak"), KeyError::WeakPassphrase { min: 12 });
    let sealed = key.seal("correct horse battery").expect("seal");
    assert!(sealed.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(KeyPair::open(&sealed, "wrong horse battery").expect_err("wrong"), KeyError::WrongPassphrase);
    let opened = KeyPair::open(&sealed, "correct horse battery").expect("opens");
    assert_eq!(opened.public_key_der(), key.public_key_der());
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("k.pem");
    std::fs::write(&path, &sealed).expect("write");
    let (code, text) =
        run("openssl", &["pkey", "-in", p(&path), "-passin", "pass:correct horse battery", "-noout", "-text"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    assert!(matches!(
        KeyPair::open("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "x"),
        Err(KeyError::NotAKeystore(_))
    ));
}

#[test]
fn serials_and_reasons_parse_as_openssl_prints_them() {
    let serial = CertSerial::from_hex("4A:0B:FF").expect("hex");
    assert_eq!(serial.to_hex(), "4A0BFF");
    assert!(CertSerial::from_hex("xyz").is_err());
    assert!(CertSerial::from_hex("").is_err());
    assert_eq!("keyCompromise".parse::<RevocationReason>(), Ok(RevocationReason::KeyCompromise));
    assert!("stolen".parse::<RevocationReason>().is_err());
}
