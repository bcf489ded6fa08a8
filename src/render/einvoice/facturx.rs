//! The Factur-X PDF: the readable PDF/A-3B with the document's CII
//! embedded as `factur-x.xml` (`/AFRelationship /Alternative`, in the
//! catalogue's `/AF` and its EmbeddedFiles tree) and the Factur-X XMP
//! extension schema (`fx:ConformanceLevel` `EN 16931`), by
//! `en16931_formats::zugferd::embed`: one incremental update appended to the
//! readable file, read back by the crate's own extractor before it is
//! returned.

use std::time::SystemTime;

use en16931::profiles::En16931;
use en16931::validation::profile::Validated;
use en16931_formats::zugferd::{self, EmbedOptions, Relationship};

use super::RenderError;
use crate::render::pdfa::ArchivalPdf;

/// Embeds the CII of `proof` into `readable`. Title, subject and author
/// stay the readable file's (the crate would write English ones of its
/// own), and the attachment is dated by the document, so the same document
/// gives the same bytes.
pub fn embed(readable: ArchivalPdf, proof: &Validated<En16931>) -> Result<Vec<u8>, RenderError> {
    let info = readable.info;
    let options = EmbedOptions {
        relationship: Relationship::Alternative,
        metadata: Some(zugferd::Metadata {
            title: info.title,
            subject: info.subject,
            author: info.author,
        }),
        modified: Some(SystemTime::from(info.created)),
    };
    zugferd::embed(&readable.bytes, proof, &options).map_err(|e| RenderError::Pdf(e.to_string()))
}

#[cfg(test)]
mod tests {
    use en16931::examples;
    use en16931::profiles::EN16931;
    use en16931_formats::zugferd::{Limits, extract};
    use lopdf::{Document, Object};
    use time::macros::datetime;

    use super::*;
    use crate::render::Lang;
    use crate::render::pdf::{A4_HEIGHT, A4_WIDTH, Face};
    use crate::render::pdfa::{Canvas, DocumentInfo, PdfA};

    fn proof() -> Validated<En16931> {
        let invoice = examples::for_profile(&EN16931).expect("a shipped profile");
        Validated::new(invoice).expect("the crate's example is valid")
    }

    fn readable() -> ArchivalPdf {
        let mut p = PdfA::new(A4_WIDTH, A4_HEIGHT);
        p.text(50.0, 780.0, 20.0, Face::Bold, "Facture n° F-2026-000042");
        p.text(50.0, 750.0, 10.0, Face::Regular, "Total TTC : 1 203,28 €");
        p.fill_rect(50.0, 700.0, 495.0, 14.0, 0.92);
        p.line_gray(50.0, 690.0, 545.0, 690.0, 0.5, 0.8);
        p.finish(DocumentInfo {
            title: "Facture F-2026-000042".to_owned(),
            subject: "Facture F-2026-000042 du 02/03/2026, émise par Comptoir SAS".to_owned(),
            author: "Comptoir SAS".to_owned(),
            created: datetime!(2026-03-02 0:00 UTC),
            lang: Lang::Fr,
        })
        .expect("krilla writes it")
    }

    fn catalog(doc: &Document) -> &lopdf::Dictionary {
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        doc.get_dictionary(root).unwrap()
    }

    #[test]
    fn the_factur_x_carries_the_cii_as_an_alternative_with_its_xmp_and_stays_pdf_a() {
        let pdf = embed(readable(), &proof()).expect("embeds");

        let got = extract(&pdf, &Limits::default()).expect("extracts");
        assert_eq!(got.filename, "factur-x.xml");
        assert_eq!(got.relationship.as_deref(), Some("Alternative"));
        assert!(got.divergence.is_empty(), "{:?}", got.divergence);
        assert_eq!(
            got.xml,
            en16931_formats::write(&proof(), en16931_formats::Syntax::Cii)
                .xml
                .into_bytes()
        );
        assert_eq!(got.xmp.pdfa_part.as_deref(), Some("3"));
        assert_eq!(got.xmp.pdfa_conformance.as_deref(), Some("B"));
        assert_eq!(got.xmp.conformance_level.as_deref(), Some("EN 16931"));
        assert_eq!(got.xmp.document_type.as_deref(), Some("INVOICE"));
        assert_eq!(got.xmp.document_filename.as_deref(), Some("factur-x.xml"));
        assert_eq!(got.xmp.version.as_deref(), Some("1.0"));

        let doc = Document::load_mem(&pdf).expect("lopdf reads it");
        let id = doc.trailer.get(b"ID").expect("a trailer /ID");
        assert_eq!(id.as_array().unwrap().len(), 2);
        let catalog = catalog(&doc);
        assert_eq!(catalog.get(b"AF").unwrap().as_array().unwrap().len(), 1);
        assert!(catalog.get(b"OutputIntents").is_ok(), "an output intent");
        assert_eq!(catalog.get(b"Lang").unwrap().as_str().unwrap(), b"fr");
        let meta = catalog.get(b"Metadata").unwrap().as_reference().unwrap();
        let meta = doc.get_object(meta).unwrap().as_stream().unwrap();
        assert!(!meta.dict.has(b"Filter"), "PDF/A wants the XMP unfiltered");
        let xmp = String::from_utf8(meta.content.clone()).unwrap();
        for needle in [
            "Facture F-2026-000042",
            "Comptoir SAS",
            "2026-03-02T00:00:00",
            "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
        ] {
            assert!(xmp.contains(needle), "the XMP lacks {needle}:\n{xmp}");
        }

        // Every font is embedded: one FontFile2 per face drawn.
        let descriptors: Vec<_> = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .filter(|d| d.get(b"Type").and_then(Object::as_name).ok() == Some(b"FontDescriptor"))
            .collect();
        assert_eq!(descriptors.len(), 2);
        assert!(descriptors.iter().all(|d| d.has(b"FontFile2")));
    }

    #[test]
    fn the_same_document_gives_the_same_bytes() {
        let first = embed(readable(), &proof()).unwrap();
        let second = embed(readable(), &proof()).unwrap();
        assert!(first == second, "two renderings differ");
    }
}
