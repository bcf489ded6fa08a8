//! E-invoices (SPEC section 10, issue 19): each issued invoice, credit note
//! and acompte invoice rendered once as a Factur-X PDF (PDF/A-3B, the CII
//! embedded as `factur-x.xml`), its CII XML and a UBL 2.1 XML, all on the
//! EN 16931 profile with the French CTC data. The bytes are stored at
//! finalization and served as stored forever (`service::einvoices`).

use crate::domain::credit_note::CreditNote;
use crate::domain::issued::Invoice;

use super::Lang;

pub mod facturx;
pub mod xml;

/// The three renderings of one issued document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The Factur-X PDF: the readable document with the CII embedded.
    pub pdf: Vec<u8>,
    /// The UN/CEFACT CII XML (the same bytes as embedded in the PDF).
    pub cii: Vec<u8>,
    /// The UBL 2.1 XML.
    pub ubl: Vec<u8>,
}

/// Why a document could not be rendered: a bug or data the norm refuses,
/// never the buyer's fault; the finalization that asked fails whole.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the EN 16931 model: {0}")]
    Model(String),
    #[error("the PDF: {0}")]
    Pdf(String),
}

impl From<super::pdfa::PdfAError> for RenderError {
    fn from(e: super::pdfa::PdfAError) -> Self {
        RenderError::Pdf(e.to_string())
    }
}

/// An issued invoice (period or acompte) in the three formats.
pub fn invoice(invoice: &Invoice, lang: Lang) -> Result<Rendered, RenderError> {
    let xml = xml::invoice(invoice)?;
    let readable = super::invoice::pdf_a(invoice, lang)?;
    let pdf = facturx::embed(readable, &xml.proof)?;
    Ok(Rendered {
        pdf,
        cii: xml.cii,
        ubl: xml.ubl,
    })
}

/// An issued credit note in the three formats.
pub fn credit_note(note: &CreditNote, lang: Lang) -> Result<Rendered, RenderError> {
    let xml = xml::credit_note(note)?;
    let readable = super::credit_note::pdf_a(note, lang)?;
    let pdf = facturx::embed(readable, &xml.proof)?;
    Ok(Rendered {
        pdf,
        cii: xml.cii,
        ubl: xml.ubl,
    })
}
