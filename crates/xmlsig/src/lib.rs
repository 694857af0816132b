//! Enveloped XML signatures over edXML packages, as the national exchange uses them.
//!
//! - [`sign`] signs a package with an agency's seal key: exclusive C14N, SHA-256, RSA-SHA256 or
//!   ECDSA-SHA256 (`r || s`), the certificate in `KeyInfo`; the `Signature` (in the XMLDSig
//!   namespace) becomes the last child of `edXML:edXMLHeader`, replacing any there was. It goes
//!   immediately before `</edXML:edXMLHeader>` with no whitespace added, so the package without
//!   it is the input: [`sign_parts`] digests the input in place and returns [`Signed`], the
//!   input's bytes around the new element, with nothing copied (except when an old signature has
//!   to be removed first).
//! - [`verify`] checks the one `Signature` of a package (found by local name, with or without the
//!   XMLDSig namespace): the `Reference URI=""` digest over the package without its signature,
//!   then the signature value with the `KeyInfo` certificate's key. RSA-SHA1 and SHA-1 digests
//!   are accepted on input only, flagged [`Verified::legacy`]. The chain and revocation of
//!   [`Verified::signer_certificate_der`] are the caller's to check.
//! - [`canonicalize`] is the canonicalizer both use: Canonical XML 1.0 and Exclusive XML
//!   Canonicalization 1.0, without comments, streaming (a 10 MB package is hashed as it is read).
//!
//! A `Signature` outside the XMLDSig namespace (the edXML samples write `<Signature>` under the
//! edXML default namespace) is verified as the document has it: its `SignedInfo` is canonicalized
//! in the namespace it is actually in. When that does not verify, [`VerifyError::UnverifiableNamespace`]
//! says so rather than "bad signature": the signer may have canonicalized it in another namespace.
//!
//! Architecture invariant: this crate does no IO; documents with a DOCTYPE are refused.

mod algorithm;
mod c14n;
mod error;
mod name;
mod outline;
mod sign;
mod verify;
mod xml;

pub use algorithm::{C14N, DSIG_NS, ENVELOPED_SIGNATURE, EXC_C14N, SHA1, SHA256, SignatureAlgorithm};
pub use c14n::{Canonicalization, canonicalize};
pub use error::{SignError, VerifyError, XmlError, XmlErrorKind};
pub use sign::{Signed, Signer, sign, sign_parts};
pub use verify::{Verified, verify};
