//! The hub's records through the storage trait, on SQLite and (when `LIENTHONG_TEST_POSTGRES`
//! names a server) on a fresh PostgreSQL database: registry, idempotent acceptance, per-recipient
//! delivery state, idempotent settlement.

use store::testing::TestDatabase;
use store::{
    Accepted, AgencyRecord, DeliveryState, ExchangeStore, OuterEnvelope, PackageKind, Route, Store, StoreError,
};
use time::OffsetDateTime;

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
    assert_eq!(store.accept(&first, &routes(), now).await.expect("accept"), Accepted::Stored);
    assert_eq!(store.accept(&first, &routes(), now).await.expect("again"), Accepted::Duplicate);
    let clash = store.accept(&envelope("pkg-1", "bb"), &routes(), now).await;
    assert!(matches!(clash, Err(StoreError::PackageConflict(_))), "{clash:?}");
    store.accept(&envelope("pkg-2", "cc"), &routes(), now).await.expect("second");

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
    use store::{AuditStore, Enqueued, GatewayStore, IncomingPackage, OutgoingPackage, Received};
    let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("seconds");
    let client = store.add_client("Hệ thống QLVB", "key-hash", now).await.expect("client");
    assert_eq!(store.client_by_key("key-hash").await.expect("read"), Some(client.clone()));
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
        blob: "b".repeat(64),
        size: 100,
        sha256: "c".repeat(64),
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
    store.mark_sent("g22-0001", later).await.expect("sent");
    store.mark_sent("g22-0001", later).await.expect("sent again: no change");
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
    };
    assert_eq!(store.receive(&incoming, now).await.expect("receive"), Received::New);
    assert_eq!(store.receive(&incoming, now).await.expect("again"), Received::Duplicate);
    let inbox = store.inbox(Some("000.00.00.G22"), 0, 10).await.expect("inbox");
    assert_eq!((inbox.len(), inbox[0].acknowledged), (1, false));
    assert_eq!(inbox[0].package, incoming);
    assert!(store.inbox(Some("000.00.00.H14"), 0, 10).await.expect("inbox").is_empty());
    assert_eq!(store.inbox(None, inbox[0].id, 10).await.expect("after").len(), 0);
    let waiting = store.unacknowledged(PackageKind::Status, 10).await.expect("unacknowledged");
    assert_eq!(waiting.len(), 1);
    assert!(store.unacknowledged(PackageKind::Document, 10).await.expect("none").is_empty());
    store.acknowledge_incoming("h41-0042", "client:x", now).await.expect("ack");
    assert!(store.unacknowledged(PackageKind::Status, 10).await.expect("gone").is_empty());
    store.acknowledge_incoming("h41-0042", "client:x", now).await.expect("ack again");
    assert!(store.incoming("h41-0042").await.expect("read").expect("held").acknowledged);
    assert!(matches!(store.acknowledge_incoming("nope", "client:x", now).await, Err(StoreError::UnknownPackage(_))));
    let log: Vec<String> = store.audit_entries(0, 100).await.expect("log").into_iter().map(|e| e.action).collect();
    assert_eq!(
        log,
        [
            "client.created",
            "sdk-system.created",
            "package.queued",
            "package.sent",
            "package.received",
            "package.acknowledged"
        ]
    );
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
