//! The canonicalizer, through `canonicalize`, on the cases the C14N recommendations spell out.

use xmlsig::{Canonicalization, XmlErrorKind, canonicalize};

fn check(method: &Canonicalization, input: &str, expected: &str) {
    let output = canonicalize(input.as_bytes(), method).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    assert_eq!(String::from_utf8(output).expect("utf-8"), expected, "input: {input:?}");
}

fn check_both(input: &str, expected: &str) {
    check(&Canonicalization::exclusive(), input, expected);
    check(&Canonicalization::Inclusive, input, expected);
}

#[test]
fn declarations_comments_and_outside_whitespace_go_and_processing_instructions_stay() {
    check_both(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<?xml-stylesheet href=\"doc.xsl\"\r\n   type=\"text/xsl\"   ?>\r\n<!-- c -->\r\n<doc>Hello, world!<!-- Comment 1 --></doc>\r\n<?pi-without-data     ?>\r\n<!-- c2 -->\r\n",
        "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>",
    );
}

#[test]
fn empty_elements_are_expanded_and_attributes_sorted() {
    check_both("<doc>\r\n<e1   />\r\n<e2 b=\"2\"   a='1'/></doc>", "<doc>\n<e1></e1>\n<e2 a=\"1\" b=\"2\"></e2></doc>");
}

#[test]
fn text_is_escaped_and_line_ends_normalised() {
    check_both(
        "<doc>&lt;&gt;&amp;&quot;&apos;&#xD;&#65;<![CDATA[a<b>&]]>\r\nx\ry</doc>",
        "<doc>&lt;&gt;&amp;\"'&#xD;Aa&lt;b&gt;&amp;\nx\ny</doc>",
    );
    // CR LF and lone CRs at every edge of text and CDATA, next to references (which stay).
    check_both(
        "<doc>\r\n\r<![CDATA[a\r\nb\r]]>\r&#13;\r\n&#xD;\n<e>\r\r\n</e>\r</doc>",
        "<doc>\n\na\nb\n\n&#xD;\n&#xD;\n<e>\n\n</e>\n</doc>",
    );
}

#[test]
fn attribute_values_are_normalised_then_escaped() {
    check_both(
        "<doc a=\"&quot;&#9;&#10;&#13;&gt;'&lt;&amp;\" b=\"x\ty\r\nz\"/>",
        "<doc a=\"&quot;&#x9;&#xA;&#xD;>'&lt;&amp;\" b=\"x y z\"></doc>",
    );
}

#[test]
fn attributes_sort_by_namespace_uri_then_local_name() {
    check(
        &Canonicalization::exclusive(),
        "<r xmlns:z=\"urn:a\" xmlns:a=\"urn:z\" z:x=\"1\" a:x=\"2\" b=\"3\" a=\"4\"/>",
        "<r xmlns:a=\"urn:z\" xmlns:z=\"urn:a\" a=\"4\" b=\"3\" z:x=\"1\" a:x=\"2\"></r>",
    );
}

const NAMESPACES: &str =
    "<a:r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns=\"urn:d\"><b:c/><e xmlns=\"\"/><f/><a:g xmlns:a=\"urn:a\"/></a:r>";

#[test]
fn exclusive_renders_only_visibly_used_namespaces() {
    check(
        &Canonicalization::exclusive(),
        NAMESPACES,
        "<a:r xmlns:a=\"urn:a\"><b:c xmlns:b=\"urn:b\"></b:c><e></e><f xmlns=\"urn:d\"></f><a:g></a:g></a:r>",
    );
}

#[test]
fn exclusive_renders_listed_prefixes_too() {
    let listed = |prefixes: &[&str]| Canonicalization::Exclusive {
        inclusive_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
    };
    check(
        &listed(&["b"]),
        NAMESPACES,
        "<a:r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><b:c></b:c><e></e><f xmlns=\"urn:d\"></f><a:g></a:g></a:r>",
    );
    check(
        &listed(&["#default", "zz"]),
        NAMESPACES,
        "<a:r xmlns=\"urn:d\" xmlns:a=\"urn:a\"><b:c xmlns:b=\"urn:b\"></b:c><e xmlns=\"\"></e><f></f><a:g></a:g></a:r>",
    );
}

#[test]
fn inclusive_renders_every_namespace_once() {
    check(
        &Canonicalization::Inclusive,
        NAMESPACES,
        "<a:r xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><b:c></b:c><e xmlns=\"\"></e><f></f><a:g></a:g></a:r>",
    );
}

#[test]
fn broken_or_dangerous_documents_are_refused() {
    type Expected = fn(&XmlErrorKind) -> bool;
    let cases: &[(&str, Expected)] = &[
        ("<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>", |k| matches!(k, XmlErrorKind::Dtd)),
        ("<r>&nbsp;</r>", |k| matches!(k, XmlErrorKind::Reference(_))),
        ("<r>&#0;</r>", |k| matches!(k, XmlErrorKind::Reference(_) | XmlErrorKind::Syntax(_))),
        ("<p:r/>", |k| matches!(k, XmlErrorKind::Namespace(_))),
        ("<r xmlns:a=\"urn:a\" xmlns:b=\"urn:a\" a:x=\"1\" b:x=\"2\"/>", |k| matches!(k, XmlErrorKind::Namespace(_))),
        ("1212<r/>", |k| matches!(k, XmlErrorKind::Structure(_))),
        ("<r/><r/>", |k| matches!(k, XmlErrorKind::Structure(_))),
        ("<r>", |k| matches!(k, XmlErrorKind::Structure(_) | XmlErrorKind::Syntax(_))),
        ("<r></s>", |k| matches!(k, XmlErrorKind::Syntax(_))),
        ("<r a=\"<\"/>", |k| matches!(k, XmlErrorKind::Syntax(_))),
        ("<?xml version=\"1.0\" encoding=\"windows-1258\"?><r/>", |k| matches!(k, XmlErrorKind::Encoding)),
        ("", |k| matches!(k, XmlErrorKind::Structure(_))),
    ];
    for (input, expected) in cases {
        match canonicalize(input.as_bytes(), &Canonicalization::exclusive()) {
            Err(error) => assert!(expected(&error.kind), "{input:?}: unexpected {error:?}"),
            Ok(out) => panic!("{input:?} was accepted as {:?}", String::from_utf8_lossy(&out)),
        }
    }
    assert!(canonicalize(b"<r>\xff</r>", &Canonicalization::exclusive()).is_err());
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert!(canonicalize(deep.as_bytes(), &Canonicalization::exclusive()).is_err());
}
