//! `lienthong ca`, run as an operator runs it, checked with openssl.

use std::path::Path;
use std::process::{Command, Output};

const PASSPHRASE: &str = "correct horse battery";

fn lienthong(args: &[&str], passphrase: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lienthong"));
    command
        .args(args)
        .env_remove("LIENTHONG_CA_PASSPHRASE")
        .env_remove("LIENTHONG_CA_STORE_URL")
        .env_remove("LIENTHONG_CA_PUBLIC_URL");
    if let Some(passphrase) = passphrase {
        command.env("LIENTHONG_CA_PASSPHRASE", passphrase);
    }
    command.output().expect("lienthong runs")
}

fn ok(args: &[&str]) -> String {
    let output = lienthong(args, Some(PASSPHRASE));
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn fails(args: &[&str], passphrase: Option<&str>, message: &str) {
    let output = lienthong(args, passphrase);
    assert_eq!(output.status.code(), Some(2), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr}");
}

fn openssl(args: &[&str]) -> (i32, String) {
    let output = Command::new("openssl").args(args).output().expect("openssl is installed");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn serial_of(cert: &Path) -> String {
    openssl(&["x509", "-in", p(cert), "-noout", "-serial"]).1.trim().trim_start_matches("serial=").to_owned()
}

#[test]
fn init_issue_revoke_and_publish_crls() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    ok(&["ca", "init", "--dir", p(&ca)]);
    assert!(ca.join("root.pem").exists() && ca.join("chain.pem").exists());
    let key = dir.path().join("vpcp.key");
    let cert = dir.path().join("vpcp.pem");
    let out = ok(&[
        "ca",
        "issue",
        "--dir",
        p(&ca),
        "--profile",
        "organization",
        "--subject",
        "CN=Văn phòng Chính phủ,O=Văn phòng Chính phủ,C=VN",
        "--agency",
        "000.00.00.G22",
        "--key-out",
        p(&key),
        "--out",
        p(&cert),
    ]);
    assert!(out.contains("issued organization certificate serial="), "{out}");
    let (code, text) = openssl(&["verify", "-CAfile", p(&ca.join("chain.pem")), p(&cert)]);
    assert_eq!(code, 0, "{text}");
    let (_, cert_key) = openssl(&["x509", "-in", p(&cert), "-noout", "-pubkey"]);
    let (_, own_key) = openssl(&["pkey", "-in", p(&key), "-pubout"]);
    assert_eq!(cert_key, own_key, "the certificate certifies the key written to --key-out");

    let (csr, csr_key, gw) = (dir.path().join("gw.csr"), dir.path().join("gw.key"), dir.path().join("gw.pem"));
    let (code, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=x",
        "-keyout",
        p(&csr_key),
        "-out",
        p(&csr),
    ]);
    assert_eq!(code, 0, "{text}");
    ok(&[
        "ca",
        "issue",
        "--dir",
        p(&ca),
        "--profile",
        "gateway",
        "--subject",
        "CN=gw.nghean.gov.vn,O=UBND Tỉnh Nghệ An",
        "--agency",
        "000.00.00.H41",
        "--csr",
        p(&csr),
        "--out",
        p(&gw),
    ]);

    let serial = serial_of(&cert);
    let out = ok(&["ca", "revoke", "--dir", p(&ca), "--serial", &serial, "--reason", "keyCompromise"]);
    assert!(out.contains("CRL 1 published"), "{out}");
    let crl_pem = dir.path().join("crl.pem");
    openssl(&["crl", "-inform", "DER", "-in", p(&ca.join("ca.crl")), "-out", p(&crl_pem)]);
    let check = |cert: &Path| {
        openssl(&["verify", "-CAfile", p(&ca.join("chain.pem")), "-crl_check", "-CRLfile", p(&crl_pem), p(cert)])
    };
    let (code, text) = check(&cert);
    assert!(code == 2 && text.contains("certificate revoked"), "{text}");
    assert_eq!(check(&gw).0, 0);

    fails(
        &["ca", "revoke", "--dir", p(&ca), "--serial", &serial, "--reason", "superseded"],
        Some(PASSPHRASE),
        "is already revoked (keyCompromise)",
    );
    let crl = dir.path().join("next.crl");
    let out = ok(&["ca", "crl", "--dir", p(&ca), "--out", p(&crl)]);
    assert!(out.contains("CRL number 2"), "a refused revocation published nothing: {out}");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    fails(&["ca", "init", "--dir", p(&ca)], None, "set LIENTHONG_CA_PASSPHRASE");
    fails(&["ca", "init", "--dir", p(&ca)], Some("short"), "the passphrase must have at least 12 characters");
    assert!(!ca.join("ca.toml").exists());
    ok(&["ca", "init", "--dir", p(&ca)]);
    let root = std::fs::read(ca.join("root.pem")).expect("root");
    fails(&["ca", "init", "--dir", p(&ca)], Some(PASSPHRASE), "already holds a CA: nothing was changed");
    assert_eq!(std::fs::read(ca.join("root.pem")).expect("root"), root);

    let out = dir.path().join("x.pem");
    let key = dir.path().join("x.key");
    let org = [
        "ca",
        "issue",
        "--dir",
        p(&ca),
        "--profile",
        "organization",
        "--subject",
        "CN=A,O=B",
        "--agency",
        "000.00.00.G22",
        "--key-out",
        p(&key),
        "--out",
        p(&out),
    ];
    fails(&org, Some("wrong horse battery"), "wrong passphrase");
    let garbage = dir.path().join("garbage.csr");
    std::fs::write(&garbage, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
        .expect("write");
    let csr_args = [
        "ca",
        "issue",
        "--dir",
        p(&ca),
        "--profile",
        "gateway",
        "--subject",
        "CN=gw.a.vn",
        "--agency",
        "000.00.00.G22",
        "--csr",
        p(&garbage),
        "--out",
        p(&out),
    ];
    fails(&csr_args, Some(PASSPHRASE), "the certificate request is not acceptable");
    let mut wrong_org = org;
    wrong_org[5] = "webserver";
    fails(&wrong_org, Some(PASSPHRASE), "unknown profile \"webserver\"");
    let mut bad_agency = org;
    bad_agency[9] = "000.00.00.g22";
    fails(&bad_agency, Some(PASSPHRASE), "--agency \"000.00.00.g22\" is not a valid agency code");
    let mut no_agency: Vec<&str> = org.to_vec();
    no_agency.drain(8..10);
    fails(&no_agency, Some(PASSPHRASE), "profile organization needs the agency code");
    assert!(!out.exists() && !key.exists(), "a refused request wrote files");

    fails(
        &["ca", "revoke", "--dir", p(&ca), "--serial", "0102", "--reason", "keyCompromise"],
        Some(PASSPHRASE),
        "no certificate with serial 0102",
    );
    fails(
        &["ca", "revoke", "--dir", p(&ca), "--serial", "xyz", "--reason", "keyCompromise"],
        Some(PASSPHRASE),
        "is not a hexadecimal certificate serial",
    );
    fails(
        &["ca", "revoke", "--dir", p(&ca), "--serial", "0102", "--reason", "stolen"],
        Some(PASSPHRASE),
        "unknown revocation reason \"stolen\"",
    );
    let crl = dir.path().join("first.crl");
    assert!(
        ok(&["ca", "crl", "--dir", p(&ca), "--out", p(&crl)]).contains("CRL number 1"),
        "no refused command consumed a CRL number"
    );
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn serve_answers_openssl_ocsp_and_sees_revocations_made_by_the_cli() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    ok(&["ca", "init", "--dir", p(&ca)]);
    let (cert, key) = (dir.path().join("org.pem"), dir.path().join("org.key"));
    let subject = "CN=Bộ Tài chính,O=Bộ Tài chính";
    ok(&[
        "ca",
        "issue",
        "--dir",
        p(&ca),
        "--profile",
        "organization",
        "--subject",
        subject,
        "--agency",
        "000.00.00.G12",
        "--key-out",
        p(&key),
        "--out",
        p(&cert),
    ]);
    let chain = std::fs::read_to_string(ca.join("chain.pem")).expect("chain");
    let issuing = dir.path().join("issuing.pem");
    let first_end = chain.find("-----END CERTIFICATE-----").expect("pem") + "-----END CERTIFICATE-----\n".len();
    std::fs::write(&issuing, &chain[..first_end]).expect("write");

    let mut child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["ca", "serve", "--dir", p(&ca), "--listen", "127.0.0.1:0"])
        .env("LIENTHONG_CA_PASSPHRASE", PASSPHRASE)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let _server = Server(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the server says where it listens");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    assert!(ca.join("ocsp.pem").exists(), "the responder certificate was issued on first start");

    let ask = || {
        openssl(&[
            "ocsp",
            "-issuer",
            p(&issuing),
            "-cert",
            p(&cert),
            "-url",
            &format!("{url}/ocsp"),
            "-CAfile",
            p(&ca.join("chain.pem")),
        ])
        .1
    };
    let text = ask();
    assert!(text.contains("Response verify OK") && text.contains("org.pem: good"), "{text}");
    ok(&["ca", "revoke", "--dir", p(&ca), "--serial", &serial_of(&cert), "--reason", "cessationOfOperation"]);
    let text = ask();
    assert!(text.contains("org.pem: revoked") && text.contains("cessationOfOperation"), "{text}");
}
