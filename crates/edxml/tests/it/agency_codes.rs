//! Agency codes: both forms, levels and parents, and a clear error for each malformation.

use edxml::{AgencyCode, CodeForm, OrganId};

/// `expect` is `level parent` for a valid code, or the error message for an invalid one.
fn check(input: &str, expect: &str) {
    let actual = match AgencyCode::parse(input) {
        Ok(code) => format!("{} {}", code.level(), code.parent().map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
        Err(e) => e.to_string(),
    };
    assert_eq!(actual, expect, "for {input:?}");
}

#[test]
fn qcvn102_levels_and_parents() {
    check("000.00.00.G22", "1 -");
    check("000.00.04.G22", "2 000.00.00.G22");
    check("000.12.04.G12", "3 000.00.04.G12");
    check("001.12.04.H41", "4 000.12.04.H41");
    assert_eq!(AgencyCode::parse("000.00.04.G12").expect("valid").form(), CodeForm::Qcvn102);
    let unit = AgencyCode::parse("001.12.04.H41").expect("valid");
    assert!(unit.is_within(&AgencyCode::parse("000.00.00.H41").expect("valid")));
    assert!(!unit.is_within(&AgencyCode::parse("000.00.00.G22").expect("valid")));
    assert_eq!(unit.level1(), "H41");
}

#[test]
fn decision20_levels_and_parents() {
    check("G22", "1 -");
    check("G22.01", "2 G22");
    check("H41.26.12", "3 H41.26");
    assert_eq!(AgencyCode::parse("H41.26").expect("valid").form(), CodeForm::Decision20);
    check("H41.0123456789.0123456789.01234567", "4 H41.0123456789.0123456789");
}

#[test]
fn malformed_codes_say_what_is_wrong() {
    check("", "the agency code is empty");
    check("000.00.G22", "too short: 10 characters, a QCVN 102 code has 13 (e.g. 000.00.00.G22)");
    check("000.00.00.G2", "too short: 12 characters, a QCVN 102 code has 13 (e.g. 000.00.00.G22)");
    check("000.00.00.g22", "lower-case letter 'g' at position 11: agency codes are upper case");
    check("vxp.saas.03", "lower-case letter 'v' at position 1: agency codes are upper case");
    check("0000.00.0.G22", "group 1 is \"0000\": it must have 3 characters (form 000.00.00.G22)");
    check("000.000.0.G22", "group 2 is \"000\": it must have 2 characters (form 000.00.00.G22)");
    check("000.00.00.222", "level-1 group \"222\" must be a letter and two digits (e.g. G22, H41)");
    check("000.00.00.GG2", "level-1 group \"GG2\" must be a letter and two digits (e.g. G22, H41)");
    check("01.02.G22", "too short: 9 characters, a QCVN 102 code has 13 (e.g. 000.00.00.G22)");
    check("000.00.00.00.G22", "5 groups: a QCVN 102 code has 4 separated by dots (e.g. 000.00.00.G22)");
    check("28.22.H17", "too short: 9 characters, a QCVN 102 code has 13 (e.g. 000.00.00.G22)");
    check("000.05.00.G22", "level 3 is set but level 2 above it is zero");
    check("NULL", "level-1 group \"NULL\" must be a letter and two digits (e.g. G22, H41)");
    check("null", "lower-case letter 'n' at position 1: agency codes are upper case");
    check("G22..01", "empty group between dots");
    check("G22 01", "character ' ' at position 4 is not allowed (only A-Z, 0-9 and '.')");
    check(&format!("G22.{}", "1".repeat(40)), "44 characters: a Decision 20/2020 code has at most 35");
}

#[test]
fn nonconforming_codes_are_kept_as_written() {
    let id = OrganId::from_text("vxp.saas.03");
    assert_eq!(id.as_str(), "vxp.saas.03");
    assert!(id.code().is_none());
    assert!(matches!(OrganId::from_text("000.00.00.G22"), OrganId::Valid(_)));
}

#[test]
fn packages_with_nonconforming_codes_parse_and_report_them_apart() {
    let bytes = crate::support::document_text_with("<edXML:OrganId>000.00.00.H41", "<edXML:OrganId>vxp.saas.03");
    let parsed = crate::support::parse(bytes).expect("still parses");
    let findings = edxml::validate(&parsed.package, &edxml::ZipLimits::default());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].code.as_str(), "nonconforming-agency-code");
    assert_eq!(findings[0].severity, edxml::Severity::Nonconforming);
    assert_eq!(findings[0].path, "MessageHeader/To[1]/OrganId");
    assert!(findings[0].message.contains("\"vxp.saas.03\": lower-case letter 'v'"), "{}", findings[0].message);
}
