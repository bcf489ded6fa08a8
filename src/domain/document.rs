//! Documents (Kbis, identity, contracts, ...): PDF, PNG or JPEG only, judged
//! from the bytes, at most 10 MiB.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ids::{AccountId, DocumentId};

pub const MAX_DOCUMENT_BYTES: u64 = 10 * 1024 * 1024;

/// The most a whole upload form may weigh: one document, its name and type,
/// and the form's framing. A larger request is refused (413) before anything
/// is written.
pub const MAX_UPLOAD_FORM_BYTES: u64 = MAX_DOCUMENT_BYTES + 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// Kbis.
    CompanyRegistration,
    Identity,
    /// Uploaded by staff only; a customer cannot delete it.
    Contract,
    IbanCertificate,
    PortabilityMandate,
    Other,
}

impl DocumentType {
    pub const ALL: [DocumentType; 6] = [
        DocumentType::CompanyRegistration,
        DocumentType::Identity,
        DocumentType::Contract,
        DocumentType::IbanCertificate,
        DocumentType::PortabilityMandate,
        DocumentType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::CompanyRegistration => "company_registration",
            DocumentType::Identity => "identity",
            DocumentType::Contract => "contract",
            DocumentType::IbanCertificate => "iban_certificate",
            DocumentType::PortabilityMandate => "portability_mandate",
            DocumentType::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// What the bytes are, whatever the file name or declared type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Pdf,
    Png,
    Jpeg,
}

impl ContentKind {
    /// Recognises a file from its first bytes (its magic number).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"%PDF-") {
            Some(ContentKind::Pdf)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ContentKind::Png)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ContentKind::Jpeg)
        } else {
            None
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ContentKind::Pdf => "application/pdf",
            ContentKind::Png => "image/png",
            ContentKind::Jpeg => "image/jpeg",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        [ContentKind::Pdf, ContentKind::Png, ContentKind::Jpeg]
            .into_iter()
            .find(|k| k.mime() == mime)
    }

    pub fn extension(self) -> &'static str {
        match self {
            ContentKind::Pdf => "pdf",
            ContentKind::Png => "png",
            ContentKind::Jpeg => "jpg",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: DocumentId,
    pub account_id: AccountId,
    pub name: String,
    pub doc_type: DocumentType,
    pub content: ContentKind,
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub uploaded_by: String,
    pub created_at: OffsetDateTime,
}

impl Document {
    /// A download file name: the document's name with the right extension,
    /// reduced to safe characters.
    pub fn file_name(&self) -> String {
        let stem: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "-_ ".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stem = stem.trim();
        let stem = if stem.is_empty() { "document" } else { stem };
        format!("{stem}.{}", self.content.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_from_their_bytes_not_their_name() {
        assert_eq!(ContentKind::sniff(b"%PDF-1.7\n..."), Some(ContentKind::Pdf));
        assert_eq!(
            ContentKind::sniff(b"\x89PNG\r\n\x1a\n\0\0"),
            Some(ContentKind::Png)
        );
        assert_eq!(
            ContentKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ContentKind::Jpeg)
        );
        for bytes in [
            &b"GIF89a"[..],
            b"PK\x03\x04",
            b"hello, I am a .pdf",
            b"",
            b"%PD",
        ] {
            assert_eq!(ContentKind::sniff(bytes), None);
        }
    }

    #[test]
    fn download_names_are_safe_and_carry_the_real_extension() {
        let doc = Document {
            id: DocumentId::generate(),
            account_id: AccountId::generate(),
            name: "Kbis 2026/../\"évil\"".into(),
            doc_type: DocumentType::CompanyRegistration,
            content: ContentKind::Pdf,
            size: 1,
            sha256: String::new(),
            uploaded_by: "u".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(doc.file_name(), "Kbis 2026_____évil_.pdf");
    }
}
