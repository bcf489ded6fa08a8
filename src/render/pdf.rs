//! A streaming PDF writer with the DejaVu Sans faces embedded: each page's
//! bytes go out as soon as the page is finished, and the fonts (subset to the
//! glyphs used), page tree, catalog and xref only at the end, so memory stays
//! flat whatever the number of pages.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::LazyLock;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use time::OffsetDateTime;

/// A4 portrait, in points.
pub const A4_WIDTH: f32 = 595.28;
pub const A4_HEIGHT: f32 = 841.89;

// DejaVu Sans 2.37 without its TrueType hinting and with a short name
// table, by fontTools 4.68: `pyftsubset F.ttf --unicodes='*' --glyphs='*'
// --retain-gids --no-hinting --name-IDs=0,1,2,3,4,5,6 --layout-features='*'
// --notdef-outline`. Same glyphs, glyph ids, advances and character map;
// every PDF embeds a subset, and in the subset of an invoice's 60 glyphs the
// hinting programs and the name table's license text were three quarters of
// its 26 KB, deflated again for every document.
static REGULAR: LazyLock<FontData> = LazyLock::new(|| {
    FontData::parse(
        include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        "DejaVuSans",
        false,
    )
});
static BOLD: LazyLock<FontData> = LazyLock::new(|| {
    FontData::parse(
        include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf"),
        "DejaVuSans-Bold",
        true,
    )
});

const ELLIPSIS: &str = "…";

/// One of the two embedded faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    Regular,
    Bold,
}

impl Face {
    const ALL: [Face; 2] = [Face::Regular, Face::Bold];

    fn index(self) -> usize {
        match self {
            Face::Regular => 0,
            Face::Bold => 1,
        }
    }

    fn data(self) -> &'static FontData {
        match self {
            Face::Regular => &REGULAR,
            Face::Bold => &BOLD,
        }
    }

    /// The name in each page's `/Resources`.
    fn resource(self) -> &'static [u8] {
        match self {
            Face::Regular => b"/F1",
            Face::Bold => b"/F2",
        }
    }

    /// Width in points of `s` drawn at `size`: no kerning, control
    /// characters not drawn; the same for every writer of these faces.
    pub fn text_width(self, size: f32, s: &str) -> f32 {
        let font = self.data();
        font.units(s) as f32 * size / font.units_per_em
    }

    /// The font file, for a writer that embeds it itself (`render::pdfa`).
    pub(super) fn file(self) -> &'static [u8] {
        self.data().bytes
    }

    /// The glyph drawn for `c`; 0 (the missing-glyph box) when the face lacks it.
    pub(super) fn glyph(self, c: char) -> u16 {
        self.data().glyph(c)
    }

    /// The advance of glyph `gid`, in ems.
    pub(super) fn advance_em(self, gid: u16) -> f32 {
        let font = self.data();
        font.advance(gid) as f32 / font.units_per_em
    }
}

/// What the writer needs of a font file, read once per process.
struct FontData {
    bytes: &'static [u8],
    postscript_name: String,
    bold: bool,
    units_per_em: f32,
    ascender: i16,
    descender: i16,
    cap_height: i16,
    italic_angle: f32,
    bbox: [i16; 4],
    /// Glyph of every BMP code point (0 when the font lacks it): one index
    /// per character is what keeps 100,000-row exports fast.
    bmp: Box<[u16]>,
    astral: HashMap<u32, u16>,
    advances: Box<[u16]>,
}

impl FontData {
    fn parse(bytes: &'static [u8], fallback_name: &str, bold: bool) -> Self {
        let face = ttf_parser::Face::parse(bytes, 0).expect("the embedded font parses");
        let mut bmp = vec![0u16; 0x1_0000].into_boxed_slice();
        let mut astral = HashMap::new();
        if let Some(cmap) = face.tables().cmap {
            for sub in cmap.subtables {
                if !sub.is_unicode() {
                    continue;
                }
                sub.codepoints(|cp| {
                    let Some(gid) = sub.glyph_index(cp) else {
                        return;
                    };
                    // The first subtable wins, as in a reader's lookup.
                    match bmp.get_mut(cp as usize) {
                        Some(slot) if *slot == 0 => *slot = gid.0,
                        Some(_) => {}
                        None => {
                            astral.entry(cp).or_insert(gid.0);
                        }
                    }
                });
            }
        }
        let advances = (0..face.number_of_glyphs())
            .map(|g| face.glyph_hor_advance(ttf_parser::GlyphId(g)).unwrap_or(0))
            .collect();
        let postscript_name = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .unwrap_or_else(|| fallback_name.to_owned());
        let bbox = face.global_bounding_box();
        Self {
            bytes,
            postscript_name,
            bold,
            units_per_em: f32::from(face.units_per_em()),
            ascender: face.ascender(),
            descender: face.descender(),
            cap_height: face.capital_height().unwrap_or(face.ascender()),
            italic_angle: face.italic_angle(),
            bbox: [bbox.x_min, bbox.y_min, bbox.x_max, bbox.y_max],
            bmp,
            astral,
            advances,
        }
    }

    #[inline]
    fn glyph(&self, c: char) -> u16 {
        let cp = c as u32;
        match self.bmp.get(cp as usize) {
            Some(gid) => *gid,
            None => self.astral.get(&cp).copied().unwrap_or(0),
        }
    }

    #[inline]
    fn advance(&self, gid: u16) -> u32 {
        self.advances
            .get(usize::from(gid))
            .copied()
            .map_or(0, u32::from)
    }

    /// Width in font units; control characters are not drawn (see [`PdfWriter::text`]).
    fn units(&self, s: &str) -> u32 {
        s.chars()
            .filter(|c| !c.is_control())
            .map(|c| self.advance(self.glyph(c)))
            .sum()
    }

    /// Font units to PDF glyph space (thousandths of the font size).
    fn to_glyph_space(&self, units: f32) -> i32 {
        (units * 1000.0 / self.units_per_em).round() as i32
    }
}

/// The glyphs of one face that the document uses, numbered in order of first
/// use: these numbers are both the CIDs written in content streams and the
/// glyph ids of the subset font.
struct UsedGlyphs {
    /// New id per original glyph id; 0 means not used yet (glyph 0 is always 0).
    new_of_old: Vec<u16>,
    old_of_new: Vec<u16>,
    /// The character each new id was first drawn for, for the ToUnicode CMap.
    char_of_new: Vec<char>,
}

impl UsedGlyphs {
    fn new(glyph_count: usize) -> Self {
        Self {
            new_of_old: vec![0; glyph_count],
            old_of_new: vec![0],
            char_of_new: vec!['\0'],
        }
    }

    #[inline]
    fn cid(&mut self, old: u16, c: char) -> u16 {
        let Some(slot) = self.new_of_old.get_mut(usize::from(old)) else {
            return 0;
        };
        if old != 0 && *slot == 0 {
            // Never overflows: there are at most as many new ids as glyphs in the font.
            *slot = self.old_of_new.len() as u16;
            self.old_of_new.push(old);
            self.char_of_new.push(c);
        }
        *slot
    }
}

/// The output buffer and what the xref needs to know about it.
struct Sink {
    out: Vec<u8>,
    /// Bytes already handed out by `take_output`.
    flushed: u64,
    /// Byte offset of each object, indexed by object number (0 is the free head).
    offsets: Vec<u64>,
}

impl Sink {
    fn position(&self) -> u64 {
        self.flushed + self.out.len() as u64
    }

    fn reserve(&mut self) -> u32 {
        self.offsets.push(0);
        (self.offsets.len() - 1) as u32
    }

    fn put(&mut self, args: fmt::Arguments<'_>) {
        self.out
            .write_fmt(args)
            .expect("writing to a Vec cannot fail");
    }

    fn begin(&mut self, id: u32) {
        self.offsets[id as usize] = self.position();
        self.put(format_args!("{id} 0 obj\n"));
    }

    fn end(&mut self) {
        self.out.extend_from_slice(b"\nendobj\n");
    }

    fn object(&mut self, id: u32, body: fmt::Arguments<'_>) {
        self.begin(id);
        self.put(body);
        self.end();
    }

    /// A stream object; `extra` goes in its dictionary beside `/Length`.
    fn stream(&mut self, id: u32, extra: &str, data: &[u8]) {
        self.begin(id);
        self.put(format_args!(
            "<< /Length {}{extra} >>\nstream\n",
            data.len()
        ));
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream");
        self.end();
    }
}

fn deflate(data: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
    encoder
        .write_all(data)
        .expect("compressing into a Vec cannot fail");
    encoder
        .finish()
        .expect("compressing into a Vec cannot fail")
}

/// Writes a PDF page by page; see the module documentation.
pub struct PdfWriter {
    width: f32,
    height: f32,
    sink: Sink,
    pages_id: u32,
    font_ids: [u32; 2],
    page_ids: Vec<u32>,
    page_open: bool,
    /// The current page's content stream, uncompressed; reused across pages.
    content: Vec<u8>,
    /// The font and size last set on this page, so runs of cells skip `Tf`.
    current_font: Option<(Face, u32)>,
    used: [UsedGlyphs; 2],
    /// Kept across pages: a deflate state is large to set up.
    encoder: ZlibEncoder<Vec<u8>>,
}

impl PdfWriter {
    /// A document whose pages are `width` x `height` points (A4 portrait is
    /// [`A4_WIDTH`] x [`A4_HEIGHT`]).
    pub fn new(width: f32, height: f32) -> Self {
        let mut sink = Sink {
            // The binary comment tells transfer tools the file is not text.
            out: b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            flushed: 0,
            offsets: vec![0],
        };
        // Reserved now because every page refers to them, written at the end.
        let pages_id = sink.reserve();
        let font_ids = [sink.reserve(), sink.reserve()];
        Self {
            width,
            height,
            sink,
            pages_id,
            font_ids,
            page_ids: Vec::new(),
            page_open: false,
            content: Vec::with_capacity(32 * 1024),
            current_font: None,
            used: Face::ALL.map(|f| UsedGlyphs::new(f.data().advances.len())),
            encoder: ZlibEncoder::new(Vec::new(), Compression::fast()),
        }
    }

    pub fn page_width(&self) -> f32 {
        self.width
    }

    pub fn page_height(&self) -> f32 {
        self.height
    }

    /// Number of pages begun so far.
    pub fn page_count(&self) -> usize {
        self.page_ids.len() + usize::from(self.page_open)
    }

    /// Starts a new page, ending the current one if any.
    pub fn begin_page(&mut self) {
        if self.page_open {
            self.end_page();
        }
        self.page_open = true;
        self.content.clear();
        self.current_font = None;
    }

    fn ensure_page(&mut self) {
        if !self.page_open {
            self.begin_page();
        }
    }

    /// Text with its baseline-left at (x, y) in points from the bottom-left
    /// corner. Characters the font lacks show as its missing-glyph box;
    /// control characters (newlines, tabs) are not drawn. Starts a page if
    /// none is open.
    pub fn text(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str) {
        self.ensure_page();
        if s.chars().all(char::is_control) {
            return;
        }
        let font = face.data();
        let used = &mut self.used[face.index()];
        let c = &mut self.content;
        c.extend_from_slice(b"BT ");
        if self.current_font != Some((face, size.to_bits())) {
            self.current_font = Some((face, size.to_bits()));
            c.extend_from_slice(face.resource());
            c.push(b' ');
            push_num(c, size);
            c.extend_from_slice(b" Tf ");
        }
        push_num(c, x);
        c.push(b' ');
        push_num(c, y);
        c.extend_from_slice(b" Td <");
        for ch in s.chars().filter(|c| !c.is_control()) {
            push_hex4(c, used.cid(font.glyph(ch), ch));
        }
        c.extend_from_slice(b"> Tj ET\n");
    }

    /// Same as [`PdfWriter::text`], right-aligned so the text ends at x (for amounts).
    pub fn text_right(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str) {
        let width = self.text_width(size, face, s);
        self.text(x - width, y, size, face, s);
    }

    /// Same as [`PdfWriter::text`], centred on x.
    pub fn text_center(&mut self, x: f32, y: f32, size: f32, face: Face, s: &str) {
        let width = self.text_width(size, face, s);
        self.text(x - width / 2.0, y, size, face, s);
    }

    /// Width in points of `s` drawn at `size` (no kerning is applied when drawing either).
    pub fn text_width(&self, size: f32, face: Face, s: &str) -> f32 {
        face.text_width(size, s)
    }

    /// Height above the baseline of capital letters, in points, to centre text vertically.
    pub fn cap_height(&self, size: f32, face: Face) -> f32 {
        let font = face.data();
        f32::from(font.cap_height) * size / font.units_per_em
    }

    /// `s` itself if it fits in `max_width`, else its longest prefix that fits
    /// followed by "…" (empty if not even the ellipsis fits).
    pub fn fit<'a>(&self, size: f32, face: Face, s: &'a str, max_width: f32) -> Cow<'a, str> {
        let font = face.data();
        let scale = size / font.units_per_em;
        // Tolerates float noise when a caller passes a width it computed itself.
        let max_units = (max_width + 0.001) / scale;
        if font.units(s) as f32 <= max_units {
            return Cow::Borrowed(s);
        }
        let budget = max_units - font.units(ELLIPSIS) as f32;
        if budget < 0.0 {
            return Cow::Borrowed("");
        }
        let mut width = 0u32;
        let mut end = 0;
        for (i, ch) in s.char_indices() {
            if !ch.is_control() {
                width += font.advance(font.glyph(ch));
            }
            if width as f32 > budget {
                break;
            }
            end = i + ch.len_utf8();
        }
        let kept = s[..end].trim_end();
        let mut out = String::with_capacity(kept.len() + ELLIPSIS.len());
        out.push_str(kept);
        out.push_str(ELLIPSIS);
        Cow::Owned(out)
    }

    /// A black line `width` points thick.
    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        self.line_gray(x1, y1, x2, y2, width, 0.0);
    }

    /// A line in `gray` (0 black .. 1 white).
    pub fn line_gray(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: f32) {
        self.ensure_page();
        let c = &mut self.content;
        // q/Q keep the colour and width from leaking into later text.
        c.extend_from_slice(b"q ");
        push_num(c, gray.clamp(0.0, 1.0));
        c.extend_from_slice(b" G ");
        push_num(c, width);
        c.extend_from_slice(b" w ");
        push_num(c, x1);
        c.push(b' ');
        push_num(c, y1);
        c.extend_from_slice(b" m ");
        push_num(c, x2);
        c.push(b' ');
        push_num(c, y2);
        c.extend_from_slice(b" l S Q\n");
    }

    /// A filled rectangle with its bottom-left corner at (x, y), in `gray`
    /// (0 black .. 1 white).
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, gray: f32) {
        self.ensure_page();
        let c = &mut self.content;
        c.extend_from_slice(b"q ");
        push_num(c, gray.clamp(0.0, 1.0));
        c.extend_from_slice(b" g ");
        push_num(c, x);
        c.push(b' ');
        push_num(c, y);
        c.push(b' ');
        push_num(c, w);
        c.push(b' ');
        push_num(c, h);
        c.extend_from_slice(b" re f Q\n");
    }

    /// Compresses the page's content stream and appends it and the page
    /// object to the output. Does nothing if no page is open.
    pub fn end_page(&mut self) {
        if !self.page_open {
            return;
        }
        self.page_open = false;
        self.encoder
            .write_all(&self.content)
            .expect("compressing into a Vec cannot fail");
        // `reset` finishes the zlib stream and hands back its buffer.
        let compressed = self
            .encoder
            .reset(Vec::new())
            .expect("compressing into a Vec cannot fail");
        let content_id = self.sink.reserve();
        self.sink
            .stream(content_id, " /Filter /FlateDecode", &compressed);
        let page_id = self.sink.reserve();
        let [f1, f2] = self.font_ids;
        self.sink.object(
            page_id,
            format_args!(
                "<< /Type /Page /Parent {} 0 R /MediaBox [0 0 {} {}] \
                 /Resources << /Font << /F1 {f1} 0 R /F2 {f2} 0 R >> >> /Contents {content_id} 0 R >>",
                self.pages_id,
                Num(self.width),
                Num(self.height),
            ),
        );
        self.page_ids.push(page_id);
    }

    /// Bytes produced since the last call, for the caller to send as a chunk.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = std::mem::take(&mut self.sink.out);
        self.sink.flushed += out.len() as u64;
        out
    }

    /// Ends the open page if any (a document gets one blank page if it has
    /// none), writes the fonts, page tree, catalog, `/Info`, xref and trailer,
    /// and returns the bytes not yet taken.
    pub fn finish(mut self, title: &str, created: OffsetDateTime) -> Vec<u8> {
        if self.page_open || self.page_ids.is_empty() {
            self.ensure_page();
            self.end_page();
        }
        for face in Face::ALL {
            write_font(
                &mut self.sink,
                self.font_ids[face.index()],
                face.data(),
                &self.used[face.index()],
            );
        }

        let sink = &mut self.sink;
        sink.begin(self.pages_id);
        sink.put(format_args!(
            "<< /Type /Pages /Count {} /Kids [",
            self.page_ids.len()
        ));
        for (i, id) in self.page_ids.iter().enumerate() {
            // Keeps lines short, as the format recommends.
            let sep = if i % 16 == 0 { "\n" } else { " " };
            sink.put(format_args!("{sep}{id} 0 R"));
        }
        sink.put(format_args!("\n] >>"));
        sink.end();

        let catalog = sink.reserve();
        sink.object(
            catalog,
            format_args!("<< /Type /Catalog /Pages {} 0 R >>", self.pages_id),
        );
        let info = sink.reserve();
        let date = PdfDate(created);
        sink.object(
            info,
            format_args!(
                "<< /Title {} /Producer (Comptoir) /CreationDate {date} /ModDate {date} >>",
                TextString(title)
            ),
        );

        let xref = sink.position();
        sink.put(format_args!(
            "xref\n0 {}\n0000000000 65535 f \n",
            sink.offsets.len()
        ));
        for i in 1..sink.offsets.len() {
            let offset = sink.offsets[i];
            sink.put(format_args!("{offset:010} 00000 n \n"));
        }
        sink.put(format_args!(
            "trailer\n<< /Size {} /Root {catalog} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            sink.offsets.len()
        ));
        std::mem::take(&mut sink.out)
    }
}

/// Writes the Type0 font `type0_id` and the objects it refers to.
fn write_font(sink: &mut Sink, type0_id: u32, font: &FontData, used: &UsedGlyphs) {
    let remapper = subsetter::GlyphRemapper::new_from_glyphs(&used.old_of_new[1..]);
    // Should the subsetter ever fail, the whole font still renders, with an
    // explicit CID-to-glyph map instead of the identity.
    let (program, name) = match subsetter::subset(font.bytes, 0, &remapper) {
        Ok(subset) => (
            Cow::Owned(subset),
            format!("{}+{}", subset_tag(&used.old_of_new), font.postscript_name),
        ),
        Err(error) => {
            tracing::warn!(%error, font = %font.postscript_name, "font subsetting failed, embedding the whole font");
            (Cow::Borrowed(font.bytes), font.postscript_name.clone())
        }
    };
    let full_font = matches!(program, Cow::Borrowed(_));

    let cid_font = sink.reserve();
    let descriptor = sink.reserve();
    let file = sink.reserve();
    let to_unicode = sink.reserve();
    let cid_to_gid = if full_font {
        Some(sink.reserve())
    } else {
        None
    };

    sink.object(
        type0_id,
        format_args!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
             /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>"
        ),
    );

    sink.begin(cid_font);
    sink.put(format_args!(
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
         /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
         /FontDescriptor {descriptor} 0 R /DW 1000 /W [0 ["
    ));
    for (i, old) in used.old_of_new.iter().enumerate() {
        let sep = if i % 16 == 0 { "\n" } else { " " };
        let width = font.to_glyph_space(font.advance(*old) as f32);
        sink.put(format_args!("{sep}{width}"));
    }
    sink.put(format_args!("\n]] /CIDToGIDMap "));
    match cid_to_gid {
        Some(id) => sink.put(format_args!("{id} 0 R >>")),
        None => sink.put(format_args!("/Identity >>")),
    }
    sink.end();

    let scale = |v: i16| font.to_glyph_space(f32::from(v));
    let [x0, y0, x1, y1] = font.bbox.map(scale);
    // Flags 32: non-symbolic, the glyphs are Latin text.
    sink.object(
        descriptor,
        format_args!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags 32 /FontBBox [{x0} {y0} {x1} {y1}] \
             /ItalicAngle {} /Ascent {} /Descent {} /CapHeight {} /StemV {} /FontWeight {} \
             /FontFile2 {file} 0 R >>",
            Num(font.italic_angle),
            scale(font.ascender),
            scale(font.descender),
            scale(font.cap_height),
            if font.bold { 140 } else { 80 },
            if font.bold { 700 } else { 400 },
        ),
    );

    let compressed = deflate(&program, Compression::default());
    sink.stream(
        file,
        &format!(" /Length1 {} /Filter /FlateDecode", program.len()),
        &compressed,
    );

    let cmap = to_unicode_cmap(&used.char_of_new);
    sink.stream(
        to_unicode,
        " /Filter /FlateDecode",
        &deflate(cmap.as_bytes(), Compression::default()),
    );

    if let Some(id) = cid_to_gid {
        let map: Vec<u8> = used
            .old_of_new
            .iter()
            .flat_map(|g| g.to_be_bytes())
            .collect();
        sink.stream(
            id,
            " /Filter /FlateDecode",
            &deflate(&map, Compression::default()),
        );
    }
}

/// The six capital letters that prefix a subset font's name; derived from
/// the glyph set so the same document always gives the same bytes.
fn subset_tag(glyphs: &[u16]) -> String {
    // FNV-1a: any stable hash does, this one needs no dependency.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for g in glyphs {
        for b in g.to_be_bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (0..6)
        .map(|_| {
            let letter = b'A' + (hash % 26) as u8;
            hash /= 26;
            char::from(letter)
        })
        .collect()
}

/// The ToUnicode CMap that makes the text extractable: each CID to the
/// character it was first drawn for.
fn to_unicode_cmap(chars: &[char]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let mapped: Vec<(usize, char)> = chars
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| *c != '\0')
        .collect();
    // The format allows at most 100 entries per block.
    for block in mapped.chunks(100) {
        let _ = writeln!(s, "{} beginbfchar", block.len());
        for (cid, c) in block {
            let _ = write!(s, "<{cid:04X}> <");
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(s, "{unit:04X}");
            }
            s.push_str(">\n");
        }
        s.push_str("endbfchar\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[inline]
fn push_hex4(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&[
        HEX[usize::from(v >> 12)],
        HEX[usize::from((v >> 8) & 0xF)],
        HEX[usize::from((v >> 4) & 0xF)],
        HEX[usize::from(v & 0xF)],
    ]);
}

/// Writes `v` with at most two decimals, the precision of a hundredth of a
/// point that no one sees, without going through `fmt` (hot path).
#[inline]
fn push_num(buf: &mut Vec<u8>, v: f32) {
    let v = if v.is_finite() { v } else { 0.0 };
    let mut hundredths = (f64::from(v) * 100.0).round() as i64;
    if hundredths < 0 {
        buf.push(b'-');
        hundredths = -hundredths;
    }
    let (int, frac) = (hundredths / 100, hundredths % 100);
    let mut digits = [0u8; 20];
    let mut n = int as u64;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
    if frac != 0 {
        buf.push(b'.');
        buf.push(b'0' + (frac / 10) as u8);
        if frac % 10 != 0 {
            buf.push(b'0' + (frac % 10) as u8);
        }
    }
}

/// A number as [`push_num`] writes it, for `format_args!`.
struct Num(f32);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(16);
        push_num(&mut buf, self.0);
        // push_num writes only ASCII digits, '-' and '.'.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

/// A PDF text string: UTF-16BE with a byte-order mark, as a hex string, so
/// any title needs no escaping.
struct TextString<'a>(&'a str);

impl fmt::Display for TextString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<FEFF")?;
        for unit in self.0.encode_utf16() {
            write!(f, "{unit:04X}")?;
        }
        f.write_str(">")
    }
}

/// A PDF date, `(D:YYYYMMDDHHmmSS+HH'mm')`.
struct PdfDate(OffsetDateTime);

impl fmt::Display for PdfDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "(D:{:04}{:02}{:02}{:02}{:02}{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )?;
        let offset = d.offset();
        if offset.is_utc() {
            f.write_str("Z)")
        } else {
            let sign = if offset.is_negative() { '-' } else { '+' };
            write!(
                f,
                "{sign}{:02}'{:02}')",
                offset.whole_hours().unsigned_abs(),
                offset.minutes_past_hour().unsigned_abs()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const CREATED: OffsetDateTime = datetime!(2026-01-15 10:30:00 +01:00);

    fn normalise(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn extract(pdf: &[u8]) -> String {
        normalise(&pdf_extract::extract_text_from_mem(pdf).expect("text extracts"))
    }

    /// A document the way the exports build one: chunks taken page by page.
    fn three_pages() -> (Vec<u8>, Vec<usize>) {
        let mut pdf = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
        let mut bytes = pdf.take_output();
        let mut chunk_sizes = Vec::new();
        for page in 1..=3 {
            pdf.begin_page();
            pdf.fill_rect(40.0, 780.0, 515.28, 20.0, 0.9);
            pdf.text(
                40.0,
                800.0,
                14.0,
                Face::Bold,
                "Facture n° F-2026-000001 — Total : 1 203,28 €",
            );
            pdf.text(40.0, 760.0, 10.0, Face::Regular, "Été à Besançon");
            pdf.text(
                40.0,
                740.0,
                10.0,
                Face::Regular,
                "L’hôtel de Çà et là… ÉCOLE garçon",
            );
            pdf.line(40.0, 730.0, 555.28, 730.0, 0.5);
            pdf.text_right(
                555.28,
                30.0,
                8.0,
                Face::Regular,
                &format!("Page {page} / 3"),
            );
            pdf.end_page();
            let chunk = pdf.take_output();
            chunk_sizes.push(chunk.len());
            bytes.extend(chunk);
        }
        bytes.extend(pdf.finish("Relevé de factures — Comptoir", CREATED));
        (bytes, chunk_sizes)
    }

    #[test]
    fn text_with_accents_and_euro_extracts_back() {
        let (pdf, _) = three_pages();
        let text = extract(&pdf);
        for expected in [
            "Facture n° F-2026-000001 — Total : 1 203,28 €",
            "Été à Besançon",
            "L’hôtel de Çà et là… ÉCOLE garçon",
            "Page 1 / 3",
            "Page 2 / 3",
            "Page 3 / 3",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} not found in {text:?}"
            );
        }
    }

    #[test]
    fn output_is_a_well_formed_pdf_with_correct_xref_offsets() {
        let (pdf, _) = three_pages();
        assert!(pdf.starts_with(b"%PDF-1.7\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));

        // Everything from the last stream on is ASCII; the xref offsets are bytes.
        let tail_start = pdf.len() - 64;
        let tail = std::str::from_utf8(&pdf[tail_start..]).expect("an ASCII trailer");
        let startxref = tail.rfind("startxref\n").expect("startxref");
        let xref: usize = tail[startxref + 10..]
            .lines()
            .next()
            .and_then(|l| l.parse().ok())
            .expect("xref offset");
        let table = std::str::from_utf8(&pdf[xref..]).expect("an ASCII xref");
        assert!(table.starts_with("xref\n0 "));
        let mut lines = table.lines().skip(1);
        let count: usize = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|n| n.parse().ok())
            .expect("xref count");
        assert!(count > 10);
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        for id in 1..count {
            let entry = lines.next().expect("xref entry");
            assert_eq!(entry.len(), 19, "{entry:?}");
            let offset: usize = entry[..10].parse().expect("offset");
            let header = format!("{id} 0 obj\n");
            assert!(
                pdf[offset..].starts_with(header.as_bytes()),
                "object {id} is not at {offset}"
            );
        }

        let doc = pdf_extract::Document::load_mem(&pdf).expect("lopdf loads the document");
        assert_eq!(doc.get_pages().len(), 3);
        let info = doc.trailer.get(b"Info").expect("an /Info");
        let info = doc
            .get_dictionary(info.as_reference().expect("a reference"))
            .expect("the /Info dictionary");
        assert_eq!(
            info.get(b"CreationDate").and_then(|d| d.as_str()).ok(),
            Some(&b"D:20260115103000+01'00'"[..])
        );
        assert_eq!(
            info.get(b"Producer").and_then(|d| d.as_str()).ok(),
            Some(&b"Comptoir"[..])
        );
    }

    #[test]
    fn each_page_is_emitted_as_soon_as_it_ends() {
        let (_, chunk_sizes) = three_pages();
        assert_eq!(chunk_sizes.len(), 3);
        for size in chunk_sizes {
            // A content stream and a page object, not a whole document.
            assert!(size > 100 && size < 4_000, "chunk of {size} bytes");
        }
    }

    #[test]
    fn fonts_are_subset_to_the_glyphs_used() {
        let (pdf, _) = three_pages();
        // The two faces are 1.4 MB; their subsets for a few dozen glyphs are tiny.
        assert!(pdf.len() < 60_000, "{} bytes", pdf.len());
    }

    #[test]
    fn text_width_of_nothing_is_zero_and_grows_with_length() {
        let pdf = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
        assert_eq!(pdf.text_width(10.0, Face::Regular, ""), 0.0);
        let one = pdf.text_width(10.0, Face::Regular, "1");
        let two = pdf.text_width(10.0, Face::Regular, "12");
        assert!(one > 0.0 && two > one);
        assert!((two - 2.0 * one).abs() < 1e-4, "digits are tabular");
        assert!(
            pdf.text_width(10.0, Face::Bold, "Total")
                > pdf.text_width(10.0, Face::Regular, "Total")
        );
        assert!(
            (pdf.text_width(20.0, Face::Regular, "abc")
                - 2.0 * pdf.text_width(10.0, Face::Regular, "abc"))
            .abs()
                < 1e-4
        );
    }

    #[test]
    fn fit_keeps_what_fits_and_cuts_the_rest_with_an_ellipsis() {
        let pdf = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
        let short = "Besançon";
        let width = pdf.text_width(9.0, Face::Regular, short);
        assert!(
            matches!(pdf.fit(9.0, Face::Regular, short, width), Cow::Borrowed(s) if s == short)
        );

        let long = "Société Générale des Téléphones de Besançon";
        let cut = pdf.fit(9.0, Face::Regular, long, 60.0);
        assert!(cut.ends_with('…'), "{cut:?}");
        assert!(pdf.text_width(9.0, Face::Regular, &cut) <= 60.0);
        let kept = cut.trim_end_matches('…');
        assert!(long.starts_with(kept) && !kept.ends_with(' '), "{cut:?}");

        assert_eq!(pdf.fit(9.0, Face::Regular, long, 1.0), "");
    }

    #[test]
    fn characters_missing_from_the_font_do_not_panic() {
        let mut pdf = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
        let odd = "漢字 🦀 \u{10FFFF} tab\tnew\nline";
        assert!(pdf.text_width(10.0, Face::Regular, odd) > 0.0);
        pdf.text(10.0, 10.0, 10.0, Face::Regular, odd);
        pdf.text_right(100.0, 10.0, 10.0, Face::Bold, odd);
        let _ = pdf.fit(10.0, Face::Regular, odd, 20.0);
        let bytes = pdf.finish("漢字", CREATED);
        assert!(bytes.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn a_document_without_pages_still_has_one() {
        let mut pdf = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
        let mut bytes = pdf.take_output();
        bytes.extend(pdf.finish("Vide", CREATED));
        let doc = pdf_extract::Document::load_mem(&bytes).expect("lopdf loads the document");
        assert_eq!(doc.get_pages().len(), 1);
    }

    #[test]
    fn numbers_are_written_with_at_most_two_decimals() {
        let write = |v: f32| {
            let mut buf = Vec::new();
            push_num(&mut buf, v);
            String::from_utf8(buf).expect("ascii")
        };
        assert_eq!(write(0.0), "0");
        assert_eq!(write(595.28), "595.28");
        assert_eq!(write(-12.5), "-12.5");
        assert_eq!(write(-0.001), "0");
        assert_eq!(write(841.899), "841.9");
        assert_eq!(write(f32::NAN), "0");
    }

    #[test]
    fn the_writer_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<PdfWriter>();
    }

    /// A table of `rows` rows of 8 cells, as the exports draw it; `emit`
    /// gets each chunk. Returns the sizes of the first page's chunk and of
    /// the tail `finish` returns.
    fn table(rows: usize, mut emit: impl FnMut(&[u8])) -> (usize, usize) {
        let mut pdf = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
        emit(&pdf.take_output());
        let mut first_page = 0;
        let per_page = 45;
        let pages = rows.div_ceil(per_page).max(1);
        // (x, right-aligned, heading)
        let columns = [
            (40.0, false, "Date"),
            (110.0, false, "N°"),
            (190.0, false, "Client"),
            (340.0, true, "HT"),
            (400.0, true, "TVA"),
            (470.0, true, "TTC"),
            (480.0, false, "Statut"),
            (555.0, true, "Devise"),
        ];
        for page in 0..pages {
            pdf.begin_page();
            pdf.fill_rect(36.0, 780.0, 523.0, 16.0, 0.9);
            for (x, right, heading) in columns {
                if right {
                    pdf.text_right(x, 785.0, 8.0, Face::Bold, heading);
                } else {
                    pdf.text(x, 785.0, 8.0, Face::Bold, heading);
                }
            }
            for r in 0..per_page.min(rows - page * per_page) {
                let n = page * per_page + r + 1;
                let y = 765.0 - r as f32 * 16.0;
                pdf.text(40.0, y, 8.0, Face::Regular, "15/01/2026");
                pdf.text(110.0, y, 8.0, Face::Regular, &format!("F-2026-{n:06}"));
                let client = pdf.fit(
                    8.0,
                    Face::Regular,
                    "Société Générale des Téléphones de Besançon",
                    90.0,
                );
                pdf.text(190.0, y, 8.0, Face::Regular, &client);
                let ht = format!("{},{:02} €", n % 9_999, n % 100);
                pdf.text_right(340.0, y, 8.0, Face::Regular, &ht);
                pdf.text_right(400.0, y, 8.0, Face::Regular, "240,66 €");
                pdf.text_right(470.0, y, 8.0, Face::Regular, "1 443,94 €");
                pdf.text(480.0, y, 8.0, Face::Regular, "Payée");
                pdf.text_right(555.0, y, 8.0, Face::Regular, "EUR");
                pdf.line_gray(36.0, y - 4.0, 559.0, y - 4.0, 0.25, 0.8);
            }
            let footer = format!("Page {} / {pages}", page + 1);
            pdf.text_right(559.0, 20.0, 8.0, Face::Regular, &footer);
            pdf.end_page();
            let chunk = pdf.take_output();
            if page == 0 {
                first_page = chunk.len();
            }
            emit(&chunk);
        }
        let tail = pdf.finish("Export", CREATED);
        emit(&tail);
        (first_page, tail.len())
    }

    #[test]
    fn a_one_page_table_is_small() {
        let mut total = 0;
        table(45, |chunk| total += chunk.len());
        assert!(total < 40_000, "{total} bytes");
    }

    /// Peak resident memory of this process, in kB (Linux).
    fn peak_rss_kb() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// `cargo test --release --lib render::pdf -- --ignored --nocapture`;
    /// with `COMPTOIR_PDF_SAMPLE=/path.pdf` the export is also written there.
    #[test]
    #[ignore = "benchmark, run with --release"]
    fn a_hundred_thousand_rows_export_quickly() {
        let mut file = std::env::var_os("COMPTOIR_PDF_SAMPLE")
            .map(|path| std::io::BufWriter::new(std::fs::File::create(path).expect("sample file")));
        let rss_before = peak_rss_kb();
        let started = std::time::Instant::now();
        let mut total = 0;
        let mut largest_chunk = 0;
        let (first_page, tail) = table(100_000, |chunk| {
            total += chunk.len();
            largest_chunk = largest_chunk.max(chunk.len());
            if let Some(file) = file.as_mut() {
                file.write_all(chunk).expect("sample written");
            }
        });
        let elapsed = started.elapsed();
        println!(
            "100,000 rows: {total} bytes in {elapsed:?}; first page chunk {first_page} bytes, \
             largest chunk {largest_chunk} bytes, tail {tail} bytes; \
             peak RSS {rss_before:?} kB before, {:?} kB after",
            peak_rss_kb()
        );
        let mut one = 0;
        table(45, |chunk| one += chunk.len());
        println!("45 rows (1 page): {one} bytes");
        assert!(elapsed < std::time::Duration::from_secs(10));
    }
}
