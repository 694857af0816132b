//! One story through the storage trait, on a fresh SQLite database, and on a fresh PostgreSQL
//! database when `LIENTHONG_TEST_POSTGRES` names a server (the test script sets it).

use pki::{
    Authority, CertSerial, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, RevocationReason, SubjectName,
    SubscriberKey,
};
use store::testing::TestDatabase;
use store::{
    AuditStore, CaStore, CertificateStatus, Checkpoint, DeviceEventKind, DeviceStore, Enrollment, NewDevice,
    NewRequest, RaStore, RequestKind, RequestState, Role, Store, StoreError, UnblockOutcome,
};
use time::OffsetDateTime;

fn issue(authority: &Authority, cn: &str) -> pki::IssuedCertificate {
    let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    let request = IssueRequest {
        profile: Profile::Tsa,
        subject: SubjectName::parse(&format!("CN={cn},O=lienthong test")).expect("subject"),
        agency: None,
        key: SubscriberKey::from_key(&key),
    };
    authority.issue(&request, OffsetDateTime::now_utc()).expect("issued")
}

async fn story(store: &Store) {
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new = Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc())
        .expect("authority");
    let authority = Authority::new(new.issuing_der, new.issuing_key, endpoints);
    let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("whole seconds");
    let (a, b) = (issue(&authority, "TSA A"), issue(&authority, "TSA B"));
    store.record_issued(&a, now, "cli").await.expect("record a");
    store.record_issued(&b, now, "cli").await.expect("record b");
    assert!(matches!(store.record_issued(&a, now, "cli").await, Err(StoreError::Duplicate(_))));

    let stored = store.certificate(&a.serial).await.expect("read").expect("present");
    assert_eq!(
        (stored.der.as_slice(), stored.profile, stored.status),
        (a.der.as_slice(), Profile::Tsa, CertificateStatus::Good)
    );
    assert_eq!(stored.not_after.unix_timestamp(), a.not_after.unix_timestamp());
    let unknown = CertSerial::from_hex("0102").expect("hex");
    assert_eq!(store.certificate(&unknown).await.expect("read"), None);

    let version = store.status_version().await.expect("version");
    store.revoke(&a.serial, RevocationReason::CertificateHold, now, "cli").await.expect("hold");
    assert!(store.status_version().await.expect("version") > version, "a status change moves the version");
    assert!(matches!(
        store.revoke(&a.serial, RevocationReason::CertificateHold, now, "cli").await,
        Err(StoreError::AlreadySuspended(_))
    ));
    store.unsuspend(&a.serial, now, "cli").await.expect("unsuspend");
    assert!(matches!(store.unsuspend(&a.serial, now, "cli").await, Err(StoreError::NotSuspended(_))));
    assert_eq!(store.status(&a.serial).await.expect("status"), Some(CertificateStatus::Good));
    store.revoke(&a.serial, RevocationReason::CertificateHold, now, "cli").await.expect("hold again");
    store.revoke(&a.serial, RevocationReason::KeyCompromise, now, "cli").await.expect("hold, then revoke");
    let again = store.revoke(&a.serial, RevocationReason::Superseded, now, "cli").await.expect_err("already revoked");
    assert_eq!(again.to_string(), format!("certificate {} is already revoked (keyCompromise)", a.serial));
    assert!(matches!(
        store.revoke(&unknown, RevocationReason::KeyCompromise, now, "cli").await,
        Err(StoreError::UnknownCertificate(_))
    ));

    let revoked = store.revoked().await.expect("list");
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (&revoked[0].serial, revoked[0].reason, revoked[0].revoked_at),
        (&a.serial, RevocationReason::KeyCompromise, now)
    );
    let status = store.certificate(&a.serial).await.expect("read").expect("present").status;
    assert_eq!(status, CertificateStatus::Revoked { reason: RevocationReason::KeyCompromise, at: now });
    assert_eq!(store.certificate(&b.serial).await.expect("read").expect("present").status, CertificateStatus::Good);
    assert_eq!(store.status(&a.serial).await.expect("status"), Some(status));
    assert_eq!(store.status(&b.serial).await.expect("status"), Some(CertificateStatus::Good));
    assert_eq!(store.status(&unknown).await.expect("status"), None);

    assert_eq!(store.next_crl_number().await.expect("n"), 1);
    assert_eq!(store.next_crl_number().await.expect("n"), 2);

    registration(store, &authority, &b, now).await;
    key_devices(store, now).await;
    audit_chain_holds(store).await;
}

/// Accounts, a request through approval to issuance, a re-issue that supersedes, and refusals
/// that change nothing.
async fn registration(store: &Store, authority: &Authority, old: &pki::IssuedCertificate, now: OffsetDateTime) {
    let officer = store
        .add_account("Cán bộ đăng ký", Role::Officer, Some("000.00.00.G22"), "hash-officer", "cli", now)
        .await
        .expect("account");
    assert_eq!(store.account_by_token("hash-officer").await.expect("read"), Some(officer.clone()));
    assert_eq!(store.account_by_token("nope").await.expect("read"), None);

    let request = NewRequest {
        kind: RequestKind::Reissue,
        profile: Profile::Tsa,
        subject: "CN=TSA B2,O=lienthong test".into(),
        agency: None,
        public_key: vec![4, 5, 6],
        csr: Some(vec![1, 2, 3]),
        sealed_key: None,
        replaces: Some(old.serial.clone()),
        requested_by: officer.id.clone(),
    };
    let id = store.submit(&request, &officer.actor(), now).await.expect("submit");
    let renewed = issue(authority, "TSA B2");
    let early = store.record_request_issued(id, &renewed, Some(&old.serial), "operator", now).await;
    assert!(matches!(early, Err(StoreError::WrongState { state: RequestState::Submitted, .. })), "{early:?}");
    assert_eq!(store.certificate(&renewed.serial).await.expect("read"), None, "nothing stored by a refused step");

    store.decide(id, RequestState::Approved, Some("đúng hồ sơ"), &officer.actor(), now).await.expect("approve");
    let twice = store.decide(id, RequestState::Rejected, None, &officer.actor(), now).await;
    assert!(matches!(twice, Err(StoreError::WrongState { state: RequestState::Approved, .. })), "{twice:?}");
    assert!(matches!(
        store.decide(999, RequestState::Approved, None, "x", now).await,
        Err(StoreError::UnknownRequest(999))
    ));

    store.record_request_issued(id, &renewed, Some(&old.serial), "operator", now).await.expect("issue");
    let record = store.request(id).await.expect("read").expect("present");
    assert_eq!(record.state(), RequestState::Issued);
    assert_eq!(record.serial.as_ref(), Some(&renewed.serial));
    assert_eq!(record.request.csr.as_deref(), Some(&[1u8, 2, 3][..]));
    assert_eq!(record.request.public_key, [4, 5, 6]);
    let states: Vec<_> = record.history.iter().map(|e| e.state).collect();
    assert_eq!(states, [RequestState::Submitted, RequestState::Approved, RequestState::Issued]);
    assert_eq!(
        store.status(&old.serial).await.expect("status"),
        Some(CertificateStatus::Revoked { reason: RevocationReason::Superseded, at: now })
    );
    assert_eq!(store.requests(10).await.expect("list").len(), 1);
}

/// A device enrolled once, unblocked after a refusal; an unknown or second enrolment changes
/// nothing.
async fn key_devices(store: &Store, now: OffsetDateTime) {
    let device = NewDevice {
        label: "the-tuan-anh".into(),
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        holder: Some("Nguyễn Tuấn Anh".into()),
        agency: Some("000.00.00.G22".into()),
        sealed_unblock_code: "-----BEGIN LIENTHONG SEALED SECRET-----".into(),
        enrollment: Enrollment::Initialised,
    };
    store.enroll_device(&device, "cli", now).await.expect("enroll");
    let again = store.enroll_device(&device, "cli", now).await;
    assert!(matches!(&again, Err(StoreError::DeviceExists(label)) if label == "the-tuan-anh"), "{again:?}");
    let unknown = store.record_unblock("nope", &UnblockOutcome::Unblocked, "cli", now).await;
    assert!(matches!(&unknown, Err(StoreError::UnknownDevice(label)) if label == "nope"), "{unknown:?}");
    assert!(store.device("nope").await.expect("read").is_none());
    assert_eq!(store.latest_device().await.expect("read").map(|d| d.label).as_deref(), Some("the-tuan-anh"));

    let refused = UnblockOutcome::Refused("wrong unblock code".into());
    store.record_unblock("the-tuan-anh", &refused, "cli", now).await.expect("refusal recorded");
    store.record_unblock("the-tuan-anh", &UnblockOutcome::Unblocked, "cli", now).await.expect("unblock recorded");
    let record = store.device("the-tuan-anh").await.expect("read").expect("present");
    assert_eq!((record.module.as_str(), record.holder.as_deref()), (device.module.as_str(), device.holder.as_deref()));
    assert_eq!(record.sealed_unblock_code, device.sealed_unblock_code);
    let kinds: Vec<_> = record.history.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [DeviceEventKind::Initialised, DeviceEventKind::UnblockRefused, DeviceEventKind::Unblocked]);
    assert_eq!(record.history[1].note.as_deref(), Some("wrong unblock code"));
    assert_eq!(record.history[2].at, now);
}

async fn audit_chain_holds(store: &Store) {
    let entries = store.audit_entries(0, 1000).await.expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "certificate.issued",
            "certificate.issued",
            "certificate.suspended",
            "certificate.unsuspended",
            "certificate.suspended",
            "certificate.revoked",
            "account.created",
            "request.submitted",
            "request.approved",
            "certificate.issued",
            "certificate.revoked",
            "request.issued",
            "device.enrolled",
            "device.unblock_refused",
            "device.unblocked",
        ]
    );
    let mut prev = store::GENESIS.to_owned();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.seq, i as i64 + 1);
        assert_eq!(entry.prev_hash, prev);
        assert_eq!(entry.hash, entry.expected_hash());
        prev = entry.hash.clone();
    }
    assert_eq!(store.audit_head().await.expect("head"), Some((entries.len() as i64, prev.clone())));
    let checkpoint = Checkpoint { seq: entries.len() as i64, hash: prev, signature: vec![9; 64], at: 1 };
    store.add_checkpoint(&checkpoint).await.expect("checkpoint");
    assert_eq!(store.checkpoints().await.expect("read"), [checkpoint]);
}

#[tokio::test]
async fn sqlite_store_keeps_the_authority_records() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("ca.sqlite").display());
    let store = Store::open(&url).await.expect("open");
    story(&store).await;
    store.close().await;
    let reopened = Store::open(&url).await.expect("reopen and migrate again");
    assert_eq!(reopened.revoked().await.expect("persisted").len(), 2, "a and the superseded b");
}

#[tokio::test]
async fn postgres_store_keeps_the_authority_records() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES (scripts/test.sh does)"
        );
        eprintln!("LIENTHONG_TEST_POSTGRES is not set: the PostgreSQL run of this story is not part of this test run");
        return;
    };
    let database = TestDatabase::create(&server).await.expect("create a database");
    let store = Store::open(&database.url()).await.expect("open");
    story(&store).await;
    store.close().await;
    database.remove().await.expect("drop the database");
}

#[tokio::test]
async fn unknown_backends_are_refused() {
    let error = Store::open("mysql://localhost/x").await.expect_err("unsupported");
    assert_eq!(error.to_string(), "unsupported store URL \"mysql://localhost/x\": use sqlite://PATH or postgres://…");
}
