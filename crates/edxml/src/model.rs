//! The typed model of edXML packages: a document package or a status package.
//!
//! Fields a package may omit are `Option`s; [`crate::validate`] says which ones a receiving clerk
//! needs. A present-but-empty element is `Some("")`, an absent one `None`, so writing a parsed
//! package gives back the same elements.

use serde::Serialize;

use crate::{BusinessType, EncodedContent, OrganId, Priority, StatusCode, VnDate, VnTimestamp};

/// An edXML package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Package {
    /// A document package ("gói tin văn bản").
    Document(DocumentPackage),
    /// A status package ("gói tin trạng thái").
    Status(StatusPackage),
}

/// A document with its attachments: new, recall, update or replacement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DocumentPackage {
    /// `MessageHeader`.
    pub header: DocumentHeader,
    /// `TraceHeaderList`.
    pub trace: Option<TraceHeaderList>,
    /// `Signature` (XMLDSig-shaped).
    pub signature: Option<Signature>,
    /// `edXMLBody/edXMLManifest`.
    pub manifest: Option<Manifest>,
    /// `AttachmentEncoded/Attachment*`.
    pub attachments: Vec<Attachment>,
}

/// A processing status that answers a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusPackage {
    /// `MessageHeader`.
    pub header: StatusHeader,
    /// `TraceHeaderList`, if the sender added one.
    pub trace: Option<TraceHeaderList>,
    /// `Signature`.
    pub signature: Option<Signature>,
}

/// The document `MessageHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DocumentHeader {
    /// Sending agency.
    pub from: Option<Organization>,
    /// Recipient agencies.
    pub to: Vec<Organization>,
    /// `DocumentId`, usually `OrganId,yyyy/MM/dd,Number/Notation`.
    pub document_id: Option<String>,
    /// `Code`: number and notation.
    pub code: Option<Code>,
    /// `PromulgationInfo`.
    pub promulgation: Option<PromulgationInfo>,
    /// `DocumentType`.
    pub document_type: Option<DocumentType>,
    /// `Subject` ("trích yếu").
    pub subject: Option<String>,
    /// `Content`: summary.
    pub content: Option<String>,
    /// `SignerInfo`.
    pub signer: Option<SignerInfo>,
    /// `DueDate`: deadline for reply or handling.
    pub due_date: Option<VnDate>,
    /// `OtherInfo`.
    pub other_info: Option<OtherInfo>,
    /// `ResponseFor*`: documents this one answers.
    pub response_for: Vec<ResponseFor>,
    /// `SteeringType` (1 = directive).
    pub steering_type: Option<u32>,
    /// `ToPlaces/Place*`: free-text recipients.
    pub to_places: Option<Vec<String>>,
}

/// The status `MessageHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusHeader {
    /// The reporting agency.
    pub from: Option<Organization>,
    /// The document this status is about.
    pub response_for: Option<ResponseFor>,
    /// Who reported it.
    pub staff: Option<StaffInfo>,
    /// The status: what makes a package a status package.
    pub status: StatusCode,
    /// Free text, e.g. the reason for a refusal.
    pub description: Option<String>,
    /// When it was reported.
    pub timestamp: Option<VnTimestamp>,
}

/// An agency as `From` or `To` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Organization {
    /// `OrganId`.
    pub organ_id: Option<OrganId>,
    /// `OrganizationInCharge`: the managing body.
    pub organization_in_charge: Option<String>,
    /// `OrganName`.
    pub organ_name: Option<String>,
    /// `OrganAdd`: postal address.
    pub organ_add: Option<String>,
    /// `Email`.
    pub email: Option<String>,
    /// `Telephone`.
    pub telephone: Option<String>,
    /// `Fax`.
    pub fax: Option<String>,
    /// `Website`.
    pub website: Option<String>,
}

/// `Code`: "số, ký hiệu" as two elements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Code {
    /// `CodeNumber`, e.g. `7816`.
    pub number: Option<String>,
    /// `CodeNotation`, e.g. `VPCP-TTĐT`.
    pub notation: Option<String>,
}

/// `PromulgationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PromulgationInfo {
    /// `Place`.
    pub place: Option<String>,
    /// `PromulgationDate`.
    pub date: Option<VnDate>,
}

/// `DocumentType`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DocumentType {
    /// `Type`.
    pub kind: Option<u32>,
    /// `TypeDetail`.
    pub detail: Option<u32>,
    /// `TypeName`: authoritative, e.g. "Công văn".
    pub name: Option<String>,
}

/// `SignerInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SignerInfo {
    /// `Competence`, e.g. "TL. BỘ TRƯỞNG".
    pub competence: Option<String>,
    /// `Position`: title.
    pub position: Option<String>,
    /// `FullName`.
    pub full_name: Option<String>,
}

/// `OtherInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OtherInfo {
    /// `Priority`: urgency.
    pub priority: Option<Priority>,
    /// `SphereOfPromulgation`.
    pub sphere_of_promulgation: Option<String>,
    /// `TyperNotation`: typist's initials.
    pub typer_notation: Option<String>,
    /// `PromulgationAmount`: copies issued.
    pub promulgation_amount: Option<u32>,
    /// `PageAmount`.
    pub page_amount: Option<u32>,
    /// `Direction`.
    pub direction: Option<bool>,
    /// `Appendixes/Appendix*`.
    pub appendixes: Option<Vec<String>>,
}

/// `ResponseFor`: the document answered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ResponseFor {
    /// `OrganId` of the document's sender.
    pub organ_id: Option<OrganId>,
    /// `Code`: `number/notation` in one element.
    pub code: Option<String>,
    /// `PromulgationDate`.
    pub promulgation_date: Option<VnDate>,
    /// `DocumentId`.
    pub document_id: Option<String>,
}

/// `StaffInfo`: the clerk who acted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StaffInfo {
    /// `Department`.
    pub department: Option<String>,
    /// `Staff`: name.
    pub staff: Option<String>,
    /// `Email`.
    pub email: Option<String>,
    /// `Mobile`.
    pub mobile: Option<String>,
}

/// `TraceHeaderList`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TraceHeaderList {
    /// `TraceHeader*`, one per hop.
    pub traces: Vec<TraceHeader>,
    /// `Bussiness` (sic): what the package does.
    pub business: Option<Business>,
}

/// `TraceHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TraceHeader {
    /// `OrganId` of the hop.
    pub organ_id: Option<OrganId>,
    /// `Timestamp`.
    pub timestamp: Option<VnTimestamp>,
}

/// `Bussiness` (sic).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Business {
    /// `DocumentId`.
    pub document_id: Option<String>,
    /// `BussinessDocType`.
    pub doc_type: Option<BusinessType>,
    /// `BussinessDocReason`.
    pub reason: Option<String>,
    /// `Paper`: 1 if a paper copy follows.
    pub paper: Option<u32>,
    /// `StaffInfo`.
    pub staff: Option<StaffInfo>,
    /// `BussinessDocumentInfo` (updates).
    pub document_info: Option<BusinessDocumentInfo>,
    /// `ReplacementInfoList/ReplacementInfo*` (replacements).
    pub replacements: Option<Vec<ReplacementInfo>>,
}

/// `BussinessDocumentInfo`: what an update changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BusinessDocumentInfo {
    /// `DocumentInfo`: 1 if the document's information changes.
    pub document_info: Option<u32>,
    /// `DocumentReceiver`: 1 if the recipients change.
    pub document_receiver: Option<u32>,
    /// `ReceiverList/Receiver*`.
    pub receivers: Option<Vec<Receiver>>,
}

/// `Receiver`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Receiver {
    /// `OrganId`.
    pub organ_id: Option<OrganId>,
    /// `ReceiverType`.
    pub receiver_type: Option<u32>,
}

/// `ReplacementInfo`: a document replaced, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ReplacementInfo {
    /// `DocumentId` of the replaced document.
    pub document_id: Option<String>,
    /// `OrganIdList/OrganId*`.
    pub organ_ids: Vec<OrganId>,
}

/// `edXMLManifest`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Manifest {
    /// The `version` attribute.
    pub version: Option<String>,
    /// `Reference*`.
    pub references: Vec<ManifestReference>,
}

/// A manifest `Reference`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ManifestReference {
    /// `ContentId`, without its `cid:` prefix.
    pub content_id: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `AttachmentName`.
    pub attachment_name: Option<String>,
}

/// An `Attachment`: base64 of a ZIP holding the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// `ContentId`, without its `cid:` prefix.
    pub content_id: Option<String>,
    /// `AttachmentName`.
    pub name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `ContentTransferEncoded`: kept encoded, shared with the input buffer.
    pub content: EncodedContent,
}

/// The XMLDSig-shaped `Signature` of a package, as written (not verified here).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Signature {
    /// `SignedInfo`.
    pub signed_info: SignedInfo,
    /// `SignatureValue`, base64 as written.
    pub signature_value: Option<String>,
    /// `KeyInfo`.
    pub key_info: Option<KeyInfo>,
}

/// `SignedInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SignedInfo {
    /// `CanonicalizationMethod/@Algorithm`.
    pub canonicalization_method: Option<String>,
    /// `SignatureMethod/@Algorithm`.
    pub signature_method: Option<String>,
    /// `Reference*`.
    pub references: Vec<SignatureReference>,
}

/// A signature `Reference`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SignatureReference {
    /// `@URI` (`""` = the whole document).
    pub uri: Option<String>,
    /// `Transforms/Transform/@Algorithm`.
    pub transforms: Vec<String>,
    /// `DigestMethod/@Algorithm`.
    pub digest_method: Option<String>,
    /// `DigestValue`.
    pub digest_value: Option<String>,
}

/// `KeyInfo/X509Data`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KeyInfo {
    /// `X509SubjectName*`.
    pub subject_names: Vec<String>,
    /// `X509Certificate*`, base64 DER as written.
    pub certificates: Vec<String>,
}

impl Package {
    /// The sending or reporting agency.
    pub fn sender(&self) -> Option<&Organization> {
        match self {
            Self::Document(doc) => doc.header.from.as_ref(),
            Self::Status(status) => status.header.from.as_ref(),
        }
    }

    /// "document" or "status".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Document(_) => "document",
            Self::Status(_) => "status",
        }
    }
}

impl DocumentPackage {
    /// The business type; a package without `Bussiness` is a new document.
    pub fn business_type(&self) -> BusinessType {
        self.trace.as_ref().and_then(|t| t.business.as_ref()).and_then(|b| b.doc_type).unwrap_or(BusinessType::New)
    }

    /// `number/notation` from `Code`, as written.
    pub fn number_notation(&self) -> Option<String> {
        let code = self.header.code.as_ref()?;
        Some(format!("{}/{}", code.number.as_deref()?, code.notation.as_deref()?))
    }
}

impl Organization {
    /// An organisation known only by its code.
    pub fn with_id(organ_id: OrganId) -> Self {
        Self { organ_id: Some(organ_id), ..Self::default() }
    }
}
