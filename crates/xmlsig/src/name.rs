//! A certificate subject as an RFC 4514 string, for `X509SubjectName`.

use x509_parser::x509::X509Name;

/// Short names RFC 4514 (and common usage) gives attribute types; others are written as OIDs.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
];

/// The name, most specific RDN first; `None` if a value is not a string (the element is optional).
pub(crate) fn rfc4514(name: &X509Name<'_>) -> Option<String> {
    let mut rdns = Vec::new();
    for rdn in name.iter_rdn() {
        let mut parts = Vec::new();
        for attribute in rdn.iter() {
            let oid = attribute.attr_type().to_id_string();
            let key =
                SHORT_NAMES.iter().find(|(id, _)| *id == oid).map_or(oid.clone(), |(_, short)| (*short).to_owned());
            let value = attribute.as_str().ok()?;
            parts.push(format!("{key}={}", escape(value)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// RFC 4514 §2.4 escaping.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && matches!(c, ' ' | '#')) || (i == last && c == ' ');
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\00"),
            _ if edge => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(escape("Bộ Tài chính, Hà Nội"), "Bộ Tài chính\\, Hà Nội");
        assert_eq!(escape(" #a+b "), "\\ #a\\+b\\ ");
    }
}
