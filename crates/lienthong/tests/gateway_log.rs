//! `lienthong gateway log verify` on a gateway's store (SQLite, and PostgreSQL when
//! `LIENTHONG_TEST_POSTGRES` names a server) whose log a real time-stamp authority anchored over
//! HTTP: intact, then edited with `sqlite3` / `psql` in the ways an insider could, each time
//! failing and naming the entry.

use std::path::Path;
use std::process::Command;

use pki::{Authority, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, SubjectName, SubscriberKey};
use store::testing::TestDatabase;
use store::{AuditStore, GatewayStore, IncomingPackage, OutgoingPackage, PackageKind, RefusedPackage, Store};
use time::OffsetDateTime;

fn lienthong(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lienthong")).args(args).output().expect("lienthong runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// The CA's HTTP service with a time-stamp authority on a real socket: its `/tsa` URL and root.
async fn timestamp_authority(dir: &Path) -> (String, Vec<u8>) {
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new = Authority::create(KeyAlgorithm::P256, "lienthong TSA test", &endpoints, OffsetDateTime::now_utc())
        .expect("authority");
    let authority = Authority::new(new.issuing_der.clone(), new.issuing_key, endpoints);
    let issue = |profile, subject: &str| {
        let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject).expect("subject"),
            agency: None,
            key: SubscriberKey::from_key(&key),
        };
        (authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
    };
    let (tsa_cert, tsa_key) = issue(Profile::Tsa, "CN=lienthong TSA 1,O=lienthong test,C=VN");
    let (ocsp_cert, ocsp_key) = issue(Profile::Ocsp, "CN=lienthong OCSP 1,O=lienthong test,C=VN");
    let tsa = pki::TimeStampAuthority::new(&tsa_cert.der, vec![new.issuing_der.clone()], tsa_key).expect("tsa");
    let responder = pki::OcspResponder::new(&new.issuing_der, &ocsp_cert.der, ocsp_key).expect("responder");
    let ca_store = Store::open(&format!("sqlite://{}", dir.join(format!("ca-{}.sqlite", rand_suffix())).display()))
        .await
        .expect("store");
    let parts = ca::ServiceParts {
        authority,
        responder,
        store: ca_store,
        root_der: new.root_der.clone(),
        tsa: Some(tsa),
        policy: ca::Policy::default(),
    };
    let service = ca::CaService::from_parts(parts).await.expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/tsa", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, ca::router(service)).await });
    (url, new.root_der)
}

fn rand_suffix() -> String {
    pki::CertSerial::random().to_hex()[..8].to_owned()
}

/// A gateway's day through the storage trait: six events, anchored, then one more.
async fn a_day_at_the_gateway(store: &Store, tsa_url: &str, root: &[u8]) {
    let now = OffsetDateTime::now_utc();
    let client = store.add_client("QLVB Văn phòng Chính phủ", "key-hash", "000.00.00.G22", now).await.expect("client");
    let outgoing = |id: &str, reference: &str| OutgoingPackage {
        package_id: id.into(),
        client: client.id.clone(),
        client_ref: reference.into(),
        kind: PackageKind::Document,
        sender: "000.00.00.G22".into(),
        recipients: vec!["000.00.00.H41".into()],
        document_id: Some("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT".into()),
        subject: None,
        blob: "b".repeat(64),
        size: 100,
        sha256: "c".repeat(64),
        status_code: None,
    };
    store.enqueue(&outgoing("g22-1", "QLVB-1"), now).await.expect("queued");
    store.mark_sent(&["g22-1"], now).await.expect("sent");
    let incoming = IncomingPackage {
        package_id: "h41-1".into(),
        hub_delivery: 1,
        kind: PackageKind::Document,
        sender: "000.00.00.H41".into(),
        recipient: "000.00.00.G22".into(),
        document_id: None,
        subject: Some("Báo cáo".into()),
        signer: "CN=UBND tỉnh Nghệ An".into(),
        blob: "d".repeat(64),
        size: 900,
        sealed_sha256: "e".repeat(64),
        change: store::DocumentChange::New,
        refers_to: Vec::new(),
        due_date: None,
    };
    store.receive(&incoming, now).await.expect("received");
    store.acknowledge_incoming("h41-1", "000.00.00.G22", "client:qlvb", now).await.expect("acknowledged");
    let refused = RefusedPackage {
        package_id: "h14-1".into(),
        hub_delivery: 2,
        kind: PackageKind::Document,
        sender: "000.00.00.H14".into(),
        recipient: "000.00.00.G22".into(),
        sealed_sha256: "f".repeat(64),
        reason: "02: Chữ ký số trên gói tin không hợp lệ".into(),
    };
    store.record_refusal(&refused, now).await.expect("refused");
    let tsa = gateway::log::TsaClient::new(tsa_url, vec![root.to_vec()]).expect("client");
    let anchored = gateway::log::anchor(store, &tsa).await.expect("anchored").expect("new head");
    assert_eq!(anchored.seq, 6);
    store.enqueue(&outgoing("g22-2", "QLVB-2"), now).await.expect("queued");
}

/// SQL statements that rewrite entries from `from` on with `details` changed as `edit` says and
/// every later hash recomputed (a chain consistent in itself), and the new last hash.
fn rewrite_from(entries: &[store::AuditEntry], from: i64, edit: impl Fn(&str) -> String) -> (String, String) {
    let mut sql = String::new();
    let mut prev = entries[usize::try_from(from - 2).expect("position")].hash.clone();
    for entry in entries.iter().filter(|e| e.seq >= from) {
        let details = if entry.seq == from { edit(&entry.details) } else { entry.details.clone() };
        let hash = store::chain_hash(&prev, entry.seq, entry.at, &entry.actor, &entry.action, &details);
        sql += &format!(
            "UPDATE audit_log SET details = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {};\n",
            details.replace('\'', "''"),
            entry.seq
        );
        prev = hash;
    }
    (sql, prev)
}

async fn story(url: &str, tamper: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("dir");
    let (tsa_url, root) = timestamp_authority(dir.path()).await;
    let store = Store::open(url).await.expect("open");
    a_day_at_the_gateway(&store, &tsa_url, &root).await;
    let entries = store.audit_entries(0, 100).await.expect("log");
    store.close().await;
    let root_pem = dir.path().join("root.pem");
    std::fs::write(&root_pem, ca::pem("CERTIFICATE", &root)).expect("write");
    let verify =
        |root: &Path| lienthong(&["gateway", "log", "verify", "--store", url, "--root", root.to_str().expect("utf-8")]);

    let (code, text) = verify(&root_pem);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("Nhật ký thông điệp nguyên vẹn: 7 mục, 1 dấu thời gian, neo thời gian đến mục 6 lúc "),
        "{text}"
    );
    assert!(text.contains("+07:00 (") && text.contains("1 mục mới hơn chưa được neo"), "{text}");
    assert!(
        text.contains("Message log intact: 7 entries, 1 time-stamp anchor(s), anchored through entry 6 at "),
        "{text}"
    );

    let (_, stranger) = timestamp_authority(dir.path()).await;
    let stranger_pem = dir.path().join("stranger.pem");
    std::fs::write(&stranger_pem, ca::pem("CERTIFICATE", &stranger)).expect("write");
    let (code, text) = verify(&stranger_pem);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("BỊ HỎNG tại mục 6") && text.contains("the anchor of entry 6 does not verify"), "{text}");

    // An entry edited in place.
    tamper("UPDATE audit_log SET details = replace(details, '000.00.00.H41', '000.00.00.H14') WHERE seq = 4;");
    let (code, text) = verify(&root_pem);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Nhật ký thông điệp BỊ HỎNG tại mục 4: mục 4 đã bị sửa"), "{text}");
    assert!(text.contains("Message log BROKEN at entry 4: log entry 4 was altered"), "{text}");

    // The same edit with every later hash recomputed: only the anchor shows it…
    // (Entry 7 is not anchored; stopping the rewrite at 6 keeps the hash the anchor would need.)
    let (sql, rewritten) = rewrite_from(&entries[..6], 4, |d| d.replace("000.00.00.H41", "000.00.00.H14"));
    tamper(&sql);
    let (code, text) = verify(&root_pem);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("BROKEN at entry 6: the anchor of entry 6 does not match the chain"), "{text}");
    // …and moving the anchor to the new hash breaks the token's imprint.
    tamper(&format!("UPDATE audit_checkpoints SET hash = '{rewritten}' WHERE seq = 6;"));
    let (code, text) = verify(&root_pem);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("BỊ HỎNG tại mục 6") && text.contains("stamps another hash"), "{text}");

    // An entry deleted.
    tamper("DELETE FROM audit_log WHERE seq = 2;");
    let (code, text) = verify(&root_pem);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("BỊ HỎNG tại mục 3: mục 3 đứng sau mục 1"), "{text}");
    assert!(text.contains("BROKEN at entry 3: log entry 3 follows entry 1"), "{text}");

    let (code, text) = lienthong(&[
        "gateway",
        "log",
        "verify",
        "--store",
        "sqlite:///nonexistent/gw.sqlite",
        "--root",
        root_pem.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no database at /nonexistent/gw.sqlite"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_entry_where_a_sqlite_log_was_edited() {
    let dir = tempfile::tempdir().expect("dir");
    let database = dir.path().join("gateway.sqlite");
    let url = format!("sqlite://{}", database.display());
    story(&url, |sql| {
        let output = Command::new("sqlite3").arg(&database).arg(sql).output().expect("sqlite3 is installed");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_entry_where_a_postgres_log_was_edited() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        eprintln!("LIENTHONG_TEST_POSTGRES is not set: the PostgreSQL run of this story is skipped");
        return;
    };
    let database = TestDatabase::create(&server).await.expect("create a database");
    let url = database.url();
    story(&url, |sql| {
        let output = Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .expect("psql is installed with PostgreSQL");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    })
    .await;
    database.remove().await.expect("drop the database");
}
