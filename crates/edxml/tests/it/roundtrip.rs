//! Property: `parse(write(x)) == x` for every package the parser can produce.
//!
//! Generated values stay inside what parsing yields: texts are XML characters (markup, CR, tabs
//! and non-ASCII included); agency codes and content ids carry no surrounding white space (the
//! parser trims those, with a warning); a status package always has its `StatusCode`.

use bytes::Bytes;
use edxml::model::*;
use edxml::{BusinessType, EncodedContent, Limits, OrganId, Package, Priority, StatusCode, VnDate, VnTimestamp};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        "[ \t\r\n<>&\"'a-zđĐơƯ]{0,16}",
        "\\PC{0,12}".prop_map(|s| s.chars().filter(|&c| is_xml_char(c)).collect()),
    ]
    .boxed()
}

fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

fn organ_id() -> BoxedStrategy<OrganId> {
    prop_oneof![
        "[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[A-Z][0-9]{2}".prop_map(|s| OrganId::from_text(&s)),
        "[A-Z][0-9]{2}(\\.[0-9]{1,3}){0,3}".prop_map(|s| OrganId::from_text(&s)),
        "[a-zA-Z0-9.]{0,14}".prop_map(|s| OrganId::from_text(&s)),
    ]
    .boxed()
}

fn date() -> BoxedStrategy<VnDate> {
    (1900u32..2100, 1u32..13, 1u32..29)
        .prop_map(|(y, m, d)| VnDate::parse(&format!("{y:04}/{m:02}/{d:02}")).expect("valid"))
        .boxed()
}

fn timestamp() -> BoxedStrategy<VnTimestamp> {
    (date(), 0u32..24, 0u32..60, 0u32..60)
        .prop_map(|(d, h, m, s)| VnTimestamp::parse(&format!("{d} {h:02}:{m:02}:{s:02}")).expect("valid"))
        .boxed()
}

fn content_id() -> BoxedStrategy<String> {
    "[a-zA-Z0-9@._-]{1,12}".boxed()
}

fn organization() -> BoxedStrategy<Organization> {
    (of(organ_id()), of(text()), of(text()), of(text()), of(text()), of(text()), of(text()), of(text()))
        .prop_map(|(organ_id, in_charge, name, add, email, tel, fax, web)| Organization {
            organ_id,
            organization_in_charge: in_charge,
            organ_name: name,
            organ_add: add,
            email,
            telephone: tel,
            fax,
            website: web,
        })
        .boxed()
}

fn response_for() -> BoxedStrategy<ResponseFor> {
    (of(organ_id()), of(text()), of(date()), of(text()))
        .prop_map(|(organ_id, code, promulgation_date, document_id)| ResponseFor {
            organ_id,
            code,
            promulgation_date,
            document_id,
        })
        .boxed()
}

fn staff() -> BoxedStrategy<StaffInfo> {
    (of(text()), of(text()), of(text()), of(text()))
        .prop_map(|(department, staff, email, mobile)| StaffInfo { department, staff, email, mobile })
        .boxed()
}

fn header() -> BoxedStrategy<DocumentHeader> {
    let people = (of(organization()), vec(organization(), 0..3), of(text()));
    let code = of((of(text()), of(text())).prop_map(|(number, notation)| Code { number, notation }));
    let issue = of((of(text()), of(date())).prop_map(|(place, date)| PromulgationInfo { place, date }));
    let kind = of((of(any::<u32>()), of(any::<u32>()), of(text())).prop_map(|(kind, detail, name)| DocumentType {
        kind,
        detail,
        name,
    }));
    let signer = of((of(text()), of(text()), of(text())).prop_map(|(competence, position, full_name)| SignerInfo {
        competence,
        position,
        full_name,
    }));
    let other = of((
        of(prop::sample::select(Priority::ALL)),
        of(text()),
        of(any::<u32>()),
        of(any::<bool>()),
        of(vec(text(), 0..3)),
    )
        .prop_map(|(priority, sphere, pages, direction, appendixes)| OtherInfo {
            priority,
            sphere_of_promulgation: sphere.clone(),
            typer_notation: sphere,
            promulgation_amount: pages,
            page_amount: pages,
            direction,
            appendixes,
        }));
    let rest = (of(text()), of(text()), of(date()), vec(response_for(), 0..2), of(any::<u32>()), of(vec(text(), 0..3)));
    (people, code, issue, kind, signer, other, rest)
        .prop_map(|((from, to, document_id), code, promulgation, document_type, signer, other_info, rest)| {
            let (subject, content, due_date, response_for, steering_type, to_places) = rest;
            DocumentHeader {
                from,
                to,
                document_id,
                code,
                promulgation,
                document_type,
                subject,
                content,
                signer,
                due_date,
                other_info,
                response_for,
                steering_type,
                to_places,
            }
        })
        .boxed()
}

fn business() -> BoxedStrategy<Business> {
    let receivers = of(vec(
        (of(organ_id()), of(any::<u32>())).prop_map(|(organ_id, receiver_type)| Receiver { organ_id, receiver_type }),
        0..3,
    ));
    let info = of((of(any::<u32>()), of(any::<u32>()), receivers).prop_map(
        |(document_info, document_receiver, receivers)| BusinessDocumentInfo {
            document_info,
            document_receiver,
            receivers,
        },
    ));
    let replacements = of(vec(
        (of(text()), vec(organ_id(), 0..3))
            .prop_map(|(document_id, organ_ids)| ReplacementInfo { document_id, organ_ids }),
        0..3,
    ));
    (
        of(text()),
        of(prop::sample::select(BusinessType::ALL)),
        of(text()),
        of(any::<u32>()),
        of(staff()),
        info,
        replacements,
    )
        .prop_map(|(document_id, doc_type, reason, paper, staff, document_info, replacements)| Business {
            document_id,
            doc_type,
            reason,
            paper,
            staff,
            document_info,
            replacements,
        })
        .boxed()
}

fn trace() -> BoxedStrategy<TraceHeaderList> {
    (
        vec(
            (of(organ_id()), of(timestamp())).prop_map(|(organ_id, timestamp)| TraceHeader { organ_id, timestamp }),
            0..3,
        ),
        of(business()),
    )
        .prop_map(|(traces, business)| TraceHeaderList { traces, business })
        .boxed()
}

fn signature() -> BoxedStrategy<Signature> {
    let reference = (of(text()), vec(text(), 0..3), of(text()), of(text())).prop_map(
        |(uri, transforms, digest_method, digest_value)| SignatureReference {
            uri,
            transforms,
            digest_method,
            digest_value,
        },
    );
    let key_info = of((vec(text(), 0..2), vec("[A-Za-z0-9+/=]{0,40}", 0..2))
        .prop_map(|(subject_names, certificates)| KeyInfo { subject_names, certificates }));
    (of(text()), of(text()), vec(reference, 0..2), of(text()), key_info)
        .prop_map(|(c14n, method, references, signature_value, key_info)| Signature {
            signed_info: SignedInfo { canonicalization_method: c14n, signature_method: method, references },
            signature_value,
            key_info,
        })
        .boxed()
}

fn encoded() -> BoxedStrategy<EncodedContent> {
    prop_oneof![
        vec(any::<u8>(), 0..64).prop_map(|raw| EncodedContent::encode(&raw)),
        "[A-Za-z0-9+/]{0,20}([ \t\r\n]{1,3}[A-Za-z0-9+/]{1,20}){0,3}=?"
            .prop_map(|s| EncodedContent::from_base64(Bytes::from(s)).expect("alphabet")),
    ]
    .boxed()
}

fn attachment() -> BoxedStrategy<Attachment> {
    (of(content_id()), of(text()), of(text()), of(text()), encoded())
        .prop_map(|(content_id, name, description, content_type, content)| Attachment {
            content_id,
            name,
            description,
            content_type,
            content,
        })
        .boxed()
}

fn manifest() -> BoxedStrategy<Manifest> {
    let reference = (of(content_id()), of(text()), of(text()), of(text())).prop_map(
        |(content_id, content_type, description, attachment_name)| ManifestReference {
            content_id,
            content_type,
            description,
            attachment_name,
        },
    );
    (of(text()), vec(reference, 0..3)).prop_map(|(version, references)| Manifest { version, references }).boxed()
}

fn document() -> BoxedStrategy<Package> {
    (header(), of(trace()), of(signature()), of(manifest()), vec(attachment(), 0..3))
        .prop_map(|(header, trace, signature, manifest, attachments)| {
            Package::Document(DocumentPackage { header, trace, signature, manifest, attachments })
        })
        .boxed()
}

fn status() -> BoxedStrategy<Package> {
    let header = (
        of(organization()),
        of(response_for()),
        of(staff()),
        prop::sample::select(StatusCode::ALL),
        of(text()),
        of(timestamp()),
    )
        .prop_map(|(from, response_for, staff, status, description, timestamp)| StatusHeader {
            from,
            response_for,
            staff,
            status,
            description,
            timestamp,
        });
    (header, of(trace()), of(signature()))
        .prop_map(|(header, trace, signature)| Package::Status(StatusPackage { header, trace, signature }))
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_write_is_identity(package in prop_oneof![document(), status()]) {
        let written = edxml::write(&package);
        let parsed = edxml::parse(&Bytes::from(written.clone()), &Limits::default());
        let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&written))))?;
        prop_assert_eq!(&parsed.package, &package);
        prop_assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    }

    #[test]
    fn writing_is_deterministic(package in prop_oneof![document(), status()]) {
        prop_assert_eq!(edxml::write(&package), edxml::write(&package.clone()));
    }
}
