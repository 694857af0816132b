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
