//! The archival page writer: invoices and credit notes as PDF/A-3B, drawn
//! with krilla, which checks PDF/A conformance while it writes (fonts
//! embedded and subset, XMP metadata agreeing with the document
//! information, an sRGB output intent, a trailer `/ID`, the document's
//! language) and fails rather than write a file that is not.
//!
//! It offers what the invoice layout draws with ([`Canvas`]), so the layout
//! is written once for both writers; the consumption export keeps the
//! streaming [`PdfWriter`], which holds a million rows in flat memory where
//! krilla keeps the whole document until it finishes.
//!
//! The bytes depend on the input only: krilla derives the `/ID` and the XMP
//! instance id from hashes of the content, subset tags from the glyphs, and
//! the dates are the document's ([`DocumentInfo::created`]).

use std::sync::LazyLock;

use krilla::Document;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Data, SerializeSettings};
use time::OffsetDateTime;

use super::Lang;
use super::pdf::{Face, PdfWriter};

/// What the invoice layout draws with: text in the two DejaVu faces, thin
/// gray rules and gray boxes, page by page, in points from the bottom-left
/// corner. Implemented by this module's [`PdfA`] and by the streaming
/// [`PdfWriter`].
pub trait Canvas {
    /// Starts a new page, ending the current one if any.
    fn begin_page(&mut self);
    /// Text with its baseline-left at (x, y); control characters are not drawn.
    fn text(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str);
    /// A line in `gray` (0 black .. 1 white), `width` points thick.
    fn line_gray(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: f32);
    /// A filled rectangle with its bottom-left corner at (x, y), in `gray`.
    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, gray: f32);

    /// Width in points of `s` drawn at `size`, exactly as [`Canvas::text`] draws it.
    fn text_width(&self, size: f32, face: Face, s: &str) -> f32 {
        face.text_width(size, s)
    }

    /// Text that ends at x (amounts).
    fn text_right(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str) {
        let width = self.text_width(size, face, s);
        self.text(x - width, y, size, face, s);
    }
}

impl Canvas for PdfWriter {
    fn begin_page(&mut self) {
        PdfWriter::begin_page(self);
    }

    fn text(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str) {
        PdfWriter::text(self, x, y, size, face, s);
    }

    fn line_gray(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: f32) {
        PdfWriter::line_gray(self, x1, y1, x2, y2, width, gray);
    }

    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, gray: f32) {
        PdfWriter::fill_rect(self, x, y, w, h, gray);
    }
}

/// The two faces as krilla fonts, parsed once per process; a clone is a
/// reference count.
static FONTS: LazyLock<[Font; 2]> = LazyLock::new(|| {
    [Face::Regular, Face::Bold]
        .map(|face| Font::new(Data::from(face.file()), 0).expect("the embedded font parses"))
});

fn font(face: Face) -> Font {
    match face {
        Face::Regular => FONTS[0].clone(),
        Face::Bold => FONTS[1].clone(),
    }
}

/// U+FFFD, drawn for a character the faces lack: PDF/A forbids showing the
/// missing-glyph box (krilla refuses the file), and a visible mark beats a
/// silently dropped letter.
const REPLACEMENT: char = '\u{FFFD}';

/// The document information, written both to the `/Info` dictionary and to
/// the XMP metadata (PDF/A requires them to agree), and again by the
/// Factur-X embedding, which rewrites title, subject and author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// The document's kind and number: `Facture F-2026-000042`.
    pub title: String,
    /// One sentence: the kind, number, date and seller.
    pub subject: String,
    /// The seller.
    pub author: String,
    /// Creation and modification date: the document's own date, never the
    /// time of rendering, so the same document gives the same bytes.
    pub created: OffsetDateTime,
    pub lang: Lang,
}

/// A PDF/A-3B file and the information it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivalPdf {
    pub bytes: Vec<u8>,
    pub info: DocumentInfo,
}

/// Why krilla refused to write the file: one of its PDF/A checks failed (a
/// defect in the layout, since the faces and metadata are ours) or a font
/// could not be processed.
#[derive(Debug, thiserror::Error)]
#[error("the PDF/A writer refused the document: {0}")]
pub struct PdfAError(String);

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        face: Face,
        text: String,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
        gray: f32,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        gray: f32,
    },
}

/// Writes a PDF/A-3B document page by page. A krilla page borrows its
/// document, so each page's drawing is recorded and replayed into krilla
/// when the page ends.
pub struct PdfA {
    document: Document,
    width: f32,
    height: f32,
    ops: Vec<Op>,
    page_open: bool,
}

impl PdfA {
    /// A document whose pages are `width` x `height` points.
    pub fn new(width: f32, height: f32) -> Self {
        let configuration = ConfigurationBuilder::new()
            .with_archival_validator(Archival::A3_B)
            .finish()
            .expect("PDF/A-3B alone is a valid configuration");
        let settings = SerializeSettings {
            configuration,
            // Nothing is tagged at level B; skipping the bookkeeping saves time.
            enable_tagging: false,
            ..SerializeSettings::default()
        };
        Self {
            document: Document::new_with(settings),
            width,
            height,
            ops: Vec::with_capacity(256),
            page_open: false,
        }
    }

    fn ensure_page(&mut self) {
        if !self.page_open {
            self.begin_page();
        }
    }

    /// Replays the open page into krilla.
    fn end_page(&mut self) {
        if !self.page_open {
            return;
        }
        self.page_open = false;
        let settings =
            PageSettings::from_wh(self.width, self.height).expect("the page has a positive size");
        let mut page = self.document.start_page_with(settings);
        let mut surface = page.surface();
        let height = self.height;
        // krilla's origin is the top-left corner, y growing downwards.
        let point = |x: f32, y: f32| Point::from_xy(x, height - y);
        let mut glyphs = Vec::new();
        for op in self.ops.drain(..) {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    face,
                    text,
                } => {
                    glyphs.clear();
                    glyphs.extend(text.char_indices().filter(|(_, c)| !c.is_control()).map(
                        |(at, c)| {
                            let mut gid = face.glyph(c);
                            if gid == 0 {
                                gid = face.glyph(REPLACEMENT);
                            }
                            KrillaGlyph::new(
                                GlyphId::new(u32::from(gid)),
                                face.advance_em(gid),
                                0.0,
                                0.0,
                                0.0,
                                at..at + c.len_utf8(),
                                None,
                            )
                        },
                    ));
                    if glyphs.is_empty() {
                        continue;
                    }
                    surface.set_stroke(None);
                    surface.set_fill(Some(fill(0.0)));
                    surface.draw_glyphs(point(x, y), &glyphs, font(face), &text, size, false);
                }
                Op::Line {
                    from,
                    to,
                    width,
                    gray,
                } => {
                    let mut path = PathBuilder::new();
                    path.move_to(from.0, height - from.1);
                    path.line_to(to.0, height - to.1);
                    let Some(path) = path.finish() else { continue };
                    surface.set_fill(None);
                    surface.set_stroke(Some(Stroke {
                        paint: colour(gray).into(),
                        width,
                        ..Stroke::default()
                    }));
                    surface.draw_path(&path);
                }
                Op::Rect { x, y, w, h, gray } => {
                    let Some(rect) = Rect::from_xywh(x, height - y - h, w, h) else {
                        continue;
                    };
                    let mut path = PathBuilder::new();
                    path.push_rect(rect);
                    let Some(path) = path.finish() else { continue };
                    surface.set_stroke(None);
                    surface.set_fill(Some(fill(gray)));
                    surface.draw_path(&path);
                }
            }
        }
        surface.finish();
        page.finish();
    }

    /// Ends the open page (a document gets one blank page if it has none),
    /// sets the metadata and writes the file, checked against PDF/A-3B.
    pub fn finish(mut self, info: DocumentInfo) -> Result<ArchivalPdf, PdfAError> {
        self.ensure_page();
        self.end_page();
        let date = info.created.to_offset(time::UtcOffset::UTC);
        let created = DateTime::new(date.year().clamp(0, 9999) as u16)
            .month(u8::from(date.month()))
            .day(date.day())
            .hour(date.hour())
            .minute(date.minute())
            .second(date.second())
            .utc_offset_hour(0)
            .utc_offset_minute(0);
        self.document.set_metadata(
            Metadata::new()
                .title(info.title.clone())
                .description(info.subject.clone())
                .authors(vec![info.author.clone()])
                .creator("Comptoir".to_owned())
                .producer("Comptoir".to_owned())
                .language(info.lang.code().to_owned())
                .creation_date(created),
        );
        let bytes = self
            .document
            .finish()
            .map_err(|e| PdfAError(format!("{e:?}")))?;
        Ok(ArchivalPdf { bytes, info })
    }
}

impl Canvas for PdfA {
    fn begin_page(&mut self) {
        if self.page_open {
            self.end_page();
        }
        self.page_open = true;
    }

    fn text(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str) {
        self.ensure_page();
        self.ops.push(Op::Text {
            x,
            y,
            size,
            face,
            text: s.to_owned(),
        });
    }

    fn line_gray(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: f32) {
        self.ensure_page();
        self.ops.push(Op::Line {
            from: (x1, y1),
            to: (x2, y2),
            width,
            gray,
        });
    }

    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, gray: f32) {
        self.ensure_page();
        self.ops.push(Op::Rect { x, y, w, h, gray });
    }
}

/// A gray (0 black .. 1 white) in sRGB, the output intent's space, so the
/// file needs no second colour profile.
fn colour(gray: f32) -> rgb::Color {
    let v = (gray.clamp(0.0, 1.0) * 255.0).round() as u8;
    rgb::Color::new(v, v, v)
}

fn fill(gray: f32) -> Fill {
    Fill {
        paint: colour(gray).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// The text of a PDF in drawing order, one line per text operation:
/// `pdf_extract`'s own layout guess reads glyph widths from the CID font's
/// `/W` array and misreads its `first last width` form, which krilla writes,
/// as no widths at all, gluing lines together. This keeps its decoding
/// (ToUnicode) and trusts the drawing instead.
#[cfg(test)]
pub(crate) fn text_of(pdf: &[u8]) -> String {
    use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

    struct Lines(String);
    impl OutputDev for Lines {
        fn begin_page(
            &mut self,
            _: u32,
            _: &MediaBox,
            _: Option<(f64, f64, f64, f64)>,
        ) -> Result<(), OutputError> {
            self.0.push('\n');
            Ok(())
        }
        fn end_page(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
        fn output_character(
            &mut self,
            _: &Transform,
            _: f64,
            _: f64,
            _: f64,
            c: &str,
        ) -> Result<(), OutputError> {
            self.0.push_str(c);
            Ok(())
        }
        fn begin_word(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
        fn end_word(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
        fn end_line(&mut self) -> Result<(), OutputError> {
            self.0.push('\n');
            Ok(())
        }
    }

    let doc = pdf_extract::Document::load_mem(pdf).expect("the PDF parses");
    let mut lines = Lines(String::new());
    pdf_extract::output_doc(&doc, &mut lines).expect("the text extracts");
    lines.0
}
