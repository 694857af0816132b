//! From bytes to a [`Package`]: tolerant where real traffic varies, strict (path and line) where a
//! value cannot mean anything. Every tolerance becomes a [`Warning`].

use std::borrow::Cow;

use bytes::Bytes;

use crate::dom::{Element, Ns, read_tree};
use crate::error::{ParseError, ParseErrorKind, Warning, line_col, push_warning};
use crate::model::*;
use crate::{BusinessType, EncodedContent, Limits, OrganId, Priority, StatusCode, VnDate, VnTimestamp};

/// A parsed package and what was tolerated to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The package.
    pub package: Package,
    /// Tolerances applied, in document order.
    pub warnings: Vec<Warning>,
}

/// Parses a package. Attachment content is not copied: it stays a slice of `input`.
pub fn parse(input: &Bytes, limits: &Limits) -> Result<Parsed, ParseError> {
    let text = check_prelude(input, limits)?;
    let mut warnings = Vec::new();
    let root = read_tree(text, limits, &mut warnings)?;
    let mut ctx = Ctx { input, text: text.as_bytes(), warnings };
    let package = ctx.package(&root, limits)?;
    // Reading and mapping report separately; people read warnings in document order.
    ctx.warnings.sort_by_key(|w| (w.code == "warnings-truncated", w.line));
    Ok(Parsed { package, warnings: ctx.warnings })
}

/// Size, emptiness, what precedes the declaration, and UTF-8.
fn check_prelude<'a>(input: &'a Bytes, limits: &Limits) -> Result<&'a str, ParseError> {
    let bare = |kind| ParseError { kind, path: String::new(), line: None, column: None };
    if input.len() > limits.max_package_bytes {
        return Err(bare(ParseErrorKind::TooLarge { size: input.len(), limit: limits.max_package_bytes }));
    }
    let start = if input.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let body = &input[start..];
    let first = body.iter().position(|b| !b.is_ascii_whitespace()).ok_or_else(|| bare(ParseErrorKind::Empty))?;
    if body[first] != b'<' {
        let at_line_1 = |kind| ParseError { kind, path: String::new(), line: Some(1), column: Some(1) };
        return Err(at_line_1(match find(body, b"<?xml") {
            Some(count) => ParseErrorKind::GarbageBeforeDeclaration { count, preview: preview(&body[..count]) },
            None => ParseErrorKind::NotXml,
        }));
    }
    std::str::from_utf8(body).map_err(|e| {
        let offset = start + e.valid_up_to();
        let (line, column) = line_col(input, offset);
        ParseError {
            kind: ParseErrorKind::InvalidUtf8 { offset },
            path: String::new(),
            line: Some(line),
            column: Some(column),
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned()
}

/// Spellings seen in real traffic, read as the standard's.
const ALIASES: &[(&str, &str)] = &[
    ("TimeStamp", "Timestamp"),
    ("Business", "Bussiness"),
    ("BusinessDocType", "BussinessDocType"),
    ("BusinessDocReason", "BussinessDocReason"),
    ("BusinessDocumentInfo", "BussinessDocumentInfo"),
];

struct Ctx<'a> {
    /// The whole input, which attachment content is sliced from.
    input: &'a Bytes,
    /// The XML text (after any byte-order mark), which element offsets count into.
    text: &'a [u8],
    warnings: Vec<Warning>,
}

/// The children of one element, sorted out by known name.
struct Kids<'e, 'a> {
    found: Vec<(&'static str, &'e Element<'a>)>,
}

impl<'e, 'a> Kids<'e, 'a> {
    fn all(&self, name: &'static str) -> impl Iterator<Item = &'e Element<'a>> + '_ {
        self.found.iter().filter(move |(n, _)| *n == name).map(|(_, e)| *e)
    }
}

/// Whether the children's order is checked against the standard's (where the spec says it varies).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Checked,
    Free,
}

impl<'a> Ctx<'a> {
    fn warn(&mut self, element: &Element<'_>, code: &'static str, message: String) {
        push_warning(&mut self.warnings, self.text, element.offset, code, &element.path, message);
    }

    fn fail(&self, element: &Element<'_>, kind: ParseErrorKind) -> ParseError {
        let (line, column) = line_col(self.text, element.offset);
        ParseError { kind, path: element.path.clone(), line: Some(line), column: Some(column) }
    }

    fn require<'e, 'b>(
        &self,
        parent: &Element<'_>,
        kids: &Kids<'e, 'b>,
        name: &'static str,
    ) -> Result<&'e Element<'b>, ParseError> {
        self.one(kids, name)?.ok_or_else(|| self.fail(parent, ParseErrorKind::MissingElement { name }))
    }

    /// The element called `name`, if any; more than one is an error.
    fn one<'e, 'b>(&self, kids: &Kids<'e, 'b>, name: &'static str) -> Result<Option<&'e Element<'b>>, ParseError> {
        let mut matches = kids.all(name);
        let first = matches.next();
        match matches.next() {
            Some(second) => Err(self.fail(second, ParseErrorKind::DuplicateElement { name: name.into() })),
            None => Ok(first),
        }
    }

    /// Sorts children by known name; warns about unknown ones, other spellings and (if asked) order.
    fn kids<'e, 'b>(&mut self, parent: &'e Element<'b>, known: &[&'static str], order: Order) -> Kids<'e, 'b> {
        let mut found = Vec::with_capacity(parent.children.len());
        let mut highest: Option<usize> = None;
        let mut order_reported = order == Order::Free;
        for child in &parent.children {
            let Some(index) = self.known_index(child, known) else {
                continue;
            };
            match highest {
                Some(high) if index < high && !order_reported => {
                    let message =
                        format!("<{}> comes after <{}>; QCVN 102 puts it before (accepted)", known[index], known[high]);
                    self.warn(child, "element-order", message);
                    order_reported = true;
                }
                Some(high) if index <= high => {}
                _ => highest = Some(index),
            }
            found.push((known[index], child));
        }
        Kids { found }
    }

    fn known_index(&mut self, child: &Element<'_>, known: &[&'static str]) -> Option<usize> {
        if let Some(index) = known.iter().position(|k| *k == child.name) {
            return Some(index);
        }
        let alias = ALIASES.iter().find(|(seen, _)| *seen == child.name).map(|(_, standard)| *standard);
        let standard = alias.or_else(|| known.iter().copied().find(|k| k.eq_ignore_ascii_case(&child.name)));
        match standard.and_then(|s| known.iter().position(|k| *k == s)) {
            Some(index) => {
                self.warn(child, "spelling", format!("<{}> read as <{}>", child.name, known[index]));
                Some(index)
            }
            None => {
                self.warn(child, "unknown-element", format!("<{}> is not part of QCVN 102; ignored", child.name));
                None
            }
        }
    }

    fn string(element: &Element<'_>) -> String {
        element.text.clone().into_owned()
    }

    fn opt_string(&self, kids: &Kids<'_, '_>, name: &'static str) -> Result<Option<String>, ParseError> {
        Ok(self.one(kids, name)?.map(Self::string))
    }

    fn strings(kids: &Kids<'_, '_>, name: &'static str) -> Vec<String> {
        kids.all(name).map(Self::string).collect()
    }

    /// A value with a type: surrounding white space is tolerated (warned), anything else must parse.
    fn typed<T, E: std::fmt::Display>(
        &mut self,
        element: &Element<'_>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, ParseError> {
        let raw = element.text.as_ref();
        let trimmed = raw.trim();
        if trimmed.len() != raw.len() {
            self.warn(element, "whitespace", format!("white space around {trimmed:?} ignored"));
        }
        parse(trimmed).map_err(|e| {
            self.fail(element, ParseErrorKind::InvalidValue { reason: format!("<{}>: {e}", element.name) })
        })
    }

    /// An optional typed value; an empty element is read as absent (warned).
    fn opt_typed<T, E: std::fmt::Display>(
        &mut self,
        kids: &Kids<'_, '_>,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ParseError> {
        let Some(element) = self.one(kids, name)? else { return Ok(None) };
        if element.text.trim().is_empty() {
            self.warn(element, "empty-value", format!("<{name}> is empty; read as absent"));
            return Ok(None);
        }
        self.typed(element, parse).map(Some)
    }

    /// `StatusCode`, tolerating a single digit (`1` for `01`) with a warning.
    fn status_code(&mut self, element: &Element<'_>) -> Result<StatusCode, ParseError> {
        let trimmed = element.text.trim();
        if trimmed.len() == 1 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            self.warn(element, "status-code-padded", format!("status code {trimmed:?} read as \"0{trimmed}\""));
            return self.typed(element, |s| StatusCode::parse(&format!("0{}", s.trim())));
        }
        self.typed(element, StatusCode::parse)
    }

    fn organ_id(&mut self, element: &Element<'_>) -> OrganId {
        self.typed(element, |s| Ok::<_, String>(OrganId::from_text(s))).unwrap_or_else(|_| OrganId::from_text(""))
    }

    fn opt_organ_id(&mut self, kids: &Kids<'_, '_>, name: &'static str) -> Result<Option<OrganId>, ParseError> {
        Ok(self.one(kids, name)?.map(|e| self.organ_id(e)))
    }

    fn package(&mut self, root: &Element<'_>, limits: &Limits) -> Result<Package, ParseError> {
        if root.name != "edXML" {
            return Err(self.fail(root, ParseErrorKind::WrongRoot { found: root.name.clone() }));
        }
        let kids = self.kids(root, &["edXMLEnvelope", "AttachmentEncoded"], Order::Checked);
        let envelope = self.require(root, &kids, "edXMLEnvelope")?;
        let attachments = match self.one(&kids, "AttachmentEncoded")? {
            Some(encoded) => self.attachments(encoded, limits)?,
            None => Vec::new(),
        };
        let kids = self.kids(envelope, &["edXMLHeader", "edXMLBody"], Order::Checked);
        let header = self.require(envelope, &kids, "edXMLHeader")?;
        let manifest = self.one(&kids, "edXMLBody")?.map(|body| self.body(body)).transpose()?.flatten();
        let kids = self.kids(header, &["MessageHeader", "TraceHeaderList", "Signature"], Order::Checked);
        let message = self.require(header, &kids, "MessageHeader")?;
        let trace = self.one(&kids, "TraceHeaderList")?.map(|t| self.trace_list(t)).transpose()?;
        let signature = self.one(&kids, "Signature")?.map(|s| self.signature(s)).transpose()?;
        let is_status = message.children.iter().any(|c| c.name.eq_ignore_ascii_case("StatusCode"));
        if is_status {
            let header = self.status_header(message)?;
            return Ok(Package::Status(StatusPackage { header, trace, signature }));
        }
        let header = self.document_header(message)?;
        Ok(Package::Document(DocumentPackage { header, trace, signature, manifest, attachments }))
    }

    fn document_header(&mut self, element: &Element<'_>) -> Result<DocumentHeader, ParseError> {
        const KNOWN: &[&str] = &[
            "From",
            "To",
            "DocumentId",
            "Code",
            "PromulgationInfo",
            "DocumentType",
            "Subject",
            "Content",
            "SignerInfo",
            "DueDate",
            "OtherInfo",
            "ResponseFor",
            "SteeringType",
            "ToPlaces",
        ];
        let kids = self.kids(element, KNOWN, Order::Checked);
        Ok(DocumentHeader {
            from: self.one(&kids, "From")?.map(|e| self.organization(e)).transpose()?,
            to: kids.all("To").map(|e| self.organization(e)).collect::<Result<_, _>>()?,
            document_id: self.opt_string(&kids, "DocumentId")?,
            code: self.one(&kids, "Code")?.map(|e| self.code(e)).transpose()?,
            promulgation: self.one(&kids, "PromulgationInfo")?.map(|e| self.promulgation(e)).transpose()?,
            document_type: self.one(&kids, "DocumentType")?.map(|e| self.document_type(e)).transpose()?,
            subject: self.opt_string(&kids, "Subject")?,
            content: self.opt_string(&kids, "Content")?,
            signer: self.one(&kids, "SignerInfo")?.map(|e| self.signer(e)).transpose()?,
            due_date: self.opt_typed(&kids, "DueDate", VnDate::parse)?,
            other_info: self.one(&kids, "OtherInfo")?.map(|e| self.other_info(e)).transpose()?,
            response_for: kids.all("ResponseFor").map(|e| self.response_for(e)).collect::<Result<_, _>>()?,
            steering_type: self.opt_typed(&kids, "SteeringType", str::parse::<u32>)?,
            to_places: self.one(&kids, "ToPlaces")?.map(|e| self.list(e, "Place")),
        })
    }

    fn status_header(&mut self, element: &Element<'_>) -> Result<StatusHeader, ParseError> {
        const KNOWN: &[&str] = &["From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp"];
        let kids = self.kids(element, KNOWN, Order::Checked);
        Ok(StatusHeader {
            from: self.one(&kids, "From")?.map(|e| self.organization(e)).transpose()?,
            response_for: self.one(&kids, "ResponseFor")?.map(|e| self.response_for(e)).transpose()?,
            staff: self.one(&kids, "StaffInfo")?.map(|e| self.staff(e)).transpose()?,
            status: self.status_code(self.require(element, &kids, "StatusCode")?)?,
            description: self.opt_string(&kids, "Description")?,
            timestamp: self.opt_typed(&kids, "Timestamp", VnTimestamp::parse)?,
        })
    }

    fn organization(&mut self, element: &Element<'_>) -> Result<Organization, ParseError> {
        const KNOWN: &[&str] =
            &["OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone", "Fax", "Website"];
        let kids = self.kids(element, KNOWN, Order::Free);
        Ok(Organization {
            organ_id: self.opt_organ_id(&kids, "OrganId")?,
            organization_in_charge: self.opt_string(&kids, "OrganizationInCharge")?,
            organ_name: self.opt_string(&kids, "OrganName")?,
            organ_add: self.opt_string(&kids, "OrganAdd")?,
            email: self.opt_string(&kids, "Email")?,
            telephone: self.opt_string(&kids, "Telephone")?,
            fax: self.opt_string(&kids, "Fax")?,
            website: self.opt_string(&kids, "Website")?,
        })
    }

    fn code(&mut self, element: &Element<'_>) -> Result<Code, ParseError> {
        let kids = self.kids(element, &["CodeNumber", "CodeNotation"], Order::Free);
        Ok(Code { number: self.opt_string(&kids, "CodeNumber")?, notation: self.opt_string(&kids, "CodeNotation")? })
    }

    fn promulgation(&mut self, element: &Element<'_>) -> Result<PromulgationInfo, ParseError> {
        let kids = self.kids(element, &["Place", "PromulgationDate"], Order::Free);
        Ok(PromulgationInfo {
            place: self.opt_string(&kids, "Place")?,
            date: self.opt_typed(&kids, "PromulgationDate", VnDate::parse)?,
        })
    }

    fn document_type(&mut self, element: &Element<'_>) -> Result<DocumentType, ParseError> {
        let kids = self.kids(element, &["Type", "TypeDetail", "TypeName"], Order::Free);
        Ok(DocumentType {
            kind: self.opt_typed(&kids, "Type", str::parse::<u32>)?,
            detail: self.opt_typed(&kids, "TypeDetail", str::parse::<u32>)?,
            name: self.opt_string(&kids, "TypeName")?,
        })
    }

    fn signer(&mut self, element: &Element<'_>) -> Result<SignerInfo, ParseError> {
        let kids = self.kids(element, &["Competence", "Position", "FullName"], Order::Free);
        Ok(SignerInfo {
            competence: self.opt_string(&kids, "Competence")?,
            position: self.opt_string(&kids, "Position")?,
            full_name: self.opt_string(&kids, "FullName")?,
        })
    }

    fn other_info(&mut self, element: &Element<'_>) -> Result<OtherInfo, ParseError> {
        const KNOWN: &[&str] = &[
            "Priority",
            "SphereOfPromulgation",
            "TyperNotation",
            "PromulgationAmount",
            "PageAmount",
            "Direction",
            "Appendixes",
        ];
        let kids = self.kids(element, KNOWN, Order::Free);
        Ok(OtherInfo {
            priority: self.opt_typed(&kids, "Priority", Priority::parse)?,
            sphere_of_promulgation: self.opt_string(&kids, "SphereOfPromulgation")?,
            typer_notation: self.opt_string(&kids, "TyperNotation")?,
            promulgation_amount: self.opt_typed(&kids, "PromulgationAmount", str::parse::<u32>)?,
            page_amount: self.opt_typed(&kids, "PageAmount", str::parse::<u32>)?,
            direction: self.opt_typed(&kids, "Direction", parse_bool)?,
            appendixes: self.one(&kids, "Appendixes")?.map(|e| self.list(e, "Appendix")),
        })
    }

    fn response_for(&mut self, element: &Element<'_>) -> Result<ResponseFor, ParseError> {
        let kids = self.kids(element, &["OrganId", "Code", "PromulgationDate", "DocumentId"], Order::Free);
        Ok(ResponseFor {
            organ_id: self.opt_organ_id(&kids, "OrganId")?,
            code: self.opt_string(&kids, "Code")?,
            promulgation_date: self.opt_typed(&kids, "PromulgationDate", VnDate::parse)?,
            document_id: self.opt_string(&kids, "DocumentId")?,
        })
    }

    fn staff(&mut self, element: &Element<'_>) -> Result<StaffInfo, ParseError> {
        let kids = self.kids(element, &["Department", "Staff", "Email", "Mobile"], Order::Free);
        Ok(StaffInfo {
            department: self.opt_string(&kids, "Department")?,
            staff: self.opt_string(&kids, "Staff")?,
            email: self.opt_string(&kids, "Email")?,
            mobile: self.opt_string(&kids, "Mobile")?,
        })
    }

    fn list(&mut self, element: &Element<'_>, item: &'static str) -> Vec<String> {
        let kids = self.kids(element, &[item], Order::Free);
        Self::strings(&kids, item)
    }

    fn trace_list(&mut self, element: &Element<'_>) -> Result<TraceHeaderList, ParseError> {
        let kids = self.kids(element, &["TraceHeader", "Bussiness"], Order::Free);
        Ok(TraceHeaderList {
            traces: kids.all("TraceHeader").map(|e| self.trace(e)).collect::<Result<_, _>>()?,
            business: self.one(&kids, "Bussiness")?.map(|e| self.business(e)).transpose()?,
        })
    }

    fn trace(&mut self, element: &Element<'_>) -> Result<TraceHeader, ParseError> {
        let kids = self.kids(element, &["OrganId", "Timestamp"], Order::Free);
        Ok(TraceHeader {
            organ_id: self.opt_organ_id(&kids, "OrganId")?,
            timestamp: self.opt_typed(&kids, "Timestamp", VnTimestamp::parse)?,
        })
    }

    fn business(&mut self, element: &Element<'_>) -> Result<Business, ParseError> {
        const KNOWN: &[&str] = &[
            "DocumentId",
            "BussinessDocType",
            "BussinessDocReason",
            "Paper",
            "BussinessDocumentInfo",
            "ReplacementInfoList",
            "StaffInfo",
        ];
        let kids = self.kids(element, KNOWN, Order::Free);
        Ok(Business {
            document_id: self.opt_string(&kids, "DocumentId")?,
            doc_type: self.opt_typed(&kids, "BussinessDocType", BusinessType::parse)?,
            reason: self.opt_string(&kids, "BussinessDocReason")?,
            paper: self.opt_typed(&kids, "Paper", str::parse::<u32>)?,
            staff: self.one(&kids, "StaffInfo")?.map(|e| self.staff(e)).transpose()?,
            document_info: self.one(&kids, "BussinessDocumentInfo")?.map(|e| self.document_info(e)).transpose()?,
            replacements: self.one(&kids, "ReplacementInfoList")?.map(|e| self.replacements(e)).transpose()?,
        })
    }

    fn document_info(&mut self, element: &Element<'_>) -> Result<BusinessDocumentInfo, ParseError> {
        let kids = self.kids(element, &["DocumentInfo", "DocumentReceiver", "ReceiverList"], Order::Free);
        Ok(BusinessDocumentInfo {
            document_info: self.opt_typed(&kids, "DocumentInfo", str::parse::<u32>)?,
            document_receiver: self.opt_typed(&kids, "DocumentReceiver", str::parse::<u32>)?,
            receivers: self.one(&kids, "ReceiverList")?.map(|e| self.receivers(e)).transpose()?,
        })
    }

    fn receivers(&mut self, element: &Element<'_>) -> Result<Vec<Receiver>, ParseError> {
        let kids = self.kids(element, &["Receiver"], Order::Free);
        kids.all("Receiver")
            .map(|e| {
                let kids = self.kids(e, &["OrganId", "ReceiverType"], Order::Free);
                Ok(Receiver {
                    organ_id: self.opt_organ_id(&kids, "OrganId")?,
                    receiver_type: self.opt_typed(&kids, "ReceiverType", str::parse::<u32>)?,
                })
            })
            .collect()
    }

    fn replacements(&mut self, element: &Element<'_>) -> Result<Vec<ReplacementInfo>, ParseError> {
        let kids = self.kids(element, &["ReplacementInfo"], Order::Free);
        kids.all("ReplacementInfo")
            .map(|e| {
                let kids = self.kids(e, &["DocumentId", "OrganIdList"], Order::Free);
                let organ_ids = match self.one(&kids, "OrganIdList")? {
                    Some(list) => {
                        let ids = self.kids(list, &["OrganId"], Order::Free);
                        ids.all("OrganId").map(|id| self.organ_id(id)).collect()
                    }
                    None => Vec::new(),
                };
                Ok(ReplacementInfo { document_id: self.opt_string(&kids, "DocumentId")?, organ_ids })
            })
            .collect()
    }

    fn signature(&mut self, element: &Element<'_>) -> Result<Signature, ParseError> {
        if element.ns != Ns::Dsig {
            self.warn(
                element,
                "signature-namespace",
                "<Signature> is not in the XMLDSig namespace; found by its local name".into(),
            );
        }
        let kids = self.kids(element, &["SignedInfo", "SignatureValue", "KeyInfo"], Order::Free);
        Ok(Signature {
            signed_info: self.one(&kids, "SignedInfo")?.map(|e| self.signed_info(e)).transpose()?.unwrap_or_default(),
            signature_value: self.opt_string(&kids, "SignatureValue")?,
            key_info: self.one(&kids, "KeyInfo")?.map(|e| self.key_info(e)).transpose()?,
        })
    }

    fn signed_info(&mut self, element: &Element<'_>) -> Result<SignedInfo, ParseError> {
        let kids = self.kids(element, &["CanonicalizationMethod", "SignatureMethod", "Reference"], Order::Free);
        let algorithm = |e: Option<&Element<'_>>| e.and_then(|e| e.attribute("Algorithm")).map(str::to_owned);
        Ok(SignedInfo {
            canonicalization_method: algorithm(self.one(&kids, "CanonicalizationMethod")?),
            signature_method: algorithm(self.one(&kids, "SignatureMethod")?),
            references: kids.all("Reference").map(|e| self.signature_reference(e)).collect::<Result<_, _>>()?,
        })
    }

    fn signature_reference(&mut self, element: &Element<'_>) -> Result<SignatureReference, ParseError> {
        let kids = self.kids(element, &["Transforms", "DigestMethod", "DigestValue"], Order::Free);
        let transforms = match self.one(&kids, "Transforms")? {
            Some(list) => {
                let items = self.kids(list, &["Transform"], Order::Free);
                items.all("Transform").filter_map(|t| t.attribute("Algorithm")).map(str::to_owned).collect()
            }
            None => Vec::new(),
        };
        Ok(SignatureReference {
            uri: element.attribute("URI").map(str::to_owned),
            transforms,
            digest_method: self.one(&kids, "DigestMethod")?.and_then(|e| e.attribute("Algorithm")).map(str::to_owned),
            digest_value: self.opt_string(&kids, "DigestValue")?,
        })
    }

    fn key_info(&mut self, element: &Element<'_>) -> Result<KeyInfo, ParseError> {
        let kids = self.kids(element, &["X509Data"], Order::Free);
        let mut key_info = KeyInfo::default();
        for data in kids.all("X509Data") {
            let items = self.kids(data, &["X509SubjectName", "X509Certificate"], Order::Free);
            key_info.subject_names.extend(Self::strings(&items, "X509SubjectName"));
            key_info.certificates.extend(Self::strings(&items, "X509Certificate"));
        }
        Ok(key_info)
    }

    fn body(&mut self, element: &Element<'_>) -> Result<Option<Manifest>, ParseError> {
        let kids = self.kids(element, &["edXMLManifest"], Order::Free);
        let Some(manifest) = self.one(&kids, "edXMLManifest")? else {
            return Ok(None);
        };
        let refs = self.kids(manifest, &["Reference"], Order::Free);
        let references = refs.all("Reference").map(|e| self.manifest_reference(e)).collect::<Result<_, _>>()?;
        Ok(Some(Manifest { version: manifest.attribute("version").map(str::to_owned), references }))
    }

    fn manifest_reference(&mut self, element: &Element<'_>) -> Result<ManifestReference, ParseError> {
        const KNOWN: &[&str] = &["ContentId", "ContentType", "Description", "AttachmentName"];
        let kids = self.kids(element, KNOWN, Order::Free);
        let href = element.attribute("href");
        if href.is_some() {
            self.warn(element, "xlink-reference", "reference given as an xlink:href attribute".into());
        }
        let attribute = |name: &str| element.attribute(name).map(str::to_owned);
        let content_id = self.opt_string(&kids, "ContentId")?.or(href.map(str::to_owned));
        Ok(ManifestReference {
            content_id: content_id.map(|id| self.content_id(element, &id)),
            content_type: self.opt_string(&kids, "ContentType")?.or_else(|| attribute("ContentType")),
            description: self
                .opt_string(&kids, "Description")?
                .or_else(|| attribute("Description"))
                .or_else(|| attribute("title")),
            attachment_name: self.opt_string(&kids, "AttachmentName")?.or_else(|| attribute("AttachmentName")),
        })
    }

    /// Strips the `cid:` prefix, warning when it is absent.
    fn content_id(&mut self, element: &Element<'_>, raw: &str) -> String {
        let trimmed = raw.trim();
        match trimmed.get(..4).filter(|p| p.eq_ignore_ascii_case("cid:")) {
            Some(_) => trimmed[4..].to_owned(),
            None => {
                self.warn(element, "content-id-without-cid", format!("ContentId {trimmed:?} has no cid: prefix"));
                trimmed.to_owned()
            }
        }
    }

    fn attachments(&mut self, element: &Element<'_>, limits: &Limits) -> Result<Vec<Attachment>, ParseError> {
        let kids = self.kids(element, &["Attachment"], Order::Free);
        let items: Vec<_> = kids.all("Attachment").collect();
        if items.len() > limits.max_attachments {
            return Err(self.fail(
                items[limits.max_attachments],
                ParseErrorKind::TooManyAttachments { limit: limits.max_attachments },
            ));
        }
        items.into_iter().map(|e| self.attachment(e)).collect()
    }

    fn attachment(&mut self, element: &Element<'_>) -> Result<Attachment, ParseError> {
        const KNOWN: &[&str] = &["ContentId", "AttachmentName", "Description", "ContentType", "ContentTransferEncoded"];
        let kids = self.kids(element, KNOWN, Order::Free);
        let content = match self.one(&kids, "ContentTransferEncoded")? {
            Some(encoded) => self.encoded(encoded)?,
            None => EncodedContent::encode(&[]),
        };
        let content_id = self.opt_string(&kids, "ContentId")?;
        Ok(Attachment {
            content_id: content_id.map(|id| self.content_id(element, &id)),
            name: self.opt_string(&kids, "AttachmentName")?,
            description: self.opt_string(&kids, "Description")?,
            content_type: self.opt_string(&kids, "ContentType")?,
            content,
        })
    }

    /// Shares the input buffer when the text was written plainly; copies only if it held references.
    fn encoded(&self, element: &Element<'_>) -> Result<EncodedContent, ParseError> {
        let bytes = match &element.text {
            Cow::Borrowed("") => Bytes::new(),
            Cow::Borrowed(text) => self.input.slice_ref(text.as_bytes()),
            Cow::Owned(text) => Bytes::from(text.clone()),
        };
        EncodedContent::from_base64(bytes).map_err(|e| self.fail(element, ParseErrorKind::AttachmentEncoding(e)))
    }
}

/// `true`/`false` in any case (.NET writes `True`), or `1`/`0`.
fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" => Ok(true),
        "0" => Ok(false),
        _ if text.eq_ignore_ascii_case("true") => Ok(true),
        _ if text.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("{text:?} is not true or false")),
    }
}
