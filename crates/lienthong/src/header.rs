//! The TOML header file that `lienthong edxml build` reads: the document's metadata, in the
//! words a clerk uses. Kept apart from the package model so the file format can stay stable.

use anyhow::{Context as _, Result, bail};
use edxml::model::*;
use edxml::{AgencyCode, BusinessType, OrganId, Priority, VnDate, VnTimestamp};
use serde::Deserialize;

/// A complete example, printed by `lienthong edxml build --example`.
pub(crate) const EXAMPLE: &str = include_str!("header_example.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderFile {
    business_type: Option<u8>,
    document_id: Option<String>,
    subject: String,
    content: Option<String>,
    place: Option<String>,
    promulgation_date: String,
    due_date: Option<String>,
    steering_type: Option<u32>,
    to_places: Option<Vec<String>>,
    code: CodeToml,
    document_type: DocumentTypeToml,
    signer: SignerToml,
    other_info: Option<OtherInfoToml>,
    from: OrganizationToml,
    to: Vec<OrganizationToml>,
    #[serde(default)]
    response_for: Vec<ResponseForToml>,
    business: Option<BusinessToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeToml {
    number: String,
    notation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentTypeToml {
    r#type: u32,
    detail: Option<u32>,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerToml {
    competence: Option<String>,
    position: Option<String>,
    full_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtherInfoToml {
    priority: Option<u8>,
    sphere_of_promulgation: Option<String>,
    typer_notation: Option<String>,
    promulgation_amount: Option<u32>,
    page_amount: Option<u32>,
    direction: Option<bool>,
    appendixes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationToml {
    organ_id: String,
    organ_name: Option<String>,
    organization_in_charge: Option<String>,
    organ_add: Option<String>,
    email: Option<String>,
    telephone: Option<String>,
    fax: Option<String>,
    website: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseForToml {
    organ_id: String,
    code: Option<String>,
    promulgation_date: Option<String>,
    document_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BusinessToml {
    document_id: Option<String>,
    reason: Option<String>,
    paper: Option<u32>,
    staff: Option<StaffToml>,
    document_info: Option<u32>,
    document_receiver: Option<u32>,
    receivers: Option<Vec<ReceiverToml>>,
    replacements: Option<Vec<ReplacementToml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffToml {
    department: Option<String>,
    staff: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverToml {
    organ_id: String,
    receiver_type: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplacementToml {
    document_id: String,
    organ_ids: Vec<String>,
}

impl HeaderFile {
    pub(crate) fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The document package this header describes, without attachments, sent at `now`.
    pub(crate) fn into_package(self, now: VnTimestamp) -> Result<DocumentPackage> {
        let business_type = match self.business_type {
            Some(code) => BusinessType::parse(&code.to_string()).context("business_type")?,
            None => BusinessType::New,
        };
        let from = self.from.into_model().context("[from]")?;
        let sender = from.organ_id.clone();
        let promulgation_date = date(&self.promulgation_date, "promulgation_date")?;
        let number = format!("{}/{}", self.code.number, self.code.notation);
        let document_id = self.document_id.unwrap_or_else(|| {
            format!("{},{promulgation_date},{number}", from.organ_id.as_ref().map(OrganId::as_str).unwrap_or_default())
        });
        let header = DocumentHeader {
            from: Some(from),
            to: self
                .to
                .into_iter()
                .enumerate()
                .map(|(i, o)| o.into_model().with_context(|| format!("[[to]] number {}", i + 1)))
                .collect::<Result<_>>()?,
            document_id: Some(document_id.clone()),
            code: Some(Code { number: Some(self.code.number), notation: Some(self.code.notation) }),
            promulgation: Some(PromulgationInfo { place: self.place, date: Some(promulgation_date) }),
            document_type: Some(DocumentType {
                kind: Some(self.document_type.r#type),
                detail: self.document_type.detail,
                name: Some(self.document_type.name),
            }),
            subject: Some(self.subject),
            content: self.content,
            signer: Some(SignerInfo {
                competence: self.signer.competence,
                position: self.signer.position,
                full_name: Some(self.signer.full_name),
            }),
            due_date: self.due_date.as_deref().map(|d| date(d, "due_date")).transpose()?,
            other_info: self.other_info.map(OtherInfoToml::into_model).transpose()?,
            response_for: self.response_for.into_iter().map(ResponseForToml::into_model).collect::<Result<_>>()?,
            steering_type: self.steering_type,
            to_places: self.to_places,
        };
        let business = self.business.map(|b| b.into_model(business_type, &document_id)).transpose()?;
        let business = business.or(Some(Business {
            document_id: Some(document_id),
            doc_type: Some(business_type),
            ..Business::default()
        }));
        let trace = TraceHeaderList { traces: vec![TraceHeader { organ_id: sender, timestamp: Some(now) }], business };
        Ok(DocumentPackage { header, trace: Some(trace), signature: None, manifest: None, attachments: Vec::new() })
    }
}

/// A code given on the command line or in a header must conform: we never write a bad one.
pub(crate) fn agency_code(text: &str, field: &str) -> Result<AgencyCode> {
    AgencyCode::parse(text).with_context(|| format!("{field} {text:?} is not a valid agency code"))
}

fn organ_id(text: &str, field: &str) -> Result<Option<OrganId>> {
    Ok(Some(OrganId::from(agency_code(text, field)?)))
}

fn date(text: &str, field: &str) -> Result<VnDate> {
    VnDate::parse(text).with_context(|| field.to_string())
}

impl OrganizationToml {
    fn into_model(self) -> Result<Organization> {
        Ok(Organization {
            organ_id: organ_id(&self.organ_id, "organ_id")?,
            organization_in_charge: self.organization_in_charge,
            organ_name: self.organ_name,
            organ_add: self.organ_add,
            email: self.email,
            telephone: self.telephone,
            fax: self.fax,
            website: self.website,
        })
    }
}

impl OtherInfoToml {
    fn into_model(self) -> Result<OtherInfo> {
        let priority =
            self.priority.map(|p| Priority::parse(&p.to_string())).transpose().context("other_info.priority")?;
        Ok(OtherInfo {
            priority,
            sphere_of_promulgation: self.sphere_of_promulgation,
            typer_notation: self.typer_notation,
            promulgation_amount: self.promulgation_amount,
            page_amount: self.page_amount,
            direction: self.direction,
            appendixes: self.appendixes,
        })
    }
}

impl ResponseForToml {
    fn into_model(self) -> Result<ResponseFor> {
        Ok(ResponseFor {
            organ_id: organ_id(&self.organ_id, "response_for.organ_id")?,
            code: self.code,
            promulgation_date: self
                .promulgation_date
                .as_deref()
                .map(|d| date(d, "response_for.promulgation_date"))
                .transpose()?,
            document_id: Some(self.document_id),
        })
    }
}

impl BusinessToml {
    fn into_model(self, doc_type: BusinessType, document_id: &str) -> Result<Business> {
        let document_info = match doc_type {
            BusinessType::Update => Some(BusinessDocumentInfo {
                document_info: self.document_info,
                document_receiver: self.document_receiver,
                receivers: self
                    .receivers
                    .map(|r| r.into_iter().map(ReceiverToml::into_model).collect::<Result<_>>())
                    .transpose()?,
            }),
            _ if self.receivers.is_some() => {
                bail!("business.receivers is only for updates (business_type = 2)")
            }
            _ => None,
        };
        let replacements = match (doc_type, self.replacements) {
            (BusinessType::Replace, list) => {
                Some(list.unwrap_or_default().into_iter().map(ReplacementToml::into_model).collect::<Result<_>>()?)
            }
            (_, Some(_)) => {
                bail!("business.replacements is only for replacements (business_type = 3)")
            }
            (_, None) => None,
        };
        Ok(Business {
            document_id: Some(self.document_id.unwrap_or_else(|| document_id.to_owned())),
            doc_type: Some(doc_type),
            reason: self.reason,
            paper: self.paper,
            staff: self.staff.map(|s| StaffInfo {
                department: s.department,
                staff: s.staff,
                email: s.email,
                mobile: s.mobile,
            }),
            document_info,
            replacements,
        })
    }
}

impl ReceiverToml {
    fn into_model(self) -> Result<Receiver> {
        Ok(Receiver {
            organ_id: organ_id(&self.organ_id, "business.receivers.organ_id")?,
            receiver_type: self.receiver_type,
        })
    }
}

impl ReplacementToml {
    fn into_model(self) -> Result<ReplacementInfo> {
        let organ_ids = self
            .organ_ids
            .iter()
            .map(|id| agency_code(id, "business.replacements.organ_ids").map(OrganId::from))
            .collect::<Result<_>>()?;
        Ok(ReplacementInfo { document_id: Some(self.document_id), organ_ids })
    }
}
