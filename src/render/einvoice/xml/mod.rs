//! The EN 16931 model of an issued invoice, acompte invoice or credit note,
//! with the French CTC data, and its UN/CEFACT CII D16B and UBL 2.1 XML.
//!
//! The model is the `en16931` crate's (the semantic data model with its
//! business rules); `Validated::<En16931>` proves it passes the core rules
//! before `en16931_formats::write` serializes it, so no XML is written by
//! hand here. The French CTC data fits the model's own terms: BT-23 `S1`,
//! notes with subject codes PMT/PMD/AAB/TXD, SIREN as BT-30/BT-47 with
//! scheme 0002, directory addresses as BT-34/BT-49 with scheme 0225, the
//! VAT category and exemption reason per treatment, BT-113 for what was paid
//! before, BT-6/BT-111 for the VAT in euros, BG-3 for the invoice a credit
//! note or a reissue refers to. `tests/einvoice/validate.py` checks the
//! output against the Factur-X, EN 16931 and French `BR-FR` schematrons.

use en16931::profiles::En16931;
use en16931::validation::profile::Validated;
use en16931_formats::Syntax;

use crate::domain::credit_note::CreditNote;
use crate::domain::issued::Invoice;

use super::RenderError;

mod document;
mod parties;
#[cfg(test)]
mod tests;

/// A document's two XML syntaxes, and the validated model they were
/// written from (what `facturx::embed` embeds: `write(&proof, Cii)` gives
/// `cii` again, byte for byte).
pub struct Xml {
    pub cii: Vec<u8>,
    pub ubl: Vec<u8>,
    pub proof: Validated<En16931>,
}

/// An issued period, acompte (type 386) or reissued invoice (type 380).
pub fn invoice(invoice: &Invoice) -> Result<Xml, RenderError> {
    written(document::of_invoice(invoice)?.model()?)
}

/// An issued credit note (type 381), referring to its invoice (BT-25/BT-26).
pub fn credit_note(note: &CreditNote) -> Result<Xml, RenderError> {
    written(document::of_credit_note(note)?.model()?)
}

/// Proves `model` against the EN 16931 core rules and writes both syntaxes.
/// Anything a syntax could not carry is an error: the stored documents say
/// the same thing in both.
fn written(model: en16931::Invoice) -> Result<Xml, RenderError> {
    let proof = Validated::<En16931>::new(model)
        .map_err(|rejected| RenderError::Model(rejected.to_string()))?;
    let cii = syntax(&proof, Syntax::Cii)?;
    let ubl = syntax(&proof, Syntax::Ubl)?;
    Ok(Xml { cii, ubl, proof })
}

fn syntax(proof: &Validated<En16931>, syntax: Syntax) -> Result<Vec<u8>, RenderError> {
    let written = en16931_formats::write(proof, syntax);
    if !written.entries.is_empty() {
        let lost: Vec<String> = written.entries.iter().map(ToString::to_string).collect();
        return Err(RenderError::Model(format!(
            "{syntax} cannot carry: {}",
            lost.join("; ")
        )));
    }
    Ok(written.xml.into_bytes())
}
