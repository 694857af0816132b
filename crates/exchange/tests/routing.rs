//! Routing the demo network: agencies with gateways, a level-2 unit served through its parent,
//! an SDK agency served by the hub's own mailbox.

use edxml::AgencyCode;
use exchange::{MAX_RECIPIENTS, Registry, RouteError};
use store::AgencyRecord;

fn agency(code: &str, parent: Option<&str>, mailbox: Option<&str>) -> AgencyRecord {
    AgencyRecord {
        code: code.into(),
        name: format!("agency {code}"),
        parent: parent.map(Into::into),
        mailbox: mailbox.map(Into::into),
    }
}

fn code(text: &str) -> AgencyCode {
    AgencyCode::parse(text).expect("code")
}

fn registry() -> Registry {
    Registry::new([
        agency("000.00.00.G22", None, Some("gw-g22")),
        agency("000.00.00.H41", None, Some("gw-h41")),
        agency("000.00.00.G12", None, Some("gw-g12")),
        agency("000.00.04.G12", Some("000.00.00.G12"), None),
        agency("000.00.00.H14", None, Some("hub-sdk")),
        agency("000.00.00.H99", None, None),
    ])
}

#[test]
fn each_recipient_reaches_its_own_or_its_parents_mailbox() {
    let registry = registry();
    let routes = registry
        .routes(&[code("000.00.00.H41"), code("000.00.04.G12"), code("000.00.00.H14"), code("000.00.00.H41")])
        .expect("routes");
    let pairs: Vec<(&str, &str)> = routes.iter().map(|r| (r.recipient.as_str(), r.mailbox.as_str())).collect();
    assert_eq!(
        pairs,
        [("000.00.00.H41", "gw-h41"), ("000.00.04.G12", "gw-g12"), ("000.00.00.H14", "hub-sdk")],
        "each recipient once; the level-2 unit through its ministry's gateway"
    );
}

#[test]
fn unroutable_packages_are_refused_with_the_reason() {
    let registry = registry();
    assert_eq!(registry.route(&code("000.00.00.G99")), Err(RouteError::UnknownRecipient("000.00.00.G99".into())));
    assert_eq!(registry.route(&code("000.00.00.H99")), Err(RouteError::NoMailbox("000.00.00.H99".into())));
    assert_eq!(registry.routes(&[]), Err(RouteError::NoRecipients));
    let many = vec![code("000.00.00.H41"); MAX_RECIPIENTS + 1];
    assert_eq!(registry.routes(&many), Err(RouteError::TooManyRecipients(MAX_RECIPIENTS + 1)));
    let error = registry.routes(&[code("000.00.00.H41"), code("000.00.00.G99")]).expect_err("one unknown");
    assert_eq!(error.to_string(), "unknown recipient 000.00.00.G99: it is not registered with the hub");
}

#[test]
fn a_registry_whose_parents_loop_does_not_hang() {
    let registry = Registry::new([
        agency("000.00.01.G22", Some("000.00.02.G22"), None),
        agency("000.00.02.G22", Some("000.00.01.G22"), None),
    ]);
    assert_eq!(registry.route(&code("000.00.01.G22")), Err(RouteError::NoMailbox("000.00.01.G22".into())));
}
