//! The CMS structures read and written here (RFC 5652 §6, RFC 5083, RFC 5084, RFC 5753, RFC 8017
//! appendix A), written with `der` derive: the RustCrypto generation in use has no published CMS
//! crate. Every type borrows from the input, so parsing never copies the ciphertext.

use der::asn1::{AnyRef, BitStringRef, GeneralizedTime, IntRef, ObjectIdentifier, OctetStringRef};
use der::{Choice, DecodeValue, EncodeValue, ErrorKind, FixedTag, Header, Length, Reader, Sequence, Tag, Writer};
use x509_cert::spki::AlgorithmIdentifierRef;

use crate::MAX_RECIPIENTS;

/// id-ct-authEnvelopedData (RFC 5083).
pub(crate) const AUTH_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.23");
/// id-data: what the decrypted content is.
pub(crate) const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

pub(crate) const AES128_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.6");
pub(crate) const AES192_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.26");
pub(crate) const AES256_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.46");
pub(crate) const AES128_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.5");
pub(crate) const AES256_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.45");

pub(crate) const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
pub(crate) const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
pub(crate) const P_SPECIFIED: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.9");
pub(crate) const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub(crate) const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753 §7.1.4): what [`crate::seal`] writes.
pub(crate) const ECDH_STD_SHA256_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.11.1");

/// The version of an AuthEnvelopedData (RFC 5083 §2.1).
pub(crate) const AUTH_ENVELOPED_VERSION: u8 = 0;
/// The version of a KeyTransRecipientInfo identified by issuerAndSerialNumber.
pub(crate) const KTRI_VERSION: u8 = 0;
/// The version of a KeyTransRecipientInfo identified by subjectKeyIdentifier.
pub(crate) const KTRI_SKI_VERSION: u8 = 2;
/// The version of every KeyAgreeRecipientInfo.
pub(crate) const KARI_VERSION: u8 = 3;

/// ContentInfo, as read: the content is decoded once its type is known.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct ContentInfo<'a> {
    pub(crate) content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(crate) content: AnyRef<'a>,
}

/// ContentInfo, as written.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct AuthEnvelopedContentInfo<'a> {
    pub(crate) content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(crate) content: AuthEnvelopedData<'a>,
}

/// AuthEnvelopedData (RFC 5083 §2.1). Attributes are kept undecoded: the authenticated ones are
/// the AEAD's associated data, the others (and originatorInfo) are ignored.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct AuthEnvelopedData<'a> {
    pub(crate) version: u8,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    pub(crate) originator_info: Option<Undecoded<'a>>,
    pub(crate) recipient_infos: SetOf<'a>,
    pub(crate) auth_encrypted_content_info: EncryptedContentInfo<'a>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    pub(crate) auth_attrs: Option<Undecoded<'a>>,
    pub(crate) mac: &'a OctetStringRef,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    pub(crate) unauth_attrs: Option<Undecoded<'a>>,
}

/// EncryptedContentInfo (RFC 5652 §6.1).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct EncryptedContentInfo<'a> {
    pub(crate) content_type: ObjectIdentifier,
    pub(crate) content_encryption_algorithm: AlgorithmIdentifierRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) encrypted_content: Option<&'a OctetStringRef>,
}

/// GCMParameters (RFC 5084 §3.2).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct GcmParameters<'a> {
    pub(crate) nonce: &'a OctetStringRef,
    #[asn1(default = "default_icv_len")]
    pub(crate) icv_len: u8,
}

/// aes-ICVlen's DEFAULT.
fn default_icv_len() -> u8 {
    12
}

/// RecipientInfo (RFC 5652 §6.2): the two kinds used for certificates. The others (kekri, pwri,
/// ori) are skipped before this is decoded.
#[derive(Clone, Debug, Choice)]
pub(crate) enum RecipientInfo<'a> {
    Ktri(KeyTransRecipientInfo<'a>),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Kari(KeyAgreeRecipientInfo<'a>),
}

/// KeyTransRecipientInfo (RFC 5652 §6.2.1).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct KeyTransRecipientInfo<'a> {
    pub(crate) version: u8,
    pub(crate) rid: RecipientIdentifier<'a>,
    pub(crate) key_encryption_algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) encrypted_key: &'a OctetStringRef,
}

/// RecipientIdentifier (RFC 5652 §6.2.1).
#[derive(Clone, Debug, Choice)]
pub(crate) enum RecipientIdentifier<'a> {
    IssuerAndSerialNumber(IssuerAndSerialNumber<'a>),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(&'a OctetStringRef),
}

/// IssuerAndSerialNumber (RFC 5652 §10.2.4); the issuer is compared as DER.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct IssuerAndSerialNumber<'a> {
    pub(crate) issuer: AnyRef<'a>,
    pub(crate) serial_number: IntRef<'a>,
}

/// KeyAgreeRecipientInfo (RFC 5652 §6.2.2).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct KeyAgreeRecipientInfo<'a> {
    pub(crate) version: u8,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(crate) originator: OriginatorIdentifierOrKey<'a>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) ukm: Option<&'a OctetStringRef>,
    pub(crate) key_encryption_algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) recipient_encrypted_keys: Elements<'a, false>,
}

/// OriginatorIdentifierOrKey (RFC 5652 §6.2.2); RFC 5753 allows only the key.
#[derive(Clone, Debug, Choice)]
pub(crate) enum OriginatorIdentifierOrKey<'a> {
    IssuerAndSerialNumber(IssuerAndSerialNumber<'a>),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(&'a OctetStringRef),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    OriginatorKey(OriginatorPublicKey<'a>),
}

/// OriginatorPublicKey: the sender's ephemeral public key.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct OriginatorPublicKey<'a> {
    pub(crate) algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) public_key: BitStringRef<'a>,
}

/// RecipientEncryptedKey (RFC 5652 §6.2.2).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct RecipientEncryptedKey<'a> {
    pub(crate) rid: KeyAgreeRecipientIdentifier<'a>,
    pub(crate) encrypted_key: &'a OctetStringRef,
}

/// KeyAgreeRecipientIdentifier (RFC 5652 §6.2.2).
#[derive(Clone, Debug, Choice)]
pub(crate) enum KeyAgreeRecipientIdentifier<'a> {
    IssuerAndSerialNumber(IssuerAndSerialNumber<'a>),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    RKeyId(RecipientKeyIdentifier<'a>),
}

/// RecipientKeyIdentifier (RFC 5652 §6.2.2).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct RecipientKeyIdentifier<'a> {
    pub(crate) subject_key_identifier: &'a OctetStringRef,
    #[asn1(optional = "true")]
    pub(crate) date: Option<GeneralizedTime>,
    #[asn1(optional = "true")]
    pub(crate) other: Option<AnyRef<'a>>,
}

/// ECC-CMS-SharedInfo (RFC 5753 §7.2): the KDF's shared info.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct EccCmsSharedInfo<'a> {
    pub(crate) key_info: AlgorithmIdentifierRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) entity_u_info: Option<&'a OctetStringRef>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    pub(crate) supp_pub_info: &'a OctetStringRef,
}

/// RSAES-OAEP-params (RFC 8017 appendix A.2.1); an absent field is its DEFAULT (SHA-1, MGF1 with
/// SHA-1, an empty label).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct RsaesOaepParams<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) hash: Option<AlgorithmIdentifierRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) mask_gen: Option<AlgorithmIdentifierRef<'a>>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) p_source: Option<AlgorithmIdentifierRef<'a>>,
}

/// The elements of a SET OF (`SET = true`) or SEQUENCE OF, as DER slices decoded on demand. At
/// most [`MAX_RECIPIENTS`]` + 1` are kept while `count` counts them all, so a SET of millions of
/// tiny elements costs no memory before it is refused.
#[derive(Clone, Debug, Default)]
pub(crate) struct Elements<'a, const SET: bool> {
    items: Vec<&'a [u8]>,
    count: usize,
}

/// A SET OF, as [`Elements`].
pub(crate) type SetOf<'a> = Elements<'a, true>;

impl<'a, const SET: bool> Elements<'a, SET> {
    /// Elements from their DER encodings; a SET OF is sorted, as DER requires (X.690 §11.6).
    pub(crate) fn new(mut items: Vec<&'a [u8]>) -> Self {
        if SET {
            items.sort_unstable();
        }
        Self { count: items.len(), items }
    }

    /// How many elements the input had.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The DER encodings of the elements kept.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.items.iter().copied()
    }
}

impl<const SET: bool> FixedTag for Elements<'_, SET> {
    const TAG: Tag = if SET { Tag::Set } else { Tag::Sequence };
}

impl<'a, const SET: bool> DecodeValue<'a> for Elements<'a, SET> {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> der::Result<Self> {
        let mut elements = Self::default();
        while !reader.is_finished() {
            let tlv = reader.tlv_bytes()?;
            elements.count = elements.count.checked_add(1).ok_or(ErrorKind::Overflow)?;
            if elements.items.len() <= MAX_RECIPIENTS {
                elements.items.push(tlv);
            }
        }
        Ok(elements)
    }
}

impl<const SET: bool> EncodeValue for Elements<'_, SET> {
    fn value_len(&self) -> der::Result<Length> {
        self.items.iter().try_fold(Length::ZERO, |total, item| total + Length::try_from(item.len())?)
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.items.iter().try_for_each(|item| writer.write(item))
    }
}

/// The contents of an IMPLICITly tagged SET OF (or SEQUENCE), left undecoded. Encoded on its own,
/// it is a SET OF: what RFC 5083 §2.1 authenticates for authAttrs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Undecoded<'a>(&'a [u8]);

impl FixedTag for Undecoded<'_> {
    const TAG: Tag = Tag::Set;
}

impl<'a> DecodeValue<'a> for Undecoded<'a> {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        reader.read_slice(header.length()).map(Self)
    }
}

impl EncodeValue for Undecoded<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0)
    }
}
