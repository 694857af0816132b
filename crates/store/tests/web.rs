//! A gateway's web-inbox records through the storage traits, on SQLite and (when
//! `LIENTHONG_TEST_POSTGRES` names a server) on a fresh PostgreSQL database: clerks, sessions,
//! and the newest-first views of what was sent and received with the statuses about each.

use store::testing::TestDatabase;
use store::{
    AuditStore, DocumentChange, GatewayStore, IncomingPackage, LoginLockout, OutgoingPackage, PackageKind, Store,
    StoreError, WebStore, WebUser,
};
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("seconds")
}

async fn clerks_and_sessions(store: &Store) {
    let now = now();
    let client = store.add_client("Web Nghệ An", "key-hash", "000.00.00.H41", now).await.expect("client");
    let clerk =
        WebUser { name: "van-thu".into(), password_hash: "pbkdf2-sha256$1$c2FsdA$aGFzaA".into(), client: client.id };
    store.add_web_user(&clerk, now).await.expect("clerk");
    let again = store.add_web_user(&WebUser { password_hash: "other".into(), ..clerk.clone() }, now).await;
    assert!(matches!(again, Err(StoreError::WebUserExists(ref name)) if name == "van-thu"), "{again:?}");
    let stray = WebUser { name: "khac".into(), client: "no-such-client".into(), ..clerk.clone() };
    let refused = store.add_web_user(&stray, now).await;
    assert!(matches!(refused, Err(StoreError::UnknownClient(_))), "{refused:?}");
    assert_eq!(store.web_user("van-thu").await.expect("read"), Some(clerk.clone()), "the first password stays");
    assert_eq!(store.web_user("khac").await.expect("read"), None, "a refused clerk is stored nowhere");
    assert_eq!(store.web_user("VAN-THU").await.expect("read"), None, "names are exact");

    let expires = now + Duration::hours(8);
    store.open_web_session("token-1", "van-thu", expires, now).await.expect("session");
    let session = store.web_session("token-1", now).await.expect("read").expect("open");
    assert_eq!((session.user, session.expires_at), (clerk.clone(), expires.unix_timestamp()));
    assert_eq!(store.web_session("token-1", expires).await.expect("read"), None, "expired at its end");
    assert_eq!(store.web_session("token-2", now).await.expect("read"), None);
    assert!(store.open_web_session("token-3", "nobody", expires, now).await.is_err(), "only for a known clerk");
    store.close_web_session("token-1").await.expect("logout");
    store.close_web_session("token-1").await.expect("logout again: no change");
    assert_eq!(store.web_session("token-1", now).await.expect("read"), None);

    store.open_web_session("token-4", "van-thu", now + Duration::seconds(1), now).await.expect("short");
    store.open_web_session("token-5", "van-thu", expires, now + Duration::seconds(2)).await.expect("later");
    assert_eq!(store.web_session("token-4", now).await.expect("read"), None, "expired sessions are purged");
    assert!(store.web_session("token-5", now).await.expect("read").is_some());

    let log: Vec<String> = store.audit_entries(0, 100).await.expect("log").into_iter().map(|e| e.action).collect();
    assert_eq!(log, ["client.created", "web-user.created"], "refusals append nothing");
}

fn outgoing(id: &str, kind: PackageKind, document_id: &str, subject: &str) -> OutgoingPackage {
    OutgoingPackage {
        package_id: id.into(),
        client: "web".into(),
        client_ref: format!("ref-{id}"),
        kind,
        sender: "000.00.00.H41".into(),
        recipients: vec!["000.00.00.G22".into()],
        document_id: Some(document_id.into()),
        subject: Some(subject.into()),
        blob: "b".repeat(64),
        size: 100,
        sha256: "c".repeat(64),
        status_code: (kind == PackageKind::Status).then(|| subject[..2].to_owned()),
    }
}

fn incoming(id: &str, kind: PackageKind, document_id: &str) -> IncomingPackage {
    IncomingPackage {
        package_id: id.into(),
        hub_delivery: 1,
        kind,
        sender: "000.00.00.G22".into(),
        recipient: "000.00.00.H41".into(),
        document_id: Some(document_id.into()),
        subject: Some(format!("about {document_id}")),
        signer: "CN=Văn phòng Chính phủ".into(),
        blob: "d".repeat(64),
        size: 900,
        change: DocumentChange::New,
        refers_to: Vec::new(),
        due_date: None,
        sealed_sha256: "e".repeat(64),
    }
}

async fn newest_first_views(store: &Store) {
    let now = now();
    for (id, kind, document, subject) in [
        ("d1", PackageKind::Document, "H41,2026/01/05,1/UBND-VP", "Văn bản thứ nhất"),
        ("s1", PackageKind::Status, "G22,2026/01/04,7/VPCP", "03 Đã tiếp nhận"),
        ("d2", PackageKind::Document, "H41,2026/01/05,2/UBND-VP", "Văn bản thứ hai"),
        ("d3", PackageKind::Document, "H41,2026/01/05,3/UBND-VP", "Văn bản thứ ba"),
        ("s2", PackageKind::Status, "G22,2026/01/04,7/VPCP", "05 Đang xử lý"),
    ] {
        store.enqueue(&outgoing(id, kind, document, subject), now).await.expect("queued");
    }
    let ids = |records: Vec<store::OutgoingRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.package.package_id).collect()
    };
    let first_page = store.sent(PackageKind::Document, None, 0, 2).await.expect("sent");
    assert_eq!(first_page[0].package.subject.as_deref(), Some("Văn bản thứ ba"), "the subject is kept");
    assert_eq!(first_page[0].queued_at, now.unix_timestamp());
    let cursor = first_page[1].position;
    assert_eq!(ids(first_page), ["d3", "d2"], "newest first");
    assert_eq!(ids(store.sent(PackageKind::Document, None, cursor, 2).await.expect("next page")), ["d1"]);
    assert_eq!(
        ids(store.sent(PackageKind::Status, Some("000.00.00.H41"), 0, 10).await.expect("statuses")),
        ["s2", "s1"]
    );
    assert!(store.sent(PackageKind::Status, Some("000.00.04.H41"), 0, 10).await.expect("none").is_empty(), "sender");
    let answers = store.statuses_sent("G22,2026/01/04,7/VPCP", None, 10).await.expect("answers");
    assert_eq!(ids(answers), ["s1", "s2"], "oldest first: the last is the latest");
    let own = store.statuses_sent("G22,2026/01/04,7/VPCP", Some("000.00.00.H41"), 10).await.expect("answers");
    assert_eq!(ids(own).len(), 2);
    assert!(store.statuses_sent("G22,2026/01/04,7/VPCP", Some("000.00.04.H41"), 10).await.expect("none").is_empty());
    assert!(
        store.statuses_sent("H41,2026/01/05,1/UBND-VP", None, 10).await.expect("none").is_empty(),
        "documents aren't"
    );

    for (id, kind, document) in [
        ("r1", PackageKind::Document, "G22,2026/01/04,7/VPCP"),
        ("a1", PackageKind::Status, "H41,2026/01/05,1/UBND-VP"),
        ("r2", PackageKind::Document, "G22,2026/01/04,8/VPCP"),
        ("a2", PackageKind::Status, "H41,2026/01/05,1/UBND-VP"),
    ] {
        store.receive(&incoming(id, kind, document), now).await.expect("received");
    }
    let received: Vec<String> = store
        .received(PackageKind::Document, None, 0, 10)
        .await
        .expect("received")
        .into_iter()
        .map(|r| r.package.package_id)
        .collect();
    assert_eq!(received, ["r2", "r1"]);
    let newest = store.received(PackageKind::Document, None, 0, 1).await.expect("page")[0].id;
    assert_eq!(store.received(PackageKind::Document, None, newest, 10).await.expect("page").len(), 1);
    let recipient = incoming("r1", PackageKind::Document, "").recipient;
    assert_eq!(store.received(PackageKind::Document, Some(&recipient), 0, 10).await.expect("copies").len(), 2);
    assert!(store.received(PackageKind::Document, Some("000.00.04.H41"), 0, 10).await.expect("none").is_empty());
    let statuses: Vec<String> = store
        .statuses_for("H41,2026/01/05,1/UBND-VP", None)
        .await
        .expect("statuses")
        .into_iter()
        .map(|r| r.package.package_id)
        .collect();
    assert_eq!(statuses, ["a1", "a2"]);
    assert!(store.statuses_for("G22,2026/01/04,7/VPCP", None).await.expect("none").is_empty());
    assert_eq!(store.statuses_for("H41,2026/01/05,1/UBND-VP", Some(&recipient)).await.expect("addressed").len(), 2);
    assert!(store.statuses_for("H41,2026/01/05,1/UBND-VP", Some("000.00.04.H41")).await.expect("none").is_empty());
}

const LOCKOUT: LoginLockout =
    LoginLockout { max_failures: 5, lock_for: Duration::minutes(15), forget_after: Duration::hours(24) };

/// Five failures in a row lock a name for fifteen minutes, known or not; a success starts again;
/// only a clerk's lockout is in the audit log; a day without failures forgets them.
async fn login_lockout(store: &Store) {
    let now = now();
    let audit_before = store.audit_entries(0, 100).await.expect("log").len();
    for name in ["van-thu", "không-có-ai"] {
        for failure in 1..=4 {
            let at = now + Duration::seconds(failure);
            assert_eq!(store.web_login_failed(name, at, &LOCKOUT).await.expect("counted"), None, "{name} {failure}");
            assert_eq!(store.web_login_locked_until(name, at).await.expect("read"), None);
        }
        let fifth = now + Duration::seconds(5);
        let until = store.web_login_failed(name, fifth, &LOCKOUT).await.expect("counted");
        assert_eq!(until, Some(fifth + Duration::minutes(15)), "{name}: the fifth in a row locks");
        assert_eq!(store.web_login_locked_until(name, fifth + Duration::minutes(14)).await.expect("read"), until);
        assert_eq!(store.web_login_locked_until(name, fifth + Duration::minutes(15)).await.expect("read"), None);
        let later = fifth + Duration::minutes(16);
        assert_eq!(store.web_login_failed(name, later, &LOCKOUT).await.expect("counted"), None, "counted anew");
    }
    let log = store.audit_entries(0, 100).await.expect("log");
    let locked: Vec<&str> = log[audit_before..].iter().map(|e| e.action.as_str()).collect();
    assert_eq!(locked, ["web-user.locked"], "only the clerk's lockout is logged");
    assert!(log[audit_before].details.contains("van-thu"), "{:?}", log[audit_before].details);

    store.web_login_succeeded("van-thu").await.expect("reset");
    for failure in 1..=4 {
        let at = now + Duration::seconds(failure);
        assert_eq!(store.web_login_failed("van-thu", at, &LOCKOUT).await.expect("counted"), None);
    }
    store.web_login_succeeded("van-thu").await.expect("reset");
    let after = now + Duration::seconds(10);
    assert_eq!(store.web_login_failed("van-thu", after, &LOCKOUT).await.expect("counted"), None, "a success resets");
    for failure in 1..=4 {
        store.web_login_failed("khac", now + Duration::seconds(failure), &LOCKOUT).await.expect("counted");
    }
    let next_day = now + Duration::hours(25);
    assert_eq!(store.web_login_failed("khac", next_day, &LOCKOUT).await.expect("counted"), None, "old ones forgotten");
    unlock(store, now + Duration::hours(26)).await;
}

/// The engineer on call unlocks a clerk's login: the lockout and the failures are forgotten and
/// the unlocking is logged; a name that is no clerk's is refused and nothing changes.
async fn unlock(store: &Store, now: OffsetDateTime) {
    for failure in 1..=5 {
        store.web_login_failed("van-thu", now + Duration::seconds(failure), &LOCKOUT).await.expect("counted");
    }
    let locked = store.web_login_locked_until("van-thu", now + Duration::seconds(5)).await.expect("read");
    assert!(locked.is_some(), "locked after five failures");
    let log_before = store.audit_entries(0, 100).await.expect("log").len();
    let at = now + Duration::seconds(6);
    assert_eq!(store.unlock_web_login("van-thu", at).await.expect("unlocked"), locked, "the lockout it lifted");
    assert_eq!(store.web_login_locked_until("van-thu", at).await.expect("read"), None, "unlocked");
    let log = store.audit_entries(0, 100).await.expect("log");
    assert_eq!(log[log_before..].iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["web-user.unlocked"]);
    for failure in 1..=4 {
        let later = at + Duration::seconds(failure);
        assert_eq!(store.web_login_failed("van-thu", later, &LOCKOUT).await.expect("counted"), None, "counted anew");
    }
    assert_eq!(store.unlock_web_login("van-thu", at).await.expect("not locked: failures forgotten"), None);

    for failure in 1..=5 {
        store.web_login_failed("không-có-ai", at + Duration::seconds(failure), &LOCKOUT).await.expect("counted");
    }
    let log_before = store.audit_entries(0, 100).await.expect("log").len();
    let refused = store.unlock_web_login("không-có-ai", at + Duration::seconds(6)).await;
    assert!(matches!(refused, Err(StoreError::UnknownWebUser(ref name)) if name == "không-có-ai"), "{refused:?}");
    let still = store.web_login_locked_until("không-có-ai", at + Duration::seconds(6)).await.expect("read");
    assert!(still.is_some(), "nothing changed");
    assert_eq!(store.audit_entries(0, 100).await.expect("log").len(), log_before, "nothing logged");
}

async fn story(store: &Store) {
    clerks_and_sessions(store).await;
    login_lockout(store).await;
    newest_first_views(store).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_web_inbox_records() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("gw.sqlite").display())).await.expect("open");
    story(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_store_keeps_the_web_inbox_records() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        eprintln!("LIENTHONG_TEST_POSTGRES is not set: the PostgreSQL run of this story is skipped");
        return;
    };
    let database = TestDatabase::create(&server).await.expect("create a database");
    let store = Store::open(&database.url()).await.expect("open");
    story(&store).await;
    store.close().await;
    database.remove().await.expect("drop the database");
}
