//! Writes a [`Package`] deterministically, in the layout of the official SDK samples: the root
//! declares edXML as default namespace, the envelope binds it to `edXML:`, two-space indentation,
//! CR LF line ends, attachments after the envelope. The signature is written in the XMLDSig
//! namespace (the samples omit it; readers find it by local name either way).

use crate::OrganId;
use crate::dom::{DSIG_NS, EDXML_NS};
use crate::model::*;

/// Writes `package` as UTF-8 bytes.
pub fn write(package: &Package) -> Vec<u8> {
    let attachments: usize = match package {
        Package::Document(doc) => doc.attachments.iter().map(|a| a.content.encoded_len()).sum(),
        Package::Status(_) => 0,
    };
    let mut out = Out { buf: Vec::with_capacity(attachments + 16 * 1024), depth: 0 };
    out.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.open_with("edXML", &[("xmlns", EDXML_NS)]);
    out.open_with("edXML:edXMLEnvelope", &[("xmlns:edXML", EDXML_NS)]);
    out.open("edXML:edXMLHeader");
    match package {
        Package::Document(doc) => write_document(&mut out, doc),
        Package::Status(status) => write_status(&mut out, status),
    }
    out.close("edXML");
    out.buf
}

fn write_document(out: &mut Out, doc: &DocumentPackage) {
    document_header(out, &doc.header);
    if let Some(trace) = &doc.trace {
        trace_list(out, trace);
    }
    if let Some(signature) = &doc.signature {
        write_signature(out, signature);
    }
    out.close("edXML:edXMLHeader");
    if let Some(manifest) = &doc.manifest {
        out.open("edXML:edXMLBody");
        write_manifest(out, manifest);
        out.close("edXML:edXMLBody");
    }
    out.close("edXML:edXMLEnvelope");
    if !doc.attachments.is_empty() {
        out.open("AttachmentEncoded");
        doc.attachments.iter().for_each(|a| write_attachment(out, a));
        out.close("AttachmentEncoded");
    }
}

fn write_status(out: &mut Out, status: &StatusPackage) {
    let header = &status.header;
    out.open("edXML:MessageHeader");
    if let Some(from) = &header.from {
        organization(out, "edXML:From", from);
    }
    if let Some(response) = &header.response_for {
        response_for(out, response);
    }
    if let Some(staff) = &header.staff {
        staff_info(out, staff);
    }
    out.leaf("edXML:StatusCode", header.status.as_str());
    out.opt("edXML:Description", header.description.as_deref());
    out.opt("edXML:Timestamp", header.timestamp.map(|t| t.to_string()).as_deref());
    out.close("edXML:MessageHeader");
    if let Some(trace) = &status.trace {
        trace_list(out, trace);
    }
    if let Some(signature) = &status.signature {
        write_signature(out, signature);
    }
    out.close("edXML:edXMLHeader");
    out.close("edXML:edXMLEnvelope");
}

fn document_header(out: &mut Out, h: &DocumentHeader) {
    out.open("edXML:MessageHeader");
    if let Some(from) = &h.from {
        organization(out, "edXML:From", from);
    }
    h.to.iter().for_each(|to| organization(out, "edXML:To", to));
    out.opt("edXML:DocumentId", h.document_id.as_deref());
    if let Some(code) = &h.code {
        out.open("edXML:Code");
        out.opt("edXML:CodeNumber", code.number.as_deref());
        out.opt("edXML:CodeNotation", code.notation.as_deref());
        out.close("edXML:Code");
    }
    if let Some(p) = &h.promulgation {
        out.open("edXML:PromulgationInfo");
        out.opt("edXML:Place", p.place.as_deref());
        out.opt("edXML:PromulgationDate", p.date.map(|d| d.to_string()).as_deref());
        out.close("edXML:PromulgationInfo");
    }
    if let Some(t) = &h.document_type {
        out.open("edXML:DocumentType");
        out.opt("edXML:Type", t.kind.map(|n| n.to_string()).as_deref());
        out.opt("edXML:TypeDetail", t.detail.map(|n| n.to_string()).as_deref());
        out.opt("edXML:TypeName", t.name.as_deref());
        out.close("edXML:DocumentType");
    }
    out.opt("edXML:Subject", h.subject.as_deref());
    out.opt("edXML:Content", h.content.as_deref());
    if let Some(s) = &h.signer {
        out.open("edXML:SignerInfo");
        out.opt("edXML:Competence", s.competence.as_deref());
        out.opt("edXML:Position", s.position.as_deref());
        out.opt("edXML:FullName", s.full_name.as_deref());
        out.close("edXML:SignerInfo");
    }
    out.opt("edXML:DueDate", h.due_date.map(|d| d.to_string()).as_deref());
    if let Some(info) = &h.other_info {
        other_info(out, info);
    }
    h.response_for.iter().for_each(|r| response_for(out, r));
    out.opt("edXML:SteeringType", h.steering_type.map(|n| n.to_string()).as_deref());
    if let Some(places) = &h.to_places {
        out.list("edXML:ToPlaces", "edXML:Place", places);
    }
    out.close("edXML:MessageHeader");
}

fn organization(out: &mut Out, tag: &str, o: &Organization) {
    out.open(tag);
    out.opt("edXML:OrganId", o.organ_id.as_ref().map(OrganId::as_str));
    out.opt("edXML:OrganizationInCharge", o.organization_in_charge.as_deref());
    out.opt("edXML:OrganName", o.organ_name.as_deref());
    out.opt("edXML:OrganAdd", o.organ_add.as_deref());
    out.opt("edXML:Email", o.email.as_deref());
    out.opt("edXML:Telephone", o.telephone.as_deref());
    out.opt("edXML:Fax", o.fax.as_deref());
    out.opt("edXML:Website", o.website.as_deref());
    out.close(tag);
}

fn other_info(out: &mut Out, info: &OtherInfo) {
    out.open("edXML:OtherInfo");
    out.opt("edXML:Priority", info.priority.map(|p| p.as_str()));
    out.opt("edXML:SphereOfPromulgation", info.sphere_of_promulgation.as_deref());
    out.opt("edXML:TyperNotation", info.typer_notation.as_deref());
    out.opt("edXML:PromulgationAmount", info.promulgation_amount.map(|n| n.to_string()).as_deref());
    out.opt("edXML:PageAmount", info.page_amount.map(|n| n.to_string()).as_deref());
    out.opt("edXML:Direction", info.direction.map(|d| if d { "true" } else { "false" }));
    if let Some(appendixes) = &info.appendixes {
        out.list("edXML:Appendixes", "edXML:Appendix", appendixes);
    }
    out.close("edXML:OtherInfo");
}

fn response_for(out: &mut Out, r: &ResponseFor) {
    out.open("edXML:ResponseFor");
    out.opt("edXML:OrganId", r.organ_id.as_ref().map(OrganId::as_str));
    out.opt("edXML:Code", r.code.as_deref());
    out.opt("edXML:PromulgationDate", r.promulgation_date.map(|d| d.to_string()).as_deref());
    out.opt("edXML:DocumentId", r.document_id.as_deref());
    out.close("edXML:ResponseFor");
}

fn staff_info(out: &mut Out, s: &StaffInfo) {
    out.open("edXML:StaffInfo");
    out.opt("edXML:Department", s.department.as_deref());
    out.opt("edXML:Staff", s.staff.as_deref());
    out.opt("edXML:Email", s.email.as_deref());
    out.opt("edXML:Mobile", s.mobile.as_deref());
    out.close("edXML:StaffInfo");
}

fn trace_list(out: &mut Out, list: &TraceHeaderList) {
    out.open("edXML:TraceHeaderList");
    for trace in &list.traces {
        out.open("edXML:TraceHeader");
        out.opt("edXML:OrganId", trace.organ_id.as_ref().map(OrganId::as_str));
        out.opt("edXML:Timestamp", trace.timestamp.map(|t| t.to_string()).as_deref());
        out.close("edXML:TraceHeader");
    }
    if let Some(business) = &list.business {
        write_business(out, business);
    }
    out.close("edXML:TraceHeaderList");
}

fn write_business(out: &mut Out, b: &Business) {
    out.open("edXML:Bussiness");
    out.opt("edXML:DocumentId", b.document_id.as_deref());
    out.opt("edXML:BussinessDocType", b.doc_type.map(|t| t.as_str()));
    out.opt("edXML:BussinessDocReason", b.reason.as_deref());
    out.opt("edXML:Paper", b.paper.map(|n| n.to_string()).as_deref());
    if let Some(info) = &b.document_info {
        document_info(out, info);
    }
    if let Some(replacements) = &b.replacements {
        out.open("edXML:ReplacementInfoList");
        replacements.iter().for_each(|r| replacement(out, r));
        out.close("edXML:ReplacementInfoList");
    }
    if let Some(staff) = &b.staff {
        staff_info(out, staff);
    }
    out.close("edXML:Bussiness");
}

fn document_info(out: &mut Out, info: &BusinessDocumentInfo) {
    out.open("edXML:BussinessDocumentInfo");
    out.opt("edXML:DocumentInfo", info.document_info.map(|n| n.to_string()).as_deref());
    out.opt("edXML:DocumentReceiver", info.document_receiver.map(|n| n.to_string()).as_deref());
    if let Some(receivers) = &info.receivers {
        out.open("edXML:ReceiverList");
        for r in receivers {
            out.open("edXML:Receiver");
            out.opt("edXML:OrganId", r.organ_id.as_ref().map(OrganId::as_str));
            out.opt("edXML:ReceiverType", r.receiver_type.map(|n| n.to_string()).as_deref());
            out.close("edXML:Receiver");
        }
        out.close("edXML:ReceiverList");
    }
    out.close("edXML:BussinessDocumentInfo");
}

fn replacement(out: &mut Out, r: &ReplacementInfo) {
    out.open("edXML:ReplacementInfo");
    out.opt("edXML:DocumentId", r.document_id.as_deref());
    out.open("edXML:OrganIdList");
    r.organ_ids.iter().for_each(|id| out.leaf("edXML:OrganId", id.as_str()));
    out.close("edXML:OrganIdList");
    out.close("edXML:ReplacementInfo");
}

fn write_signature(out: &mut Out, s: &Signature) {
    out.open_with("Signature", &[("xmlns", DSIG_NS)]);
    out.open("SignedInfo");
    if let Some(method) = &s.signed_info.canonicalization_method {
        out.empty("CanonicalizationMethod", &[("Algorithm", method)]);
    }
    if let Some(method) = &s.signed_info.signature_method {
        out.empty("SignatureMethod", &[("Algorithm", method)]);
    }
    s.signed_info.references.iter().for_each(|r| signature_reference(out, r));
    out.close("SignedInfo");
    out.opt("SignatureValue", s.signature_value.as_deref());
    if let Some(key_info) = &s.key_info {
        out.open("KeyInfo");
        out.open("X509Data");
        key_info.subject_names.iter().for_each(|n| out.leaf("X509SubjectName", n));
        key_info.certificates.iter().for_each(|c| out.leaf("X509Certificate", c));
        out.close("X509Data");
        out.close("KeyInfo");
    }
    out.close("Signature");
}

fn signature_reference(out: &mut Out, r: &SignatureReference) {
    match &r.uri {
        Some(uri) => out.open_with("Reference", &[("URI", uri)]),
        None => out.open("Reference"),
    }
    if !r.transforms.is_empty() {
        out.open("Transforms");
        r.transforms.iter().for_each(|t| out.empty("Transform", &[("Algorithm", t)]));
        out.close("Transforms");
    }
    if let Some(method) = &r.digest_method {
        out.empty("DigestMethod", &[("Algorithm", method)]);
    }
    out.opt("DigestValue", r.digest_value.as_deref());
    out.close("Reference");
}

fn write_manifest(out: &mut Out, m: &Manifest) {
    match &m.version {
        Some(version) => out.open_with("edXML:edXMLManifest", &[("version", version)]),
        None => out.open("edXML:edXMLManifest"),
    }
    for r in &m.references {
        out.open("edXML:Reference");
        out.opt("edXML:ContentId", r.content_id.as_ref().map(|id| format!("cid:{id}")).as_deref());
        out.opt("edXML:ContentType", r.content_type.as_deref());
        out.opt("edXML:Description", r.description.as_deref());
        out.opt("edXML:AttachmentName", r.attachment_name.as_deref());
        out.close("edXML:Reference");
    }
    out.close("edXML:edXMLManifest");
}

fn write_attachment(out: &mut Out, a: &Attachment) {
    out.open("Attachment");
    out.opt("ContentId", a.content_id.as_ref().map(|id| format!("cid:{id}")).as_deref());
    out.opt("AttachmentName", a.name.as_deref());
    out.opt("Description", a.description.as_deref());
    out.opt("ContentType", a.content_type.as_deref());
    out.indent();
    out.raw_bytes(b"<edXML:ContentTransferEncoded xmlns:edXML=\"");
    out.raw_bytes(EDXML_NS.as_bytes());
    out.raw_bytes(b"\">");
    out.raw_bytes(a.content.as_bytes());
    out.raw_bytes(b"</edXML:ContentTransferEncoded>\r\n");
    out.close("Attachment");
}

/// An indenting XML sink.
struct Out {
    buf: Vec<u8>,
    depth: usize,
}

impl Out {
    fn indent(&mut self) {
        self.buf.resize(self.buf.len() + 2 * self.depth, b' ');
    }

    fn raw(&mut self, line: &str) {
        self.indent();
        self.raw_bytes(line.as_bytes());
        self.raw_bytes(b"\r\n");
    }

    fn raw_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn start_tag(&mut self, tag: &str, attributes: &[(&str, &str)]) {
        self.indent();
        self.buf.push(b'<');
        self.raw_bytes(tag.as_bytes());
        for (name, value) in attributes {
            self.buf.push(b' ');
            self.raw_bytes(name.as_bytes());
            self.raw_bytes(b"=\"");
            escape_into(&mut self.buf, value, true);
            self.buf.push(b'"');
        }
    }

    fn open_with(&mut self, tag: &str, attributes: &[(&str, &str)]) {
        self.start_tag(tag, attributes);
        self.raw_bytes(b">\r\n");
        self.depth += 1;
    }

    fn open(&mut self, tag: &str) {
        self.open_with(tag, &[]);
    }

    fn empty(&mut self, tag: &str, attributes: &[(&str, &str)]) {
        self.start_tag(tag, attributes);
        self.raw_bytes(b" />\r\n");
    }

    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.indent();
        self.raw_bytes(b"</");
        self.raw_bytes(tag.as_bytes());
        self.raw_bytes(b">\r\n");
    }

    fn leaf(&mut self, tag: &str, value: &str) {
        self.start_tag(tag, &[]);
        self.buf.push(b'>');
        escape_into(&mut self.buf, value, false);
        self.raw_bytes(b"</");
        self.raw_bytes(tag.as_bytes());
        self.raw_bytes(b">\r\n");
    }

    fn opt(&mut self, tag: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.leaf(tag, value);
        }
    }

    fn list(&mut self, tag: &str, item: &str, values: &[String]) {
        self.open(tag);
        values.iter().for_each(|v| self.leaf(item, v));
        self.close(tag);
    }
}

/// Escapes markup, and the characters a reader would otherwise normalise away (CR; in attributes
/// also tab and LF), so that reading gives back exactly what was written.
fn escape_into(buf: &mut Vec<u8>, text: &str, attribute: bool) {
    let mut rest = text;
    while let Some(index) = rest.find(|c| needs_escape(c, attribute)) {
        buf.extend_from_slice(&rest.as_bytes()[..index]);
        let c = rest.as_bytes()[index];
        let escaped: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\r' => b"&#13;",
            b'\n' => b"&#10;",
            _ => b"&#9;",
        };
        buf.extend_from_slice(escaped);
        rest = &rest[index + 1..];
    }
    buf.extend_from_slice(rest.as_bytes());
}

fn needs_escape(c: char, attribute: bool) -> bool {
    matches!(c, '&' | '<' | '>' | '\r') || (attribute && matches!(c, '"' | '\n' | '\t'))
}
