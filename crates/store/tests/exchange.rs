//! The hub's records through the storage trait, on SQLite and (when `LIENTHONG_TEST_POSTGRES`
//! names a server) on a fresh PostgreSQL database: registry, idempotent acceptance, per-recipient
//! delivery state, idempotent settlement, receipt deadlines (late, overdue) and retention marks.

use store::testing::TestDatabase;
use store::{
    Accepted, AgencyRecord, AgencyRoute, ChangeAnswer, DeliveryState, DocumentChange, ExchangeStore, GatewayStore,
    IncomingPackage, OuterEnvelope, PackageKind, Route, Store, StoreError,
};
use time::OffsetDateTime;
use time::macros::datetime;

fn envelope(id: &str, sha256: &str) -> OuterEnvelope {
    OuterEnvelope {
        id: id.into(),
        sender: "000.00.00.G22".into(),
        kind: PackageKind::Document,
        size: 1234,
        sha256: sha256.into(),
        blob: format!("blobs/{id}"),
    }
}

fn routes() -> Vec<Route> {
    vec![
        Route { recipient: "000.00.00.H41".into(), mailbox: "gw-h41".into() },
        Route { recipient: "000.00.04.G12".into(), mailbox: "gw-g12".into() },
    ]
}

async fn story(store: &Store) {
    let now = OffsetDateTime::now_utc();
    let due = now + time::Duration::hours(1);
    let nghe_an = AgencyRecord {
        code: "000.00.00.H41".into(),
        name: "UBND tỉnh Nghệ An".into(),
        parent: None,
        mailbox: Some("gw-h41".into()),
    };
    store.put_agency(&nghe_an, now).await.expect("agency");
    let unit = AgencyRecord {
        code: "000.00.04.G12".into(),
        name: "Cục Quản lý công sản".into(),
        parent: Some("000.00.00.G12".into()),
        mailbox: None,
    };
    store.put_agency(&unit, now).await.expect("agency");
    let renamed = AgencyRecord { name: "Ủy ban nhân dân tỉnh Nghệ An".into(), ..nghe_an.clone() };
    store.put_agency(&renamed, now).await.expect("update");
    assert_eq!(store.agency("000.00.00.H41").await.expect("read"), Some(renamed));
    assert_eq!(store.agencies().await.expect("list").len(), 2);
    assert_eq!(store.agency("000.00.00.X99").await.expect("read"), None);
    store.put_mailbox("gw-h41", b"old certificate", now).await.expect("mailbox");
    store.put_mailbox("gw-h41", b"renewed certificate", now).await.expect("renewed");
    assert_eq!(store.mailbox_certificate("gw-h41").await.expect("read").as_deref(), Some(&b"renewed certificate"[..]));
    assert_eq!(store.mailbox_certificate("gw-x").await.expect("read"), None);

    let first = envelope("pkg-1", "aa");
    assert_eq!(store.accept(&first, &routes(), now, due).await.expect("accept"), Accepted::Stored);
    assert_eq!(store.accept(&first, &routes(), now, due).await.expect("again"), Accepted::Duplicate);
    let clash = store.accept(&envelope("pkg-1", "bb"), &routes(), now, due).await;
    assert!(matches!(clash, Err(StoreError::PackageConflict(_))), "{clash:?}");
    store.accept(&envelope("pkg-2", "cc"), &routes(), now, due).await.expect("second");

    let pending = store.pending("gw-h41", 0, 10).await.expect("pending");
    let ids: Vec<&str> = pending.iter().map(|d| d.package.id.as_str()).collect();
    assert_eq!(ids, ["pkg-1", "pkg-2"], "each package once, in order");
    assert_eq!(pending[0].package, first);
    assert_eq!(pending[0].state, DeliveryState::Queued);
    let after_first = store.pending("gw-h41", pending[0].id, 10).await.expect("cursor");
    assert_eq!(after_first.len(), 1);

    let delivery = pending[0].id;
    assert!(
        matches!(
            store.settle(delivery, "gw-g12", DeliveryState::Acknowledged, None, now).await,
            Err(StoreError::UnknownDelivery(_))
        ),
        "another mailbox cannot settle it"
    );
    store.settle(delivery, "gw-h41", DeliveryState::Acknowledged, None, now).await.expect("ack");
    store.settle(delivery, "gw-h41", DeliveryState::Acknowledged, None, now).await.expect("ack again: no change");
    let refused = store.settle(delivery, "gw-h41", DeliveryState::Refused, Some("late"), now).await;
    assert!(matches!(refused, Err(StoreError::DeliverySettled { .. })), "{refused:?}");
    let left: Vec<String> =
        store.pending("gw-h41", 0, 10).await.expect("pending").into_iter().map(|d| d.package.id).collect();
    assert_eq!(left, ["pkg-2"], "an acknowledged delivery leaves the mailbox");

    let refusal = store.pending("gw-g12", 0, 10).await.expect("pending")[0].id;
    store
        .settle(refusal, "gw-g12", DeliveryState::Refused, Some("02: chữ ký không hợp lệ"), now)
        .await
        .expect("refuse");
    let states: Vec<(String, DeliveryState)> =
        store.deliveries("pkg-1").await.expect("sender's view").into_iter().map(|d| (d.recipient, d.state)).collect();
    assert_eq!(
        states,
        [
            ("000.00.00.H41".to_owned(), DeliveryState::Acknowledged),
            ("000.00.04.G12".to_owned(), DeliveryState::Refused)
        ]
    );
    acknowledged_together(store, delivery, refusal).await;
    deadline_story(store).await;
    retention_story(store).await;
}

/// A page's deliveries acknowledged in one call: each gets the answer `settle` would give.
async fn acknowledged_together(store: &Store, acknowledged: i64, refused: i64) {
    let now = QUEUED;
    let waiting = store.pending("gw-h41", 0, 10).await.expect("pending")[0].id;
    let outcomes = store.acknowledge(&[waiting, acknowledged, refused, i64::MAX], "gw-h41", now).await.expect("ack");
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok(), "new and already acknowledged: {outcomes:?}");
    assert!(matches!(outcomes[2], Err(StoreError::UnknownDelivery(_))), "another mailbox's: {outcomes:?}");
    assert!(matches!(outcomes[3], Err(StoreError::UnknownDelivery(_))), "unknown: {outcomes:?}");
    assert!(store.pending("gw-h41", 0, 10).await.expect("pending").is_empty(), "nothing left for gw-h41");
    let late = store.acknowledge(&[refused], "gw-g12", now).await.expect("ack");
    assert!(matches!(late[0], Err(StoreError::DeliverySettled { .. })), "refused before: {late:?}");
    let states = store.deliveries("pkg-2").await.expect("view");
    assert_eq!(states[0].state, DeliveryState::Acknowledged);
    assert_eq!(states[0].settled_at, Some(now.unix_timestamp()));
}

/// Deliveries queued on 24 November 2026 (Vietnam time), due at the end of that day.
const QUEUED: OffsetDateTime = datetime!(2026-11-24 09:00 +7);
const DUE: OffsetDateTime = datetime!(2026-11-24 23:59:59 +7);

/// Receipt deadlines: kept as given, settlement time recorded, late and overdue told apart.
async fn deadline_story(store: &Store) {
    for id in ["due-1", "due-2", "due-3"] {
        store.accept(&envelope(id, id), &routes(), QUEUED, DUE).await.expect("accept");
    }
    let copies = store.deliveries("due-1").await.expect("view");
    assert!(copies.iter().all(|d| d.due_at == DUE.unix_timestamp() && d.received_at == QUEUED.unix_timestamp()));
    assert!(copies.iter().all(|d| d.settled_at.is_none() && d.purged_at.is_none() && !d.late()));
    assert!(!copies[0].overdue(DUE), "due at 23:59:59 is still on time");
    assert!(copies[0].overdue(DUE + time::Duration::seconds(1)));
    assert_eq!(copies[0].overdue_seconds(DUE + time::Duration::minutes(90)), 5400);

    let on_time = DUE - time::Duration::minutes(5);
    let after = DUE + time::Duration::hours(2);
    store.settle(copies[0].id, "gw-h41", DeliveryState::Acknowledged, None, on_time).await.expect("ack");
    store.settle(copies[1].id, "gw-g12", DeliveryState::Refused, Some("sai địa chỉ"), after).await.expect("refuse");
    store
        .settle(copies[1].id, "gw-g12", DeliveryState::Refused, None, after + time::Duration::hours(1))
        .await
        .expect("again");
    let settled = store.deliveries("due-1").await.expect("view");
    assert_eq!(settled[0].settled_at, Some(on_time.unix_timestamp()));
    assert_eq!(settled[1].settled_at, Some(after.unix_timestamp()), "settling again changes nothing");
    assert_eq!((settled[0].late(), settled[1].late()), (false, true));
    assert!(!settled[1].overdue(after), "a refused delivery is answered, not overdue");

    let ours =
        |found: Vec<store::DeliveryRecord>| found.into_iter().filter(|d| d.package.id.starts_with("due-")).count();
    assert_eq!(ours(store.overdue(DUE, 0, 100).await.expect("none yet")), 0, "nothing is overdue before the deadline");
    let next_day = datetime!(2026-11-25 08:00 +7);
    let waiting: Vec<(String, String)> = store
        .overdue(next_day, 0, 100)
        .await
        .expect("overdue")
        .into_iter()
        .filter(|d| d.package.id.starts_with("due-"))
        .map(|d| (d.package.id, d.recipient))
        .collect();
    assert_eq!(
        waiting,
        [
            ("due-2".to_owned(), "000.00.00.H41".to_owned()),
            ("due-2".to_owned(), "000.00.04.G12".to_owned()),
            ("due-3".to_owned(), "000.00.00.H41".to_owned()),
            ("due-3".to_owned(), "000.00.04.G12".to_owned()),
        ],
        "only deliveries still waiting, oldest first"
    );
    // Page by page: the cursor is the last delivery number seen.
    let all = store.overdue(next_day, 0, 100).await.expect("overdue");
    let first_page = store.overdue(next_day, 0, 2).await.expect("page");
    let second_page = store.overdue(next_day, first_page[1].id, 100).await.expect("page");
    assert_eq!(first_page.len() + second_page.len(), all.len());
    assert_eq!(second_page.first().map(|d| d.id), all.get(2).map(|d| d.id));
}

/// Retention marks: only packages whose every delivery was settled before the cut-off, each
/// once; a blob stays held while any unpurged package names it.
async fn retention_story(store: &Store) {
    let settle_all = |id: &'static str, at: OffsetDateTime| async move {
        for copy in store.deliveries(id).await.expect("view") {
            store.settle(copy.id, &copy.mailbox, DeliveryState::Acknowledged, None, at).await.expect("ack");
        }
    };
    let mut shared = envelope("old-shared-1", &"5".repeat(64));
    shared.blob = "5".repeat(64);
    let shared_too = OuterEnvelope { id: "old-shared-2".into(), ..shared.clone() };
    let mut alone = envelope("old-alone", &"6".repeat(64));
    alone.blob = "6".repeat(64);
    let mut recent = envelope("recent", &"7".repeat(64));
    recent.blob = "7".repeat(64);
    for e in [&shared, &shared_too, &alone, &recent] {
        store.accept(e, &routes(), QUEUED, DUE).await.expect("accept");
    }
    settle_all("old-shared-1", QUEUED).await;
    settle_all("old-alone", QUEUED).await;
    settle_all("recent", QUEUED + time::Duration::days(80)).await;
    // old-shared-2 keeps one delivery waiting: never purged.
    let waiting = store.deliveries("old-shared-2").await.expect("view");
    store.settle(waiting[0].id, &waiting[0].mailbox, DeliveryState::Acknowledged, None, QUEUED).await.expect("ack");

    let now = QUEUED + time::Duration::days(91);
    let cutoff = now - time::Duration::days(90);
    let marked = store.mark_purged(cutoff, now, 100).await.expect("mark");
    let ids: Vec<&str> = marked.iter().map(|p| p.id.as_str()).collect();
    assert!(ids.contains(&"old-alone") && ids.contains(&"old-shared-1"), "{ids:?}");
    assert!(!ids.contains(&"old-shared-2"), "a delivery still waiting keeps its package");
    assert!(!ids.contains(&"recent"), "settled less than the retention period ago");
    assert!(ids.contains(&"due-1"), "acknowledged or refused, both settle a delivery");
    assert!(!ids.contains(&"due-2"), "deliveries still waiting");
    assert_eq!(marked.iter().find(|p| p.id == "old-alone").map(|p| p.blob.clone()), Some("6".repeat(64)));
    assert!(store.mark_purged(cutoff, now, 100).await.expect("again").is_empty(), "each package is marked once");

    assert!(!store.blob_held(&"6".repeat(64)).await.expect("held?"));
    assert!(store.blob_held(&"5".repeat(64)).await.expect("held?"), "old-shared-2 still names the blob");
    assert!(store.blob_held(&"7".repeat(64)).await.expect("held?"));
    let purged = store.deliveries("old-alone").await.expect("the records stay");
    assert_eq!(purged.len(), 2);
    assert!(purged.iter().all(|d| d.purged_at == Some(now.unix_timestamp()) && d.state == DeliveryState::Acknowledged));

    // The limit bounds one call; later calls take the rest.
    let later = now + time::Duration::days(80);
    let first = store.mark_purged(later - time::Duration::days(90), later, 1).await.expect("one");
    let rest = store.mark_purged(later - time::Duration::days(90), later, 100).await.expect("rest");
    let mut both: Vec<String> = first.into_iter().chain(rest).map(|p| p.id).collect();
    both.sort();
    assert!(both.contains(&"recent".to_owned()) && !both.contains(&"old-shared-2".to_owned()), "{both:?}");
    assert!(!store.blob_held(&"7".repeat(64)).await.expect("held?"));
}

#[tokio::test]
async fn sqlite_store_keeps_the_hub_records() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("hub.sqlite").display())).await.expect("open");
    story(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_store_keeps_the_hub_records() {
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

#[tokio::test]
async fn blobs_are_streamed_bounded_hashed_and_all_or_nothing() {
    use store::blobs::{BlobError, BlobStore};
    let dir = tempfile::tempdir().expect("dir");
    let blobs = BlobStore::open(dir.path()).await.expect("open");
    let content = vec![7u8; 300_000];
    let stored = blobs.put(&content[..], 1 << 20, None).await.expect("put");
    assert_eq!(stored.size, 300_000);
    let again = blobs.put(&content[..], 1 << 20, Some(&stored.name.to_uppercase())).await.expect("same content");
    assert_eq!(again, stored, "the name is the content's hash");
    let mut back = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut blobs.get(&stored.name).await.expect("get"), &mut back)
        .await
        .expect("read");
    assert_eq!(back, content);

    let too_large = blobs.put(&content[..], 299_999, None).await;
    assert!(matches!(too_large, Err(BlobError::TooLarge { max: 299_999 })), "{too_large:?}");
    let wrong = blobs.put(&b"tampered"[..], 1 << 20, Some(&stored.name)).await;
    assert!(matches!(wrong, Err(BlobError::HashMismatch { .. })), "{wrong:?}");
    let incoming = std::fs::read_dir(dir.path().join("incoming")).expect("dir").count();
    assert_eq!(incoming, 0, "refused content leaves nothing behind");
    assert!(matches!(blobs.get("../../etc/passwd").await, Err(BlobError::BadName(_))));
    assert!(matches!(blobs.get(&"0".repeat(64)).await, Err(BlobError::Missing(_))));
    blobs.remove(&stored.name).await.expect("remove");
    blobs.remove(&stored.name).await.expect("removing twice is fine");
}

#[tokio::test]
async fn blobs_from_memory_are_named_and_bounded_like_streamed_ones() {
    use store::blobs::{BlobError, BlobStore};
    let dir = tempfile::tempdir().expect("dir");
    let blobs = BlobStore::open(dir.path()).await.expect("open");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let streamed = blobs.put(&content[..], 1 << 20, None).await.expect("put");
    let from_memory = blobs.put_bytes(content.clone(), 1 << 20).await.expect("put_bytes");
    assert_eq!(from_memory, streamed, "the same name and size either way");
    blobs.remove(&streamed.name).await.expect("remove");
    let again = blobs.put_bytes(content.clone(), 1 << 20).await.expect("put_bytes into a fresh place");
    let mut back = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut blobs.get(&again.name).await.expect("get"), &mut back)
        .await
        .expect("read");
    assert_eq!(back, content);

    let too_large = blobs.put_bytes(content, 299_999).await;
    assert!(matches!(too_large, Err(BlobError::TooLarge { max: 299_999 })), "{too_large:?}");
    let incoming = std::fs::read_dir(dir.path().join("incoming")).expect("dir").count();
    assert_eq!(incoming, 0, "nothing is left behind");
}

async fn gateway_story(store: &Store) {
    use store::{AuditStore, Enqueued, OutgoingPackage, Received, RefusedPackage};
    let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("seconds");
    let client = store.add_client("Hệ thống QLVB", "key-hash", "000.00.00.G22", now).await.expect("client");
    assert_eq!(client.agency.as_deref(), Some("000.00.00.G22"));
    assert_eq!(store.client_by_key("key-hash").await.expect("read"), Some(client.clone()));
    assert_eq!(store.client(&client.id).await.expect("read"), Some(client.clone()));
    assert_eq!(store.client("other").await.expect("read"), None);
    assert_eq!(store.client_by_key("other").await.expect("read"), None);
    store.add_sdk_system(&client.id, "vpcp-qlvb", "bí mật", now).await.expect("sdk system");
    assert_eq!(store.sdk_system("vpcp-qlvb").await.expect("read"), Some((client.id.clone(), "bí mật".to_owned())));
    assert_eq!(store.sdk_system("other").await.expect("read"), None);

    let package = OutgoingPackage {
        package_id: "g22-0001".into(),
        client: client.id.clone(),
        client_ref: "QLVB-2026-7816".into(),
        kind: PackageKind::Document,
        sender: "000.00.00.G22".into(),
        recipients: vec!["000.00.00.H41".into(), "000.00.04.G12".into()],
        document_id: Some("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT".into()),
        subject: Some("V/v kết nối, liên thông phần mềm quản lý văn bản".into()),
        blob: "b".repeat(64),
        size: 100,
        sha256: "c".repeat(64),
        status_code: None,
    };
    assert_eq!(store.enqueue(&package, now).await.expect("queue"), Enqueued::New);
    let twice = OutgoingPackage { package_id: "g22-0002".into(), ..package.clone() };
    assert_eq!(
        store.enqueue(&twice, now).await.expect("again"),
        Enqueued::Existing("g22-0001".into()),
        "the same client reference is the same package"
    );
    let by_reference = store.outgoing_by_reference(&client.id, "QLVB-2026-7816").await.expect("read");
    assert_eq!(by_reference.map(|o| o.package.package_id), Some("g22-0001".to_owned()));
    assert_eq!(store.outgoing_by_reference("other", "QLVB-2026-7816").await.expect("read"), None);
    let due = store.due(now, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].package, package);
    let later = now + time::Duration::seconds(30);
    store.attempt_failed("g22-0001", "hub unreachable", later, now).await.expect("failed");
    assert!(store.due(now, 10).await.expect("due").is_empty(), "not due before its retry time");
    let retry = store.due(later, 10).await.expect("due");
    assert_eq!((retry.len(), retry[0].attempts), (1, 1));
    store.mark_sent(&["g22-0001"], later).await.expect("sent");
    store.mark_sent(&["g22-0001"], later).await.expect("sent again: no change");
    assert!(store.due(later, 10).await.expect("due").is_empty());
    assert_eq!(store.outgoing("g22-0001").await.expect("read").expect("held").sent_at, Some(later.unix_timestamp()));

    let incoming = IncomingPackage {
        package_id: "h41-0042".into(),
        hub_delivery: 7,
        kind: PackageKind::Status,
        sender: "000.00.00.H41".into(),
        recipient: "000.00.00.G22".into(),
        document_id: Some("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT".into()),
        subject: None,
        signer: "CN=UBND tỉnh Nghệ An".into(),
        blob: "d".repeat(64),
        size: 900,
        change: DocumentChange::New,
        refers_to: Vec::new(),
        due_date: None,
        sealed_sha256: "e".repeat(64),
    };
    assert_eq!(store.receive(&incoming, now).await.expect("receive"), Received::New);
    assert_eq!(store.receive(&incoming, now).await.expect("again"), Received::Duplicate);
    let inbox = store.inbox(Some("000.00.00.G22"), 0, 10).await.expect("inbox");
    assert_eq!((inbox.len(), inbox[0].acknowledged), (1, false));
    assert_eq!(inbox[0].package, incoming);
    assert!(store.inbox(Some("000.00.00.H14"), 0, 10).await.expect("inbox").is_empty());
    assert_eq!(store.inbox(None, inbox[0].id, 10).await.expect("after").len(), 0);
    let g22 = "000.00.00.G22";
    let waiting = store.unacknowledged(PackageKind::Status, g22, 10).await.expect("unacknowledged");
    assert_eq!(waiting.len(), 1);
    assert!(store.unacknowledged(PackageKind::Document, g22, 10).await.expect("none").is_empty());
    assert!(store.unacknowledged(PackageKind::Status, "000.00.00.H14", 10).await.expect("not H14's").is_empty());
    store.acknowledge_incoming("h41-0042", g22, "client:x", now).await.expect("ack");
    assert!(store.unacknowledged(PackageKind::Status, g22, 10).await.expect("gone").is_empty());
    store.acknowledge_incoming("h41-0042", g22, "client:x", now).await.expect("ack again");
    assert!(store.incoming("h41-0042").await.expect("read").expect("held").acknowledged);
    assert!(matches!(
        store.acknowledge_incoming("nope", g22, "client:x", now).await,
        Err(StoreError::UnknownPackage(_))
    ));
    let not_addressed = store.acknowledge_incoming("h41-0042", "000.00.00.H14", "client:x", now).await;
    assert!(matches!(not_addressed, Err(StoreError::UnknownPackage(_))), "another agency's copy is unknown");
    assert!(store.incoming_for("h41-0042", "000.00.00.H14").await.expect("read").is_none());

    let answer = OutgoingPackage {
        package_id: "g22-0003".into(),
        client_ref: "status:h41-0007:01".into(),
        kind: PackageKind::Status,
        recipients: vec!["000.00.00.H41".into()],
        sha256: "f".repeat(64),
        status_code: Some("01".into()),
        ..package.clone()
    };
    assert_eq!(store.enqueue(&answer, now).await.expect("queue"), Enqueued::New);
    assert_eq!(store.outgoing("g22-0003").await.expect("read").expect("held").package, answer);
    let refused = RefusedPackage {
        package_id: "h14-0009".into(),
        hub_delivery: 8,
        kind: PackageKind::Document,
        sender: "000.00.00.H14".into(),
        recipient: "000.00.00.G22".into(),
        sealed_sha256: "9".repeat(64),
        reason: "02: Chữ ký số trên gói tin không hợp lệ".into(),
    };
    assert!(store.record_refusal(&refused, now).await.expect("refused"));
    assert!(!store.record_refusal(&refused, now).await.expect("again"), "once per package and recipient");

    let log = store.audit_entries(0, 100).await.expect("log");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "client.created",
            "sdk-system.created",
            "package.queued",
            "package.sent",
            "package.received",
            "package.acknowledged",
            "status.answered",
            "package.refused",
        ],
        "each event once: repeated calls that change nothing append nothing"
    );
    let details = |seq: usize| -> serde_json::Value { serde_json::from_str(&log[seq - 1].details).expect("JSON") };
    let sha = |c: &str| c.repeat(64);
    for (seq, kind, from, to, hash) in [
        (3, "document", "000.00.00.G22", serde_json::json!(["000.00.00.H41", "000.00.04.G12"]), sha("c")),
        (4, "document", "000.00.00.G22", serde_json::json!(["000.00.00.H41", "000.00.04.G12"]), sha("c")),
        (5, "status", "000.00.00.H41", serde_json::json!("000.00.00.G22"), sha("e")),
        (6, "status", "000.00.00.H41", serde_json::json!("000.00.00.G22"), sha("e")),
        (7, "status", "000.00.00.G22", serde_json::json!(["000.00.00.H41"]), sha("f")),
        (8, "document", "000.00.00.H14", serde_json::json!("000.00.00.G22"), sha("9")),
    ] {
        let d = details(seq);
        assert!(d["package"].as_str().is_some_and(|p| !p.is_empty()), "{seq}: {d}");
        assert_eq!(
            (&d["kind"], &d["from"], &d["to"], &d["sha256"]),
            (&kind.into(), &from.into(), &to, &hash.into()),
            "{seq}"
        );
    }
    assert_eq!(details(7)["status"], "01");
    assert_eq!(details(8)["reason"], "02: Chữ ký số trên gói tin không hợp lệ");
    assert_eq!(details(6)["package"], "h41-0042");
    assert!(log.windows(2).all(|w| w[1].prev_hash == w[0].hash && w[1].hash == w[1].expected_hash()));

    assert_eq!(store.last_checkpoint().await.expect("none yet"), None);
    for seq in [3, 6] {
        let anchor =
            store::Checkpoint { seq, hash: log[seq as usize - 1].hash.clone(), signature: vec![seq as u8], at: 1 };
        store.add_checkpoint(&anchor).await.expect("anchor");
    }
    assert_eq!(store.last_checkpoint().await.expect("read").map(|c| c.seq), Some(6));
    let seqs = |anchors: Vec<store::Checkpoint>| anchors.into_iter().map(|c| c.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.checkpoints_in(0, 8).await.expect("read")), [3, 6]);
    assert_eq!(seqs(store.checkpoints_in(3, 5).await.expect("read")), Vec::<i64>::new(), "after 3, through 5");
    assert_eq!(seqs(store.checkpoints_in(5, 6).await.expect("read")), [6]);
    changes_story(store, now).await;
    receipt_story(store, &answer, now).await;
    unit_story(store, now).await;
    recall_answered_per_copy_story(store, now).await;
    sdk_replay_story(store, now).await;
    intake_failures_story(store, now).await;
}

/// A new document and its receipt are stored in one transaction: both or neither. The receipt
/// is queued only for a package new here; a reference already queued queues nothing more; a
/// receipt that cannot be queued leaves the document unstored too, and the log unbroken.
async fn receipt_story(store: &Store, earlier: &store::OutgoingPackage, now: OffsetDateTime) {
    use store::{AuditStore, Enqueued, OutgoingPackage, Received};
    let log_length = || async { store.audit_entries(0, 10_000).await.expect("log").len() };
    let for_ministry = IncomingPackage {
        recipient: "000.00.00.G12".into(),
        ..document("g22-r", "DOC-R", 'r', DocumentChange::New, &[])
    };
    let receipt = OutgoingPackage {
        package_id: "g12-r01".into(),
        client_ref: "status:g22-r:01".into(),
        sender: "000.00.00.G12".into(),
        recipients: vec!["000.00.00.G22".into()],
        document_id: Some("DOC-R".into()),
        ..earlier.clone()
    };
    let before = log_length().await;
    let answered = store.receive_answered(&for_ministry, &receipt, now).await.expect("stored and answered");
    assert_eq!(answered, (Received::New, Some(Enqueued::New)));
    assert_eq!(store.outgoing("g12-r01").await.expect("read").expect("queued").package, receipt);
    assert!(store.incoming_for("g22-r", "000.00.00.G12").await.expect("read").is_some());
    let log = store.audit_entries(0, 10_000).await.expect("log");
    let actions: Vec<&str> = log[before..].iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["package.received", "status.answered"]);

    let again = store.receive_answered(&for_ministry, &receipt, now).await.expect("again");
    assert_eq!(again, (Received::Duplicate, None), "a duplicate queues nothing");
    let for_unit = IncomingPackage { recipient: "000.00.04.G12".into(), hub_delivery: 2, ..for_ministry.clone() };
    let unit_receipt = OutgoingPackage {
        package_id: "g12-r02".into(),
        client_ref: "status:g22-r:000.00.04.G12:01".into(),
        ..receipt.clone()
    };
    let unit = store.receive_answered(&for_unit, &unit_receipt, now).await.expect("the unit's copy");
    assert_eq!(unit, (Received::AnotherRecipient, None), "another copy is answered as any other");
    assert_eq!(store.outgoing("g12-r02").await.expect("read"), None);
    assert_eq!(log_length().await, before + 3, "the unit's copy logged, nothing else");

    // A reference queued before (the receipt of an earlier try) is kept; the document is stored.
    let second = document("g22-s", "DOC-S", 's', DocumentChange::New, &[]);
    let queued_before =
        OutgoingPackage { package_id: "g12-s00".into(), client_ref: "status:g22-s:01".into(), ..receipt.clone() };
    assert_eq!(store.enqueue(&queued_before, now).await.expect("queued before"), Enqueued::New);
    let retried = OutgoingPackage { package_id: "g12-s01".into(), ..queued_before.clone() };
    let length = log_length().await;
    let kept = store.receive_answered(&second, &retried, now).await.expect("stored");
    assert_eq!(kept, (Received::New, Some(Enqueued::Existing("g12-s00".into()))));
    assert_eq!(store.outgoing("g12-s01").await.expect("read"), None);
    assert!(store.incoming("g22-s").await.expect("read").is_some(), "the document is stored");
    assert_eq!(log_length().await, length + 1, "its arrival logged, no second answer");

    // A receipt that cannot be queued (its package id is taken): nothing of either is stored.
    let third = document("g22-t", "DOC-T", 't', DocumentChange::New, &[]);
    let clashing = OutgoingPackage { client_ref: "status:g22-t:01".into(), ..receipt.clone() };
    let length = log_length().await;
    let failed = store.receive_answered(&third, &clashing, now).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(store.incoming("g22-t").await.expect("read"), None, "the document is not stored without its receipt");
    assert_eq!(store.outgoing_by_reference(&receipt.client, "status:g22-t:01").await.expect("read"), None);
    let log = store.audit_entries(0, 10_000).await.expect("log");
    assert_eq!(log.len(), length, "nothing logged");
    assert!(log.windows(2).all(|w| w[1].prev_hash == w[0].hash && w[1].seq == w[0].seq + 1), "one unbroken chain");
    let renamed = OutgoingPackage { package_id: "g12-t01".into(), ..clashing };
    let answered = store.receive_answered(&third, &renamed, now).await.expect("then stored");
    assert_eq!(answered, (Received::New, Some(Enqueued::New)));
    let log = store.audit_entries(0, 10_000).await.expect("log");
    assert!(log.windows(2).all(|w| w[1].prev_hash == w[0].hash && w[1].seq == w[0].seq + 1), "one unbroken chain");
}

/// Failures taking in a delivery add up per package and recipient, from the first.
async fn intake_failures_story(store: &Store, now: OffsetDateTime) {
    use store::FailedIntake;
    let failure = |error: &str| FailedIntake {
        package_id: "g22-unverifiable".into(),
        recipient: "000.00.00.H41".into(),
        hub_delivery: 7,
        error: error.into(),
    };
    assert_eq!(store.intake_failures("g22-unverifiable", "000.00.00.H41").await.expect("read"), None);
    let retry = now + time::Duration::SECOND;
    let first = store.record_intake_failure(&failure("unknown status"), now, retry).await.expect("record");
    assert_eq!((first.attempts, first.first_failed_at), (1, now.unix_timestamp()));
    let later = now + time::Duration::minutes(5);
    let second = store.record_intake_failure(&failure("hub 503"), later, later + time::Duration::SECOND * 2).await;
    let second = second.expect("record");
    assert_eq!(
        (second.attempts, second.first_failed_at, second.next_attempt_at, second.last_error.as_str()),
        (2, now.unix_timestamp(), later.unix_timestamp() + 2, "hub 503"),
        "counted from the first failure"
    );
    assert_eq!(store.intake_failures("g22-unverifiable", "000.00.00.H41").await.expect("read"), Some(second));
    let other = FailedIntake { recipient: "000.00.04.G12".into(), ..failure("x") };
    assert_eq!(store.record_intake_failure(&other, later, later).await.expect("record").attempts, 1, "per recipient");
}

/// SDK request signatures: the first use is remembered, a second is a replay, per system; stale
/// ones are forgotten.
async fn sdk_replay_story(store: &Store, now: OffsetDateTime) {
    let fresh_until = now + time::Duration::minutes(15);
    let remember = |system: &'static str, signature: &'static str, until: OffsetDateTime| async move {
        store.remember_sdk_signature(system, signature, now, until).await.expect("remember")
    };
    assert!(remember("vpcp-qlvb", "ab01", fresh_until).await, "first use");
    assert!(!remember("vpcp-qlvb", "ab01", fresh_until).await, "the same signature again is a replay");
    assert!(remember("nghean-qlvb", "ab01", fresh_until).await, "per system");
    let soon = now + time::Duration::minutes(1);
    assert!(remember("vpcp-qlvb", "ab02", soon).await);
    assert_eq!(store.forget_sdk_signatures(soon).await.expect("prune"), 0, "still fresh at its limit");
    let later = now + time::Duration::minutes(2);
    assert_eq!(store.forget_sdk_signatures(later).await.expect("prune"), 1, "only the stale one");
    assert!(!remember("vpcp-qlvb", "ab01", fresh_until).await, "a fresh one is still remembered");
    assert_eq!(store.forget_sdk_signatures(fresh_until + time::Duration::SECOND).await.expect("prune"), 2);
}

/// A package for an agency and for a unit its gateway serves: stored once, listed for both.
async fn unit_story(store: &Store, now: OffsetDateTime) {
    use store::{AuditStore, Received};
    let for_ministry = IncomingPackage {
        recipient: "000.00.00.G12".into(),
        ..document("g22-u", "DOC-U", 'u', DocumentChange::New, &[])
    };
    let for_unit = IncomingPackage { recipient: "000.00.04.G12".into(), hub_delivery: 2, ..for_ministry.clone() };
    assert_eq!(store.receive(&for_ministry, now).await.expect("first"), Received::New);
    assert_eq!(store.receive(&for_unit, now).await.expect("unit"), Received::AnotherRecipient);
    assert_eq!(store.receive(&for_unit, now).await.expect("again"), Received::Duplicate);
    let listed = |items: Vec<store::IncomingRecord>| items.iter().filter(|i| i.package.package_id == "g22-u").count();
    assert_eq!(listed(store.inbox(Some("000.00.00.G12"), 0, 100).await.expect("ministry")), 1);
    assert_eq!(listed(store.inbox(Some("000.00.04.G12"), 0, 100).await.expect("unit")), 1);
    assert_eq!(listed(store.inbox(None, 0, 100).await.expect("all")), 1, "stored once");

    // Each copy is acknowledged on its own.
    let (ministry, unit) = ("000.00.00.G12", "000.00.04.G12");
    let entries = store.audit_entries(0, 10_000).await.expect("log").len();
    store.acknowledge_incoming("g22-u", ministry, "client:ministry", now).await.expect("ministry's copy");
    let copy = |who: &'static str| async move {
        store.incoming_for("g22-u", who).await.expect("read").expect("addressed to it")
    };
    assert!(copy(ministry).await.acknowledged);
    let unit_copy = copy(unit).await;
    assert!(!unit_copy.acknowledged, "the unit's copy still waits");
    assert_eq!((unit_copy.package.recipient.as_str(), unit_copy.package.hub_delivery), (unit, 2));
    let waiting = store.unacknowledged(PackageKind::Document, unit, 100).await.expect("unit's list");
    assert!(waiting.iter().any(|i| i.package.package_id == "g22-u"));
    let waiting = store.unacknowledged(PackageKind::Document, ministry, 100).await.expect("ministry's list");
    assert!(!waiting.iter().any(|i| i.package.package_id == "g22-u"));
    assert!(!store.incoming("g22-u").await.expect("read").expect("held").acknowledged, "not every copy yet");
    store.acknowledge_incoming("g22-u", ministry, "client:ministry", now).await.expect("again: nothing new");
    assert_eq!(store.audit_entries(0, 10_000).await.expect("log").len(), entries + 1, "logged once");
    store.acknowledge_incoming("g22-u", unit, "client:unit", now).await.expect("unit's copy");
    assert!(store.incoming("g22-u").await.expect("read").expect("held").acknowledged, "every copy now");
}

/// A recall of a package for an agency and a unit its gateway serves is answered per copy: the
/// ministry's 15 destroys its copy only; the unit, which refused, keeps its copy (and the blob)
/// until it agrees too.
async fn recall_answered_per_copy_story(store: &Store, now: OffsetDateTime) {
    let (ministry, unit) = ("000.00.00.G12", "000.00.04.G12");
    let for_ = |package: IncomingPackage, recipient: &str, delivery: i64| IncomingPackage {
        recipient: recipient.into(),
        hub_delivery: delivery,
        ..package
    };
    let original = document("g22-p", "DOC-P", 'p', DocumentChange::New, &[]);
    let recall = document("g22-q", "DOC-P", 'q', DocumentChange::Recall, &["DOC-P"]);
    for (package, delivery) in [(&original, 10), (&recall, 20)] {
        store.receive(&for_(package.clone(), ministry, delivery), now).await.expect("ministry's copy");
        store.receive(&for_(package.clone(), unit, delivery + 1), now).await.expect("unit's copy");
    }
    let copy = |who: &'static str| async move {
        store.incoming_for("g22-p", who).await.expect("read").expect("addressed to it")
    };
    for who in [ministry, unit] {
        assert_eq!(copy(who).await.latest_event.as_deref(), Some("recall-requested"), "{who} was asked");
        // What a 15 or 16 about DOC-P from the Office answers: the recall, not the document.
        let change = store.latest_change("000.00.00.G22", "DOC-P", who).await.expect("latest change");
        assert_eq!(change.as_deref(), Some("g22-q"), "{who}");
    }
    assert_eq!(store.latest_change("000.00.00.G22", "DOC-P", "000.00.00.H41").await.expect("read"), None);
    assert_eq!(store.latest_change("000.00.00.H41", "DOC-P", ministry).await.expect("read"), None, "another sender");

    let later = now + time::Duration::MINUTE;
    let unused = store.answer_change("g22-q", ministry, ChangeAnswer::Agreed, "client:ministry", later).await;
    assert!(unused.expect("ministry agrees").is_empty(), "the unit's copy still uses the blob");
    let (ministry_copy, unit_copy) = (copy(ministry).await, copy(unit).await);
    assert_eq!(
        (ministry_copy.destroyed_at, ministry_copy.latest_event.as_deref()),
        (Some(later.unix_timestamp()), Some("destroyed"))
    );
    assert_eq!((unit_copy.destroyed_at, unit_copy.latest_event.as_deref()), (None, Some("recall-requested")));
    assert!(store.inbox_blob_held(&"p".repeat(64)).await.expect("held?"));
    assert!(store.is_destroyed("000.00.00.G22", "DOC-P", ministry).await.expect("ministry's?"));
    assert!(!store.is_destroyed("000.00.00.G22", "DOC-P", unit).await.expect("unit's?"), "the unit's copy stays");
    assert_eq!(store.incoming("g22-p").await.expect("read").expect("held").destroyed_at, None, "not every copy");
    let waiting = store.unacknowledged(PackageKind::Document, unit, 100).await.expect("unit's list");
    assert!(waiting.iter().any(|i| i.package.package_id == "g22-p"), "the unit still has it to take");
    let waiting = store.unacknowledged(PackageKind::Document, ministry, 100).await.expect("ministry's list");
    assert!(!waiting.iter().any(|i| i.package.package_id == "g22-p"), "the ministry's is hidden");

    // The unit refuses the recall: its copy stays, and the ministry's history does not change.
    let refused = store.answer_change("g22-q", unit, ChangeAnswer::Refused, "client:unit", later).await;
    assert!(refused.expect("unit refuses").is_empty());
    assert_eq!(
        (copy(unit).await.destroyed_at, copy(unit).await.latest_event.as_deref()),
        (None, Some("recall-refused"))
    );
    let events = |who: &'static str| async move {
        let history = store.document_events("g22-p", Some(who)).await.expect("history");
        history.into_iter().map(|e| e.event).collect::<Vec<_>>()
    };
    assert_eq!(events(ministry).await, ["recall-requested", "recall-agreed", "destroyed"]);
    assert_eq!(events(unit).await, ["recall-requested", "recall-refused"]);
    let all = store.document_events("g22-p", None).await.expect("every copy's");
    assert!(all.iter().all(|e| e.recipient.as_deref() == Some(ministry) || e.recipient.as_deref() == Some(unit)));
    assert_eq!(all.len(), 5);

    // Then it agrees after all: both copies destroyed, and the blob no longer used.
    let last = later + time::Duration::MINUTE;
    let unused = store.answer_change("g22-q", unit, ChangeAnswer::Agreed, "client:unit", last).await.expect("agrees");
    assert_eq!(unused, vec!["p".repeat(64)]);
    assert!(!store.inbox_blob_held(&"p".repeat(64)).await.expect("held?"));
    assert_eq!(copy(unit).await.destroyed_at, Some(last.unix_timestamp()));
    assert_eq!(copy(ministry).await.destroyed_at, Some(later.unix_timestamp()), "the first stays as it was");
    let package = store.incoming("g22-p").await.expect("read").expect("held");
    assert_eq!(package.destroyed_at, Some(last.unix_timestamp()), "every copy, at the last");
    // An answer repeated after the destruction changes nothing.
    for again in [ChangeAnswer::Agreed, ChangeAnswer::Refused] {
        let unused = store.answer_change("g22-q", unit, again, "client:unit", last).await.expect("again");
        assert!(unused.is_empty(), "{again:?}");
    }
    assert_eq!(events(unit).await, ["recall-requested", "recall-refused", "recall-agreed", "destroyed"]);
    // A recall not addressed to the answering agency is unknown to it; nothing changes.
    let stranger = store.answer_change("g22-q", "000.00.00.H41", ChangeAnswer::Agreed, "client:x", last).await;
    assert!(matches!(stranger, Err(StoreError::UnknownPackage(_))), "{stranger:?}");
}

/// A document from G22, with its blob.
fn document(id: &str, document_id: &str, blob: char, change: DocumentChange, refers_to: &[&str]) -> IncomingPackage {
    IncomingPackage {
        package_id: id.into(),
        hub_delivery: 1,
        kind: PackageKind::Document,
        sender: "000.00.00.G22".into(),
        recipient: "000.00.00.H41".into(),
        document_id: Some(document_id.into()),
        subject: Some("Trích yếu".into()),
        signer: "CN=Văn phòng Chính phủ".into(),
        blob: blob.to_string().repeat(64),
        size: 100,
        sealed_sha256: blob.to_string().repeat(64),
        change,
        refers_to: refers_to.iter().map(|r| (*r).to_owned()).collect(),
        due_date: Some("2026-12-01".into()),
    }
}

/// Recall, update and replacement on the recipient's side; a recalled document frozen on the
/// sender's.
async fn changes_story(store: &Store, now: OffsetDateTime) {
    let original = document("g22-a", "DOC-A", 'a', DocumentChange::New, &[]);
    store.receive(&original, now).await.expect("original");
    let recall = document("g22-b", "DOC-A", 'b', DocumentChange::Recall, &["DOC-A"]);
    store.receive(&recall, now).await.expect("recall");
    let held = store.incoming("g22-a").await.expect("read").expect("held");
    assert_eq!((held.latest_event.as_deref(), held.destroyed_at), (Some("recall-requested"), None));
    assert_eq!(held.package.due_date.as_deref(), Some("2026-12-01"));
    let stored_recall = store.incoming("g22-b").await.expect("read").expect("held");
    assert_eq!((stored_recall.package.change, stored_recall.latest_event), (DocumentChange::Recall, None));

    let orphaned =
        store.answer_change("g22-b", "000.00.00.H41", ChangeAnswer::Agreed, "client:x", now).await.expect("agreed");
    assert_eq!(orphaned, vec!["a".repeat(64)], "the destroyed copy's blob is no longer used");
    let destroyed = store.incoming("g22-a").await.expect("read").expect("kept");
    assert_eq!(
        (destroyed.latest_event.as_deref(), destroyed.destroyed_at),
        (Some("destroyed"), Some(now.unix_timestamp()))
    );
    let history: Vec<String> =
        store.document_events("g22-a", None).await.expect("history").into_iter().map(|e| e.event).collect();
    assert_eq!(history, ["recall-requested", "recall-agreed", "destroyed"]);
    let waiting = store.unacknowledged(PackageKind::Document, "000.00.00.H41", 100).await.expect("unacknowledged");
    assert!(!waiting.iter().any(|i| i.package.package_id == "g22-a"), "a destroyed copy is no longer listed");
    assert!(store.is_destroyed("000.00.00.G22", "DOC-A", "000.00.00.H41").await.expect("destroyed?"));
    // The last certificate the hub gave for a recipient, replaced by a newer one.
    assert_eq!(store.last_recipient_certificate("000.00.00.H41").await.expect("read"), None);
    store.remember_recipient_certificate("000.00.00.H41", b"old", now).await.expect("kept");
    store.remember_recipient_certificate("000.00.00.H41", b"new", now).await.expect("replaced");
    assert_eq!(store.last_recipient_certificate("000.00.00.H41").await.expect("read"), Some(b"new".to_vec()));
    // The hub's last answer about an agency's route: a mailbox, then none (it became unknown).
    assert_eq!(store.last_agency_route("000.00.04.G12").await.expect("read"), None);
    let served = AgencyRoute::Mailbox("000.00.00.G12".into());
    store.remember_agency_route("000.00.04.G12", &served, now).await.expect("kept");
    assert_eq!(store.last_agency_route("000.00.04.G12").await.expect("read"), Some(served));
    let unrouted = AgencyRoute::Unrouted("unknown agency".into());
    store.remember_agency_route("000.00.04.G12", &unrouted, now).await.expect("replaced");
    assert_eq!(store.last_agency_route("000.00.04.G12").await.expect("read"), Some(unrouted));
    assert!(
        !store.is_destroyed("000.00.00.H41", "DOC-A", "000.00.00.H41").await.expect("destroyed?"),
        "another sender's"
    );
    assert!(
        store
            .answer_change("g22-a", "000.00.00.H41", ChangeAnswer::Agreed, "client:x", now)
            .await
            .expect("new")
            .is_empty()
    );
    assert!(matches!(
        store.answer_change("nope", "000.00.00.H41", ChangeAnswer::Agreed, "client:x", now).await,
        Err(StoreError::UnknownPackage(_))
    ));

    // Two copies sharing a blob: destroying one keeps the blob.
    store.receive(&document("g22-c", "DOC-C", 'c', DocumentChange::New, &[]), now).await.expect("c");
    store.receive(&document("g22-d", "DOC-D", 'c', DocumentChange::New, &[]), now).await.expect("d");
    store.receive(&document("g22-e", "DOC-E", 'e', DocumentChange::Recall, &["DOC-C"]), now).await.expect("e");
    assert!(
        store
            .answer_change("g22-e", "000.00.00.H41", ChangeAnswer::Agreed, "client:x", now)
            .await
            .expect("agreed")
            .is_empty()
    );
    // A replacement the clerk refuses changes nothing but the history.
    store.receive(&document("g22-f", "DOC-F", 'f', DocumentChange::Replace, &["DOC-D"]), now).await.expect("f");
    assert_eq!(store.incoming("g22-d").await.expect("read").expect("held").latest_event.as_deref(), Some("replaced"));
    assert!(
        store
            .answer_change("g22-f", "000.00.00.H41", ChangeAnswer::Refused, "client:x", now)
            .await
            .expect("refused")
            .is_empty()
    );
    let d = store.incoming("g22-d").await.expect("read").expect("held");
    assert_eq!((d.latest_event.as_deref(), d.destroyed_at), (Some("change-refused"), None));

    // The sender's side: a recalled document is frozen.
    assert!(!store.is_frozen("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT").await.expect("frozen?"));
    store.freeze_outgoing("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT", "g22-recall", now).await.expect("freeze");
    store.freeze_outgoing("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT", "g22-recall", now).await.expect("again");
    assert!(store.is_frozen("000.00.00.G22,2026/11/24,7816/VPCP-TTĐT").await.expect("frozen?"));
    assert!(!store.is_frozen("DOC-Z").await.expect("frozen?"));

    // The recalled document sent again as new lives again; a recall of it does not.
    store.receive(&document("g22-a-again", "DOC-A", 'g', DocumentChange::Recall, &["DOC-A"]), now).await.expect("r");
    assert!(store.is_destroyed("000.00.00.G22", "DOC-A", "000.00.00.H41").await.expect("destroyed?"));
    store.receive(&document("g22-a-anew", "DOC-A", 'h', DocumentChange::New, &[]), now).await.expect("anew");
    assert!(!store.is_destroyed("000.00.00.G22", "DOC-A", "000.00.00.H41").await.expect("destroyed?"));
}

#[tokio::test]
async fn sqlite_store_keeps_a_gateways_records() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("gw.sqlite").display())).await.expect("open");
    gateway_story(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_store_keeps_a_gateways_records() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        return;
    };
    let database = TestDatabase::create(&server).await.expect("create a database");
    let store = Store::open(&database.url()).await.expect("open");
    gateway_story(&store).await;
    store.close().await;
    database.remove().await.expect("drop the database");
}

/// Operations arriving together — on SQLite they share the writer's group commits — each answer
/// as they would alone: a package whose id is held with other content is refused with nothing of
/// it stored, the others are stored whole, a client reference used twice queues once, and the
/// message log stays one unbroken chain.
async fn together_story(store: &Store) {
    use store::{AuditStore, Enqueued, OutgoingPackage};
    let now = OffsetDateTime::now_utc();
    let due = now + time::Duration::hours(1);
    for n in (0..64).step_by(4) {
        store.accept(&envelope(&format!("pkg-{n}"), &"a".repeat(64)), &routes(), now, due).await.expect("held");
    }
    let client = store.add_client("QLVB", "together-key", "000.00.00.G22", now).await.expect("client");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64 {
        let store = store.clone();
        let client = client.id.clone();
        tasks.spawn(async move {
            let accepted = store.accept(&envelope(&format!("pkg-{n}"), &"b".repeat(64)), &routes(), now, due).await;
            let package = OutgoingPackage {
                package_id: format!("out-{n}"),
                client,
                client_ref: format!("ref-{}", n / 2),
                kind: PackageKind::Document,
                sender: "000.00.00.G22".into(),
                recipients: vec!["000.00.00.H41".into()],
                document_id: Some(format!("DOC-{n}")),
                subject: None,
                blob: "b".repeat(64),
                size: 100,
                sha256: "c".repeat(64),
                status_code: None,
            };
            (n, accepted, store.enqueue(&package, now).await.expect("queue"))
        });
    }
    let mut queued = 0;
    while let Some(done) = tasks.join_next().await {
        let (n, accepted, enqueued) = done.expect("task");
        if n % 4 == 0 {
            assert!(matches!(accepted, Err(StoreError::PackageConflict(_))), "pkg-{n}: {accepted:?}");
        } else {
            assert_eq!(accepted.expect("accept"), Accepted::Stored, "pkg-{n}");
        }
        let copies = store.deliveries(&format!("pkg-{n}")).await.expect("deliveries");
        assert_eq!(copies.len(), 2, "pkg-{n}: one copy per recipient, none from a refused package");
        assert!(copies.iter().all(|c| c.package.sha256 == if n % 4 == 0 { "a" } else { "b" }.repeat(64)));
        queued += usize::from(enqueued == Enqueued::New);
    }
    assert_eq!(queued, 32, "each client reference queues once");
    let log = store.audit_entries(0, 1000).await.expect("log");
    assert_eq!(log.iter().filter(|e| e.action == "package.queued").count(), 32);
    for (before, entry) in log.iter().zip(log.iter().skip(1)) {
        assert_eq!(entry.seq, before.seq + 1, "no gap in the log");
        assert_eq!(entry.prev_hash, before.hash, "entry {} is chained to the one before", entry.seq);
    }
    assert!(log.iter().all(|e| e.hash == e.expected_hash()), "every entry's hash is its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_answers_operations_arriving_together() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("together.sqlite").display())).await.expect("open");
    together_story(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_answers_operations_arriving_together() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        return;
    };
    let database = TestDatabase::create(&server).await.expect("create a database");
    let store = Store::open(&database.url()).await.expect("open");
    together_story(&store).await;
    store.close().await;
    database.remove().await.expect("drop the database");
}
