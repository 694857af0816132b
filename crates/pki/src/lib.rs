//! The government certification authority (Decree 130/2018): certificate profiles for
//! organisations, officials, gateways, OCSP responders and timestamp authorities; issuance with
//! pre-issuance linting; revocation and CRLs. Private keys stay in a key provider.
//!
//! Architecture invariant: no IO here. Keys are sealed to and opened from text; the binary
//! decides where that text lives.

mod algorithm;
mod authority;
mod der;
mod keys;
mod lint;
mod name;
mod ocsp;
mod profile;
mod revocation;
mod secret;
mod serial;
mod tsp;
mod tsp_client;

pub use algorithm::{KeyAlgorithm, UnknownAlgorithm};
pub use authority::{
    Authority, CRL_VALIDITY, Endpoints, IssueError, IssueRequest, IssuedCertificate, NewAuthority,
    ORGANIZATION_IDENTIFIER, RevokedEntry, SubscriberKey, verify_statement,
};
pub use keys::{ExternalKey, KeyError, KeyPair, MIN_PASSPHRASE_CHARS};
pub use lint::{LintFinding, lint};
pub use name::{NameAttribute, NameError, SubjectName};
pub use ocsp::{
    CertificateState, MAX_NONCE_BYTES, MAX_REQUEST_BYTES, MAX_REQUESTS, OcspError, OcspResponder, ParsedRequest,
    RESPONSE_VALIDITY, ResponseStatus, error_response,
};
pub use profile::{DOCUMENT_SIGNING, Profile, UnknownProfile};
pub use revocation::{RevocationReason, UnknownReason};
pub use secret::{open_secret, seal_secret};
pub use serial::{BadSerial, CertSerial};
pub use tsp::{
    ACCURACY_SECONDS, FailureInfo, ImprintHash, MAX_TSP_NONCE_BYTES, MAX_TSP_REQUEST_BYTES, TSA_POLICY,
    TimeStampAuthority, TimeStampRequest, TspError,
};
pub use tsp_client::{
    MAX_TSP_REPLY_BYTES, TokenError, VerifiedTimeStamp, timestamp_request, token_from_reply, verify_token,
};
