//! SKELETON (issue 19, being replaced): the EN 16931 model of an issued
//! document and its CII and UBL serializations.

use crate::domain::credit_note::CreditNote;
use crate::domain::issued::Invoice;

use super::RenderError;

/// A document's two XML syntaxes.
pub struct Xml {
    pub cii: Vec<u8>,
    pub ubl: Vec<u8>,
}

pub fn invoice(invoice: &Invoice) -> Result<Xml, RenderError> {
    let number = invoice.number.as_deref().unwrap_or_default();
    Ok(Xml {
        cii: format!("<placeholder number=\"{number}\"/>").into_bytes(),
        ubl: format!("<placeholder number=\"{number}\"/>").into_bytes(),
    })
}

pub fn credit_note(note: &CreditNote) -> Result<Xml, RenderError> {
    Ok(Xml {
        cii: format!("<placeholder number=\"{}\"/>", note.number).into_bytes(),
        ubl: format!("<placeholder number=\"{}\"/>", note.number).into_bytes(),
    })
}
