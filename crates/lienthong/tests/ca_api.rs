//! The issuing workflow through `lienthong ca serve`'s JSON API, driven with curl, checked with
//! openssl: three levels (subscriber → managing agency's officer → operator), roles bound to
//! agencies, re-issue on change of position, suspension, timestamps, and the audit log.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const PASSPHRASE: &str = "correct horse battery";

fn lienthong(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .env("LIENTHONG_CA_PASSPHRASE", PASSPHRASE)
        .env_remove("LIENTHONG_CA_STORE_URL")
        .env_remove("LIENTHONG_CA_PUBLIC_URL")
        .output()
        .expect("lienthong runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

fn openssl(args: &[&str]) -> (i32, String) {
    let output = Command::new("openssl").args(args).output().expect("openssl is installed");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

struct Ca {
    dir: tempfile::TempDir,
    url: String,
    _server: Server,
}

impl Ca {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// A CA whose `ca.toml` has each `(line, replacement)` applied.
    fn start_with(settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (code, text) = lienthong(&["ca", "init", "--dir", p(&dir.path().join("ca"))]);
        assert_eq!(code, 0, "{text}");
        let toml = dir.path().join("ca/ca.toml");
        let current = std::fs::read_to_string(&toml).expect("ca.toml");
        let edited = settings.iter().fold(current, |text, (line, replacement)| {
            assert!(text.contains(line), "ca.toml has no {line:?}: {text}");
            text.replace(line, replacement)
        });
        std::fs::write(&toml, edited).expect("settings");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(["ca", "serve", "--dir", p(&dir.path().join("ca")), "--listen", "127.0.0.1:0"])
            .env("LIENTHONG_CA_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let server = Server(child);
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("the server says where it listens");
        let url = line.trim().rsplit(' ').next().expect("url").to_owned();
        Self { dir, url, _server: server }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn save(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn account(&self, name: &str, role: &str, agency: Option<&str>) -> String {
        let ca = self.ca();
        let mut args = vec!["ca", "account", "add", "--dir", p(&ca), "--name", name, "--role", role];
        if let Some(agency) = agency {
            args.extend(["--agency", agency]);
        }
        let (code, text) = lienthong(&args);
        assert_eq!(code, 0, "{text}");
        text.trim().rsplit(' ').next().expect("token").to_owned()
    }

    /// (HTTP status, body) of an API call made with curl.
    fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, String) {
        let mut command = Command::new("curl");
        command.args(["-sS", "-X", method, "-w", "\n%{http_code}", "-H", &format!("Authorization: Bearer {token}")]);
        if body.is_some() {
            command.args(["-H", "Content-Type: application/json", "--data-binary", "@-"]);
        }
        let mut child = command
            .arg(format!("{}{path}", self.url))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl is installed");
        if let Some(body) = body {
            child.stdin.take().expect("stdin").write_all(body.to_string().as_bytes()).expect("send");
        }
        drop(child.stdin.take());
        let output = child.wait_with_output().expect("curl runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').expect("status line");
        (status.parse().expect("status"), body.to_owned())
    }

    fn json(&self, method: &str, path: &str, token: &str, body: Option<&Value>, expect: u16) -> Value {
        let (status, text) = self.call(method, path, token, body);
        assert_eq!(status, expect, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
    }

    fn ocsp(&self, cert: &Path) -> String {
        let issuing = self.path("issuing.pem");
        if !issuing.exists() {
            let chain = std::fs::read_to_string(self.ca().join("chain.pem")).expect("chain");
            let end = chain.find("-----END CERTIFICATE-----").expect("pem") + "-----END CERTIFICATE-----\n".len();
            std::fs::write(&issuing, &chain[..end]).expect("write");
        }
        let url = format!("{}/ocsp", self.url);
        let chain = self.ca().join("chain.pem");
        openssl(&["ocsp", "-issuer", p(&issuing), "-cert", p(cert), "-url", &url, "-CAfile", p(&chain)]).1
    }
}

fn csr(dir: &Path, name: &str) -> String {
    let (key, csr) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.csr")));
    let (code, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        p(&key),
        "-subj",
        "/CN=ignored",
        "-out",
        p(&csr),
    ]);
    assert_eq!(code, 0, "{text}");
    std::fs::read_to_string(csr).expect("csr")
}

#[test]
fn three_levels_roles_reissue_suspension_timestamps_and_audit() {
    let ca = Ca::start();
    let database = ca.ca().join("ca.sqlite");
    three_levels(&ca, &|sql| {
        let status = Command::new("sqlite3").arg(&database).arg(sql).status().expect("sqlite3");
        assert!(status.success());
    });
}

/// The same story with the authority's store on PostgreSQL (`LIENTHONG_TEST_POSTGRES`).
#[test]
fn the_same_story_on_postgresql() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        eprintln!("LIENTHONG_TEST_POSTGRES is not set: the PostgreSQL run of this story is skipped");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let database = runtime.block_on(store::testing::TestDatabase::create(&server)).expect("database");
    let url = database.url();
    {
        let ca = Ca::start_with(&[("store_url = \"\"", &format!("store_url = \"{url}\""))]);
        three_levels(&ca, &|sql| {
            let status = Command::new("psql").args(["-q", &url, "-c", sql]).status().expect("psql");
            assert!(status.success());
        });
    }
    runtime.block_on(database.remove()).expect("drop");
}

fn three_levels(ca: &Ca, tamper: &dyn Fn(&str)) {
    let operator = ca.account("Trực ban CA", "operator", None);
    let officer_g12 = ca.account("Cán bộ đăng ký Bộ Tài chính", "officer", Some("000.00.00.G12"));
    let officer_h41 = ca.account("Cán bộ đăng ký Nghệ An", "officer", Some("000.00.00.H41"));
    let subscriber = ca.account("Nguyễn Văn An", "subscriber", Some("000.00.04.G12"));

    let who = ca.json("GET", "/api/v1/whoami", &subscriber, None, 200);
    assert_eq!((who["role"].as_str(), who["agency"].as_str()), (Some("subscriber"), Some("000.00.04.G12")));
    let (status, text) = ca.call("GET", "/api/v1/whoami", "lt_not-a-token", None);
    assert_eq!(status, 401, "{text}");

    // 1. The subscriber asks, with its own key.
    let request = json!({
        "kind": "new", "profile": "official", "agency": "000.00.04.G12",
        "subject": "CN=Nguyễn Văn An,T=Chuyên viên,OU=Cục Quản lý công sản,O=Bộ Tài chính,C=VN",
        "csr": csr(ca.dir.path(), "an"),
    });
    let submitted = ca.json("POST", "/api/v1/requests", &subscriber, Some(&request), 201);
    let id = submitted["id"].as_i64().expect("id");
    assert_eq!(submitted["state"], "submitted");
    assert_eq!(submitted["state_label"], "Chờ cơ quan quản lý duyệt");

    // 2. Another agency's officer may not approve; nothing changes.
    let refused = ca.json("POST", &format!("/api/v1/requests/{id}/approve"), &officer_h41, Some(&json!({})), 403);
    assert_eq!(refused["error"], "forbidden");
    assert!(refused["message"].as_str().expect("vi").starts_with("Không được phép"), "{refused}");
    assert!(refused["message_en"].as_str().expect("en").contains("000.00.00.H41"), "{refused}");
    let hidden = ca.json("GET", &format!("/api/v1/requests/{id}"), &officer_h41, None, 403);
    assert_eq!(hidden["error"], "forbidden");
    assert_eq!(ca.json("GET", &format!("/api/v1/requests/{id}"), &operator, None, 200)["state"], "submitted");

    // 3. The managing agency's officer approves (the Ministry covers its level-2 unit); only an
    //    operator issues.
    let note = json!({"note": "Hồ sơ đầy đủ"});
    let approved = ca.json("POST", &format!("/api/v1/requests/{id}/approve"), &officer_g12, Some(&note), 200);
    assert_eq!(approved["state"], "approved");
    ca.json("POST", &format!("/api/v1/requests/{id}/issue"), &officer_g12, None, 403);
    let issued = ca.json("POST", &format!("/api/v1/requests/{id}/issue"), &operator, None, 200);
    assert_eq!(issued["state"], "issued");
    let history: Vec<&str> =
        issued["history"].as_array().expect("history").iter().map(|e| e["state"].as_str().expect("s")).collect();
    assert_eq!(history, ["submitted", "approved", "issued"]);
    assert!(issued["history"][1]["at"].as_str().expect("at").ends_with("+07:00"), "{issued}");
    let (status, pem) = ca.call("GET", &format!("/api/v1/requests/{id}/certificate"), &subscriber, None);
    assert_eq!(status, 200, "{pem}");
    let cert = ca.save("an.pem", &pem);
    let (code, text) = openssl(&["verify", "-CAfile", p(&ca.ca().join("chain.pem")), p(&cert)]);
    assert_eq!(code, 0, "{text}");
    let (_, cert_key) = openssl(&["x509", "-in", p(&cert), "-noout", "-pubkey"]);
    let (_, own_key) = openssl(&["pkey", "-in", p(&ca.path("an.key")), "-pubout"]);
    assert_eq!(cert_key, own_key, "the certificate certifies the CSR's key");
    let old_serial = issued["serial"].as_str().expect("serial").to_owned();

    // 4. Re-issue on change of position: new title, same key; the old one superseded at once.
    let reissue = json!({"kind": "reissue", "serial": old_serial, "title": "Phó Cục trưởng"});
    let colleague = ca.account("Lê Thị Bích", "subscriber", Some("000.00.04.G12"));
    let takeover = ca.json("POST", "/api/v1/requests", &colleague, Some(&reissue), 403);
    assert!(
        takeover["message_en"].as_str().expect("en").contains("not issued on this account's request"),
        "{takeover}"
    );
    let id2 = ca.json("POST", "/api/v1/requests", &subscriber, Some(&reissue), 201)["id"].as_i64().expect("id");
    ca.json("POST", &format!("/api/v1/requests/{id2}/approve"), &officer_g12, None, 200);
    let reissued = ca.json("POST", &format!("/api/v1/requests/{id2}/issue"), &operator, None, 200);
    let new_serial = reissued["serial"].as_str().expect("serial");
    let new_cert = ca.json("GET", &format!("/api/v1/certificates/{new_serial}"), &subscriber, None, 200);
    assert!(new_cert["subject"].as_str().expect("subject").contains("T=Phó Cục trưởng"), "{new_cert}");
    let old = ca.json("GET", &format!("/api/v1/certificates/{old_serial}"), &subscriber, None, 200);
    assert_eq!((old["status"].as_str(), old["reason"].as_str()), (Some("revoked"), Some("superseded")));
    let text = ca.ocsp(&cert);
    assert!(text.contains("an.pem: revoked") && text.contains("superseded"), "{text}");
    let crl = ca.path("now.crl");
    let status = Command::new("curl").args(["-sS", "-o", p(&crl), &format!("{}/crl", ca.url)]).status().expect("curl");
    assert!(status.success());
    let (_, text) = openssl(&["crl", "-inform", "DER", "-in", p(&crl), "-noout", "-text"]);
    assert!(text.contains(&old_serial.to_uppercase()) && text.contains("Superseded"), "{text}");

    // 5. Suspension and its lifting, seen by OCSP at once.
    let new_pem = ca.save("an2.pem", new_cert["pem"].as_str().expect("pem"));
    ca.json("POST", &format!("/api/v1/certificates/{new_serial}/suspend"), &officer_g12, None, 200);
    let text = ca.ocsp(&new_pem);
    assert!(text.contains("an2.pem: revoked") && text.contains("certificateHold"), "{text}");
    ca.json("POST", &format!("/api/v1/certificates/{new_serial}/suspend"), &officer_h41, None, 403);
    let lifted = ca.json("POST", &format!("/api/v1/certificates/{new_serial}/unsuspend"), &operator, None, 200);
    assert_eq!(lifted["status"], "good");
    assert!(ca.ocsp(&new_pem).contains("an2.pem: good"));
    let twice = json!({"reason": "keyCompromise"});
    ca.json("POST", &format!("/api/v1/certificates/{old_serial}/revoke"), &operator, Some(&twice), 409);

    // 6. A key generated for the subscriber, returned sealed under the subscriber's passphrase.
    let generated = json!({
        "kind": "new", "profile": "official", "agency": "000.00.04.G12",
        "subject": "CN=Trần Thị Bình,T=Chuyên viên,O=Bộ Tài chính",
        "generate_key": {"passphrase": "mật khẩu của Bình 2026"},
    });
    let id3 = ca.json("POST", "/api/v1/requests", &subscriber, Some(&generated), 201)["id"].as_i64().expect("id");
    ca.json("POST", &format!("/api/v1/requests/{id3}/approve"), &officer_g12, None, 200);
    ca.json("POST", &format!("/api/v1/requests/{id3}/issue"), &operator, None, 200);
    let (status, sealed) = ca.call("GET", &format!("/api/v1/requests/{id3}/key"), &subscriber, None);
    assert_eq!(status, 200, "{sealed}");
    assert!(sealed.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{sealed}");
    ca.json("GET", &format!("/api/v1/requests/{id3}/key"), &operator, None, 403);
    let sealed = ca.save("binh.key", &sealed);
    let (code, text) = openssl(&["pkey", "-in", p(&sealed), "-passin", "pass:mật khẩu của Bình 2026", "-pubout"]);
    assert_eq!(code, 0, "{text}");
    let (_, pem) = ca.call("GET", &format!("/api/v1/requests/{id3}/certificate"), &subscriber, None);
    let (_, cert_key) = openssl(&["x509", "-in", p(&ca.save("binh.pem", &pem)), "-noout", "-pubkey"]);
    assert_eq!(cert_key, text, "the certificate certifies the generated key");

    // 7. RFC 3161 timestamps, verified by openssl.
    let document = ca.save("doc.txt", "Nghị quyết phiên họp Chính phủ thường kỳ");
    let query = ca.path("req.tsq");
    let (code, text) = openssl(&["ts", "-query", "-data", p(&document), "-sha256", "-cert", "-out", p(&query)]);
    assert_eq!(code, 0, "{text}");
    let reply = ca.path("resp.tsr");
    let status = Command::new("curl")
        .args(["-sS", "-H", "Content-Type: application/timestamp-query", "--data-binary"])
        .arg(format!("@{}", p(&query)))
        .args(["-o", p(&reply), &format!("{}/tsa", ca.url)])
        .status()
        .expect("curl");
    assert!(status.success());
    let chain = ca.ca().join("chain.pem");
    let (code, text) = openssl(&[
        "ts",
        "-verify",
        "-data",
        p(&document),
        "-in",
        p(&reply),
        "-CAfile",
        p(&ca.ca().join("root.pem")),
        "-untrusted",
        p(&chain),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Verification: OK"), "{text}");

    // 8. The audit log holds, then shows where it was edited.
    let (code, text) = lienthong(&["ca", "audit", "verify", "--dir", p(&ca.ca())]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("audit log intact: "), "{text}");
    tamper("UPDATE audit_log SET actor = 'someone else' WHERE seq = 7;");
    let (code, text) = lienthong(&["ca", "audit", "verify", "--dir", p(&ca.ca())]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("audit log BROKEN: audit entry 7 was altered"), "{text}");
}

#[test]
fn bad_requests_get_clear_errors_and_store_nothing() {
    let ca = Ca::start();
    let operator = ca.account("Trực ban CA", "operator", None);
    let subscriber = ca.account("Lê Văn Cường", "subscriber", Some("000.00.00.H41"));
    let subject = "CN=Lê Văn Cường,T=Chuyên viên,O=UBND tỉnh Nghệ An";
    let good_csr = csr(ca.dir.path(), "c");
    let cases = [
        (
            json!({"kind": "new", "profile": "wizard", "subject": subject, "agency": "000.00.00.H41", "csr": good_csr}),
            400,
            "unknown profile",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "000.00.00.H41", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}),
            422,
            "not a PKCS#10",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "000.00.00.H41", "csr": tampered(&good_csr)}),
            422,
            "signature does not match",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": "CN=Lê Văn Cường,O=UBND", "agency": "000.00.00.H41", "csr": good_csr}),
            422,
            "position",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "000.00.00.G22", "csr": good_csr}),
            403,
            "000.00.00.G22",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "bad code", "csr": good_csr}),
            400,
            "agency",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "000.00.00.H41"}),
            400,
            "exactly one of csr",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "000.00.00.H41", "generate_key": {"passphrase": "short"}}),
            400,
            "at least 12",
        ),
        (
            json!({"kind": "new", "profile": "official", "subject": subject, "agency": "000.00.00.H41", "csr": good_csr, "extra": 1}),
            400,
            "unknown field",
        ),
        (json!({"kind": "renew", "serial": "0badc0de"}), 404, "no certificate"),
        (json!({"kind": "upgrade"}), 400, "unknown variant"),
    ];
    for (body, status, message) in cases {
        let refused = ca.json("POST", "/api/v1/requests", &subscriber, Some(&body), status);
        assert!(refused["message_en"].as_str().expect("en").contains(message), "{body}: {refused}");
        assert!(!refused["message"].as_str().expect("vi").is_empty());
    }
    let (status, text) = ca.call("POST", "/api/v1/requests", &subscriber, Some(&json!({"csr": "x".repeat(70_000)})));
    assert_eq!(status, 413, "{text}");
    let listed = ca.json("GET", "/api/v1/requests", &operator, None, 200);
    assert_eq!(listed["requests"].as_array().expect("list").len(), 0, "nothing stored: {listed}");
    ca.json("GET", "/api/v1/requests?state=lost", &operator, None, 400);
    ca.json("POST", "/api/v1/requests/99/approve", &operator, None, 404);
}

/// The CSR with one byte of its signature changed.
fn tampered(pem: &str) -> String {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let last = der.len() - 3;
    der[last] ^= 0x01;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n")
}

#[test]
fn policy_issues_on_approval_renewal_keeps_the_old_certificate_and_nobody_approves_their_own() {
    let ca = Ca::start_with(&[("auto_issue = []", "auto_issue = [\"organization\"]")]);
    let officer = ca.account("Cán bộ đăng ký UBND tỉnh Cao Bằng", "officer", Some("000.00.00.H14"));
    let colleague = ca.account("Cán bộ đăng ký 2", "officer", Some("000.00.00.H14"));
    let request = json!({
        "kind": "new", "profile": "organization", "agency": "000.00.00.H14",
        "subject": "CN=UBND tỉnh Cao Bằng,O=UBND tỉnh Cao Bằng,C=VN", "csr": csr(ca.dir.path(), "seal"),
    });
    let id = ca.json("POST", "/api/v1/requests", &officer, Some(&request), 201)["id"].as_i64().expect("id");
    let own = ca.json("POST", &format!("/api/v1/requests/{id}/approve"), &officer, None, 403);
    assert!(own["message_en"].as_str().expect("en").contains("both request and approve"), "{own}");
    let rejected_without_reason = ca.json("POST", &format!("/api/v1/requests/{id}/reject"), &colleague, None, 400);
    assert!(rejected_without_reason["message_en"].as_str().expect("en").contains("reason"));
    let approved = ca.json("POST", &format!("/api/v1/requests/{id}/approve"), &colleague, None, 200);
    assert_eq!(approved["state"], "issued", "policy issues organization certificates on approval: {approved}");
    assert!(approved["history"][2]["actor"].as_str().expect("actor").contains("policy"), "{approved}");
    let serial = approved["serial"].as_str().expect("serial").to_owned();

    let renew = json!({"kind": "renew", "serial": serial});
    let id2 = ca.json("POST", "/api/v1/requests", &officer, Some(&renew), 201)["id"].as_i64().expect("id");
    let renewed = ca.json("POST", &format!("/api/v1/requests/{id2}/approve"), &colleague, None, 200);
    assert_eq!(
        (renewed["state"].as_str(), renewed["kind"].as_str(), renewed["key"].as_str()),
        (Some("issued"), Some("renew"), Some("kept"))
    );
    let new_serial = renewed["serial"].as_str().expect("serial");
    assert_ne!(new_serial, serial);
    let old = ca.json("GET", &format!("/api/v1/certificates/{serial}"), &officer, None, 200);
    assert_eq!(old["status"], "good", "renewal leaves the old certificate valid until it expires");
    let new = ca.json("GET", &format!("/api/v1/certificates/{new_serial}"), &officer, None, 200);
    assert_eq!(new["subject"], old["subject"]);
    let (old_pem, new_pem) =
        (ca.save("old.pem", old["pem"].as_str().expect("pem")), ca.save("new.pem", new["pem"].as_str().expect("pem")));
    let key = |path: &Path| openssl(&["x509", "-in", p(path), "-noout", "-pubkey"]).1;
    assert_eq!(key(&old_pem), key(&new_pem), "renewal without a CSR keeps the key");

    let rejected =
        ca.json("POST", "/api/v1/requests", &officer, Some(&json!({"kind": "renew", "serial": serial})), 201);
    let id3 = rejected["id"].as_i64().expect("id");
    let done = ca.json(
        "POST",
        &format!("/api/v1/requests/{id3}/reject"),
        &colleague,
        Some(&json!({"note": "Đã gia hạn"})),
        200,
    );
    assert_eq!(done["state"], "rejected");
    ca.json("POST", &format!("/api/v1/requests/{id3}/approve"), &colleague, None, 409);
    let listed = ca.json("GET", "/api/v1/requests?state=issued", &officer, None, 200);
    assert_eq!(listed["requests"].as_array().expect("list").len(), 2);
}
