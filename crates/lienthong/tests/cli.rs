//! The `lienthong` command line, run as a user runs it. Its output is a contract.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lienthong(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lienthong")).args(args).output().expect("lienthong runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn interop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop/edxml")
}

fn samples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(interop()).expect("interop samples").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn validate_prints_one_line_per_file_and_fails_on_the_bad_sample() {
    let files = samples();
    let args: Vec<&str> = ["edxml", "validate"].into_iter().chain(files.iter().map(|f| path(f))).collect();
    let output = lienthong(&args);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), files.len());
    for (line, file) in lines.iter().zip(&files) {
        let expected = if file.ends_with("edoc_new.edxml") {
            format!(
                "{}: ERROR garbage-before-declaration [Có dữ liệu thừa trước khai báo XML] 4 bytes of garbage before the XML declaration (starting \"1212\"): the file must start with <?xml (line 1, column 1)",
                file.display()
            )
        } else {
            format!("{}: OK", file.display())
        };
        assert_eq!(*line, expected);
    }
    let good: Vec<&str> = ["edxml", "validate"]
        .into_iter()
        .chain(files.iter().filter(|f| !f.ends_with("edoc_new.edxml")).map(|f| path(f)))
        .collect();
    assert_eq!(lienthong(&good).status.code(), Some(0));
}

#[test]
fn validate_reports_unreadable_files_and_nonconforming_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.edxml");
    let output = lienthong(&["edxml", "validate", path(&missing)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("missing.edxml: ERROR unreadable: cannot read"), "{}", stdout(&output));

    let text = std::fs::read_to_string(interop().join("status_acceptance_03.edxml")).expect("sample");
    let odd = dir.path().join("odd.edxml");
    std::fs::write(&odd, text.replacen("000.00.00.H41", "vxp.saas.03", 1)).expect("write");
    let strict = lienthong(&["edxml", "validate", path(&odd)]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stdout(&strict).contains("ERROR nonconforming-agency-code [Mã định danh không đúng chuẩn] MessageHeader/From/OrganId: \"vxp.saas.03\""), "{}", stdout(&strict));
    let lenient = lienthong(&["edxml", "validate", "--accept-nonconforming-codes", path(&odd)]);
    assert_eq!(lenient.status.code(), Some(0));
    assert!(stdout(&lenient).contains(": OK (accepted: nonconforming-agency-code"), "{}", stdout(&lenient));
}

#[test]
fn inspect_shows_vietnamese_with_english_and_json() {
    let file = interop().join("edoc_replacement.edxml");
    let text = stdout(&lienthong(&["edxml", "inspect", path(&file)]));
    for expected in [
        "Nghiệp vụ / Business",
        "3 — Thay thế / Replacement",
        "Số, ký hiệu / Number           7816/VPCP-TTĐT",
        "HỢP LỆ / VALID",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    let output = lienthong(&["edxml", "inspect", "--json", path(&file)]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["kind"], "document");
    assert_eq!(json["valid"], true);
    assert_eq!(json["package"]["trace"]["business"]["doc_type"], "3");
    assert_eq!(json["package"]["header"]["promulgation"]["date"], "2018-09-28");
    assert_eq!(json["attachments"][0]["files"][0]["size"], 388_347);
    let bad = lienthong(&["edxml", "inspect", "--json", path(&interop().join("edoc_new.edxml"))]);
    assert_eq!(bad.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json");
    assert_eq!(json["error"]["code"], "garbage-before-declaration");
}

#[test]
fn build_then_answer_with_a_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let header = dir.path().join("header.toml");
    let example = lienthong(&["edxml", "build", "--example"]);
    assert_eq!(example.status.code(), Some(0));
    std::fs::write(&header, &example.stdout).expect("write header");
    let letter = dir.path().join("cong-van.pdf");
    std::fs::write(&letter, b"%PDF-1.4 test").expect("write file");
    let doc = dir.path().join("doc.edxml");
    let built =
        lienthong(&["edxml", "build", "--header", path(&header), "--attach", path(&letter), "--out", path(&doc)]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert_eq!(stdout(&lienthong(&["edxml", "validate", path(&doc)])), format!("{}: OK\n", doc.display()));

    let status = dir.path().join("status.edxml");
    let answered = lienthong(&[
        "edxml",
        "status",
        "--for",
        path(&doc),
        "--code",
        "03",
        "--from",
        "000.00.00.H41",
        "--out",
        path(&status),
    ]);
    assert_eq!(answered.status.code(), Some(0), "{}", stderr(&answered));
    let json: serde_json::Value =
        serde_json::from_slice(&lienthong(&["edxml", "inspect", "--json", path(&status)]).stdout).expect("json");
    assert_eq!(json["kind"], "status");
    assert_eq!(json["valid"], true);
    assert_eq!(json["package"]["header"]["status"], "03");
    assert_eq!(json["package"]["header"]["description"], "Đã tiếp nhận");
    assert_eq!(json["package"]["header"]["response_for"]["code"], "4521/VPCP-KSTT");
    assert!(json["package"]["header"]["timestamp"].as_str().expect("timestamp").ends_with("+07:00"));
}

#[test]
fn bad_command_line_input_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = interop().join("edoc_update.edxml");
    let out = dir.path().join("status.edxml");
    let cases: [(&[&str], &str); 5] = [
        (&["--code", "07", "--from", "000.00.00.H41"], "\"07\" is not one of 01-06, 13, 15, 16"),
        (
            &["--code", "03", "--from", "000.00.00.h41"],
            "--from \"000.00.00.h41\" is not a valid agency code: lower-case letter 'h' at position 11",
        ),
        (&["--code", "03", "--from", "000.00.00.H01"], "000.00.00.H01 is not a recipient of this document"),
        (
            &["--code", "13", "--from", "000.00.00.H41", "--description", "Sai sót"],
            "status 13 (recall request) is reported by the sender 000.00.00.G22",
        ),
        (&["--code", "02", "--from", "000.00.00.H41", "--description", " "], "status 02 must give its reason"),
    ];
    for (extra, message) in cases {
        let args: Vec<&str> = ["edxml", "status", "--for", path(&doc), "--out", path(&out)]
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect();
        let output = lienthong(&args);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&output).contains(message), "{extra:?}: {}", stderr(&output));
        assert!(!out.exists(), "{extra:?} wrote a file");
    }
    let status_sample = interop().join("status.edxml");
    let output = lienthong(&[
        "edxml",
        "status",
        "--for",
        path(&status_sample),
        "--code",
        "03",
        "--from",
        "000.00.00.G22",
        "--out",
        path(&out),
    ]);
    assert!(
        stderr(&output).contains("is a status package: a status answers a document package"),
        "{}",
        stderr(&output)
    );

    let header = dir.path().join("bad.toml");
    std::fs::write(
        &header,
        String::from_utf8(lienthong(&["edxml", "build", "--example"]).stdout)
            .expect("utf-8")
            .replace("subject =", "subjekt ="),
    )
    .expect("write");
    let output = lienthong(&["edxml", "build", "--header", path(&header), "--out", path(&out)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown field `subjekt`"), "{}", stderr(&output));
    assert!(!out.exists());
}

/// Reads a package the way the Government Office SDK does (namespace-aware element paths), with
/// Python's standard library: a parser nobody on this team wrote.
#[test]
fn an_independent_xml_reader_finds_every_field_where_the_sdk_looks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = lienthong(&["demo", "--once", "--data-dir", path(dir.path())]);
    assert_eq!(demo.status.code(), Some(0), "{}", stderr(&demo));
    let doc = dir.path().join("van-ban-4521-VPCP-KSTT.edxml");
    let status = dir.path().join("trang-thai-000.00.00.H41-03.edxml");
    let script = r#"
import sys, base64, io, zipfile, xml.etree.ElementTree as ET
ns = {"e": "http://www.mic.gov.vn/TBT/QCVN_102_2016", "ds": "http://www.w3.org/2000/09/xmldsig#"}
doc = ET.parse(sys.argv[1]).getroot()
h = doc.find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", ns)
print(h.find("e:From/e:OrganId", ns).text, [t.text for t in h.findall("e:To/e:OrganId", ns)])
print(h.find("e:Code/e:CodeNumber", ns).text + "/" + h.find("e:Code/e:CodeNotation", ns).text, h.find("e:PromulgationInfo/e:PromulgationDate", ns).text)
print(doc.find("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/e:BussinessDocType", ns).text)
ref = doc.find("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest/e:Reference", ns)
att = doc.find("e:AttachmentEncoded/e:Attachment", ns)
print(ref.find("e:ContentId", ns).text, att.find("e:ContentId", ns).text, att.find("e:AttachmentName", ns).text)
z = zipfile.ZipFile(io.BytesIO(base64.b64decode(att.find("e:ContentTransferEncoded", ns).text)))
print(z.namelist(), z.read(z.namelist()[0]).decode("utf-8").splitlines()[0])
st = ET.parse(sys.argv[2]).getroot().find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", ns)
print(st.find("e:StatusCode", ns).text, st.find("e:ResponseFor/e:DocumentId", ns).text, st.find("e:From/e:OrganId", ns).text)
"#;
    let output =
        Command::new("python3").args(["-c", script, path(&doc), path(&status)]).output().expect("python3 runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = "000.00.00.G22 ['000.00.00.H41', '000.00.00.G12']\n\
                    4521/VPCP-KSTT 2026/11/24\n\
                    0\n\
                    cid:1 cid:1 4521-VPCP-KSTT.txt\n\
                    ['4521-VPCP-KSTT.txt'] Kính gửi: UBND Tỉnh Nghệ An; Bộ Tài chính.\n\
                    03 000.00.00.G22,2026/11/24,4521/VPCP-KSTT 000.00.00.H41\n";
    assert_eq!(stdout(&output), expected);
}

/// The demo's network, reached the way an agency's system reaches it: `demo.json` tells where,
/// curl trusts only the demo's root (`ca_root_pem`), and a gateway's inbox lists the document
/// that arrived during the demo.
#[test]
fn the_demo_network_answers_curl_with_only_the_demo_root_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
    let _demo = Running(
        Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(["demo", "--data-dir", path(dir.path())])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("demo starts"),
    );
    let info_path = dir.path().join("demo.json");
    let started = std::time::Instant::now();
    while !info_path.exists() && started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let text = std::fs::read_to_string(&info_path).expect("demo.json written");
    {
        let info: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let root = dir.path().join("root.pem");
        std::fs::write(&root, info["ca_root_pem"].as_str().expect("root")).expect("write");
        let nghe_an = info["agencies"]
            .as_array()
            .expect("agencies")
            .iter()
            .find(|a| a["organ_id"] == "000.00.00.H41")
            .expect("H41")
            .clone();
        let url = format!("{}/api/v1/inbox", nghe_an["gateway_url"].as_str().expect("url"));
        let key = format!("Authorization: Bearer {}", nghe_an["api_key"].as_str().expect("key"));
        let output =
            Command::new("curl").args(["-sS", "--cacert", path(&root), "-H", &key, &url]).output().expect("curl");
        assert!(output.status.success(), "{}", stderr(&output));
        let inbox: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON inbox");
        assert_eq!(inbox["items"][0]["sender"], "000.00.00.G22", "{inbox}");
        let untrusted = Command::new("curl").args(["-sS", "-H", &key, &url]).output().expect("curl");
        assert!(!untrusted.status.success(), "without the demo root, curl must not trust the gateway");
        cao_bang_lists_its_document_through_the_hub_sdk(&info, &root);
        the_ministrys_unit_reads_only_its_own_mail_on_the_ministrys_gateway(&info, &root);
    }
}

/// The Ministry's unit has its own key on the Ministry's gateway, and each key lists only the
/// mail of its own agency.
fn the_ministrys_unit_reads_only_its_own_mail_on_the_ministrys_gateway(info: &serde_json::Value, root: &Path) {
    let agencies = info["agencies"].as_array().expect("agencies");
    let find = |code: &str| agencies.iter().find(|a| a["organ_id"] == code).expect("listed").clone();
    let (ministry, unit) = (find("000.00.00.G12"), find("000.00.04.G12"));
    assert_eq!(unit["gateway_url"], ministry["gateway_url"], "{unit}");
    assert_eq!(unit["sdk_url"], ministry["gateway_url"], "{unit}");
    assert_ne!(unit["api_key"], ministry["api_key"]);
    let inbox = |entry: &serde_json::Value| {
        let url = format!("{}/api/v1/inbox", entry["gateway_url"].as_str().expect("url"));
        let key = format!("Authorization: Bearer {}", entry["api_key"].as_str().expect("key"));
        let output =
            Command::new("curl").args(["-sS", "--cacert", path(root), "-H", &key, &url]).output().expect("curl");
        assert!(output.status.success(), "{}", stderr(&output));
        let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON inbox");
        listed["items"].as_array().expect("items").clone()
    };
    let (theirs, its) = (inbox(&ministry), inbox(&unit));
    assert!(!its.is_empty() && its.iter().all(|i| i["recipient"] == "000.00.04.G12"), "{its:?}");
    assert!(!theirs.is_empty() && theirs.iter().all(|i| i["recipient"] == "000.00.00.G12"), "{theirs:?}");
    assert!(its.iter().all(|i| theirs.iter().all(|t| t["package_id"] != i["package_id"])), "nothing shared");
}

/// Cao Bằng runs no gateway: its system calls the hub's SDK endpoints, as the SDK would.
fn cao_bang_lists_its_document_through_the_hub_sdk(info: &serde_json::Value, root: &std::path::Path) {
    let agencies = info["agencies"].as_array().expect("agencies");
    let cao_bang = agencies.iter().find(|a| a["organ_id"] == "000.00.00.H14").expect("H14");
    assert!(cao_bang["gateway_url"].is_null() && cao_bang["api_key"].is_null(), "{cao_bang}");
    assert_eq!(cao_bang["sdk_url"], info["hub_sdk_url"]);
    let sign = |secret: &str| {
        exchange::sdk::client_headers(
            cao_bang["sdk_system_id"].as_str().expect("system"),
            secret,
            &[("messagetype", "edoc")],
            time::OffsetDateTime::now_utc(),
        )
    };
    let call = |headers: &[(String, String)]| {
        let url = format!("{}/getReceivedEdocList", cao_bang["sdk_url"].as_str().expect("sdk url"));
        let mut args = vec!["-sS".to_owned(), "-X".into(), "POST".into(), "--cacert".into(), path(root).into()];
        for (name, value) in headers {
            args.extend(["-H".to_owned(), format!("{name}: {value}")]);
        }
        args.push(url);
        let output = Command::new("curl").args(&args).output().expect("curl");
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("SDK JSON")
    };
    let signed = sign(cao_bang["sdk_secret"].as_str().expect("secret"));
    let listed = call(&signed);
    assert_eq!(listed["status"], "OK", "{listed}");
    assert_eq!(listed["data"][0]["from"], "000.00.00.G22", "{listed}");
    assert_eq!(listed["data"][0]["to"], "000.00.00.H14", "{listed}");
    let replayed = call(&signed);
    assert_eq!(replayed["status"], "FAIL", "{replayed}");
    assert!(replayed["ErrorDesc"].as_str().is_some_and(|d| d.contains("Replayed request")), "{replayed}");
    let forged = call(&sign("not-the-secret"));
    assert_eq!(forged["status"], "FAIL", "{forged}");
}

/// A hub directory as an older `hub init` wrote it (no `retention_days`), whose store holds a
/// delivery queued two days ago and one queued now, neither collected.
fn hub_with_waiting_deliveries(dir: &Path) {
    std::fs::write(
        dir.join("hub.toml"),
        "listen = \"127.0.0.1:8443\"\npublic_url = \"https://localhost:8443\"\n\
         crl_url = \"http://127.0.0.1:8080/crl\"\noperator_token_sha256 = \"00\"\n",
    )
    .expect("hub.toml");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use store::ExchangeStore as _;
        let store = store::Store::open(&format!("sqlite://{}", dir.join("hub.sqlite").display())).await.expect("store");
        let now = time::OffsetDateTime::now_utc();
        for (id, queued_at) in [("vpcp-2-days-ago", now - time::Duration::days(2)), ("vpcp-now", now)] {
            let envelope = store::OuterEnvelope {
                id: id.into(),
                sender: "000.00.00.G22".into(),
                kind: store::PackageKind::Document,
                size: 10,
                sha256: "a".repeat(64),
                blob: "a".repeat(64),
            };
            let routes = [store::Route { recipient: "000.00.04.G12".into(), mailbox: "000.00.00.G12".into() }];
            store.accept(&envelope, &routes, queued_at, exchange::receipt_due(queued_at)).await.expect("accept");
        }
        store.close().await;
    });
}

#[test]
fn hub_overdue_lists_deliveries_past_their_receipt_deadline() {
    let dir = tempfile::tempdir().expect("dir");
    hub_with_waiting_deliveries(dir.path());
    let output = lienthong(&["hub", "overdue", "--dir", path(dir.path())]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for expected in [
        "vpcp-2-days-ago",
        "000.00.00.G22",
        "000.00.04.G12",
        "000.00.00.G12",
        "T23:59:59+07:00",
        " ngày ",
        "overdue by ",
    ] {
        assert!(lines[0].contains(expected), "{expected:?} in {:?}", lines[0]);
    }
    assert!(!text.contains("vpcp-now"), "due only at the end of today: {text}");
    assert_eq!(lines[1], "Số lượt chuyển quá hạn xác nhận đã nhận: 1 / Deliveries overdue for receipt: 1");

    let output = lienthong(&["hub", "overdue", "--dir", path(dir.path()), "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let items: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(items.len(), 1);
    assert_eq!((&items[0]["package_id"], &items[0]["mailbox"]), (&"vpcp-2-days-ago".into(), &"000.00.00.G12".into()));
    assert!(items[0]["overdue_seconds"].as_i64().is_some_and(|s| s >= 86_400), "{}", items[0]);

    let settings = std::fs::read_to_string(dir.path().join("hub.toml")).expect("hub.toml");
    std::fs::write(dir.path().join("hub.toml"), settings + "retention_days = 0\n").expect("hub.toml");
    let output = lienthong(&["hub", "overdue", "--dir", path(dir.path())]);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(stderr(&output).contains("retention_days = 0"), "{}", stderr(&output));
}

/// Opens the store of the gateway directory `dir` (its default, `gateway.sqlite`).
async fn gateway_store(dir: &Path) -> store::Store {
    store::Store::open(&format!("sqlite://{}", dir.join("gateway.sqlite").display())).await.expect("store")
}

/// When clerk `login`'s web login is locked until, if it is, in the gateway directory `dir`.
fn locked_until(dir: &Path, login: &str) -> Option<time::OffsetDateTime> {
    use store::WebStore as _;
    tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        let store = gateway_store(dir).await;
        let until = store.web_login_locked_until(login, time::OffsetDateTime::now_utc()).await.expect("read");
        store.close().await;
        until
    })
}

/// A gateway directory (its settings as `gateway init` writes them) whose store has a clerk,
/// `van-thu`, locked after five failed passwords, and five failures of a name no clerk has.
fn gateway_with_a_locked_clerk(dir: &Path) {
    std::fs::write(
        dir.join("gateway.toml"),
        "agency = \"000.00.00.H41\"\nname = \"UBND tỉnh Nghệ An\"\nhub_url = \"https://127.0.0.1:8443\"\n\
         listen = \"127.0.0.1:9443\"\ncrl_url = \"http://127.0.0.1:8080/crl\"\n",
    )
    .expect("gateway.toml");
    tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        use store::{GatewayStore as _, WebStore as _};
        let store = gateway_store(dir).await;
        let now = time::OffsetDateTime::now_utc();
        let client = store.add_client("web:van-thu", "key-hash", "000.00.00.H41", now).await.expect("client");
        let clerk = store::WebUser { name: "van-thu".into(), password_hash: "unused".into(), client: client.id };
        store.add_web_user(&clerk, now).await.expect("clerk");
        let policy = store::LoginLockout {
            max_failures: 5,
            lock_for: time::Duration::minutes(15),
            forget_after: time::Duration::hours(24),
        };
        for name in ["van-thu", "khong-co-ai"] {
            for _ in 0..5 {
                store.web_login_failed(name, now, &policy).await.expect("failure counted");
            }
        }
        store.close().await;
    });
}

#[test]
fn gateway_clerk_unlock_lifts_a_clerks_lockout_and_refuses_an_unknown_login() {
    let dir = tempfile::tempdir().expect("dir");
    gateway_with_a_locked_clerk(dir.path());
    assert!(locked_until(dir.path(), "van-thu").is_some(), "locked to begin with");

    let unlock = |login: &str| lienthong(&["gateway", "clerk", "unlock", "--dir", path(dir.path()), "--login", login]);
    let output = unlock("khong-co-ai");
    assert!(!output.status.success(), "{}", stdout(&output));
    let error = stderr(&output);
    assert!(error.contains("không có cán bộ nào") && error.contains("no clerk with this login"), "{error}");
    assert!(locked_until(dir.path(), "khong-co-ai").is_some(), "nothing changed");

    let output = unlock("van-thu");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.starts_with("Đã mở khóa đăng nhập web của cán bộ \"van-thu\""), "Vietnamese first: {text}");
    assert!(text.contains("Unlocked clerk \"van-thu\"'s web login (it was locked until "), "{text}");
    assert!(text.contains("+07:00"), "in Vietnam time: {text}");
    assert_eq!(locked_until(dir.path(), "van-thu"), None, "unlocked");

    let output = unlock("van-thu");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("was not locked"), "{}", stdout(&output));
}
