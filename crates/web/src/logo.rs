//! Logos are served from our own origin, so an uploaded file must not be
//! able to carry anything but a picture. PNGs keep only the chunks that
//! draw the image (no text, no metadata); SVGs are parsed and written
//! again from an allow-list of drawing elements and attributes — no
//! scripts, no event handlers, no links, no external references, no
//! styles — and the response forbids scripts anyway.

/// The largest logo accepted.
pub const MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum LogoProblem {
    /// Neither PNG nor SVG.
    Type,
    TooLarge,
    /// Claims to be PNG or SVG but does not parse.
    Broken,
}

/// A sanitized logo and its content type.
pub fn sanitize(bytes: &[u8]) -> Result<(Vec<u8>, &'static str), LogoProblem> {
    if bytes.len() > MAX_BYTES {
        return Err(LogoProblem::TooLarge);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return png(bytes).map(|b| (b, "image/png"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LogoProblem::Type)?;
    let head = text.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with('<') && text.contains("<svg") {
        return svg(text).map(|s| (s.into_bytes(), "image/svg+xml"));
    }
    Err(LogoProblem::Type)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// Chunks that draw the image; everything else is dropped.
const PNG_KEEP: [&[u8; 4]; 8] = [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"sRGB", b"cHRM"];
/// Larger images are refused: a logo is small.
const MAX_SIDE: u32 = 4096;

fn png(bytes: &[u8]) -> Result<Vec<u8>, LogoProblem> {
    let mut out = PNG_SIGNATURE.to_vec();
    let mut rest = &bytes[PNG_SIGNATURE.len()..];
    let mut first = true;
    loop {
        if rest.len() < 12 {
            return Err(LogoProblem::Broken);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind: [u8; 4] = [rest[4], rest[5], rest[6], rest[7]];
        if rest.len() < 12 + len {
            return Err(LogoProblem::Broken);
        }
        let data = &rest[8..8 + len];
        let crc = u32::from_be_bytes([rest[8 + len], rest[9 + len], rest[10 + len], rest[11 + len]]);
        let mut hasher = crc32(&kind);
        hasher = crc32_update(hasher, data);
        if !hasher != crc {
            return Err(LogoProblem::Broken);
        }
        if first {
            if &kind != b"IHDR" || len != 13 {
                return Err(LogoProblem::Broken);
            }
            let w = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let h = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
                return Err(LogoProblem::Broken);
            }
            first = false;
        }
        if PNG_KEEP.iter().any(|k| **k == kind) {
            out.extend_from_slice(&rest[..12 + len]);
        }
        rest = &rest[12 + len..];
        if &kind == b"IEND" {
            return Ok(out);
        }
    }
}

fn crc32(start: &[u8]) -> u32 {
    crc32_update(0xffff_ffff, start)
}

fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    crc
}

const SVG_NS: &str = "http://www.w3.org/2000/svg";

const SVG_ELEMENTS: &[&str] = &[
    "svg",
    "g",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "title",
    "desc",
    "defs",
    "linearGradient",
    "radialGradient",
    "stop",
    "clipPath",
    "text",
    "tspan",
];

const SVG_ATTRIBUTES: &[&str] = &[
    "id",
    "viewBox",
    "width",
    "height",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "d",
    "points",
    "transform",
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "stroke-dasharray",
    "opacity",
    "offset",
    "stop-color",
    "stop-opacity",
    "gradientUnits",
    "gradientTransform",
    "clip-path",
    "clip-rule",
    "clipPathUnits",
    "preserveAspectRatio",
    "font-family",
    "font-size",
    "font-weight",
    "text-anchor",
    "fx",
    "fy",
    "spreadMethod",
];

/// An attribute value is kept if it refers to nothing outside the file: a
/// `url(...)` may only name an element of this file (`url(#id)`).
fn safe_value(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if lower.contains("javascript:") || lower.contains("data:") || lower.contains("expression(") {
        return false;
    }
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("url(") {
        let inner = rest[i + 4..].trim_start().trim_start_matches(['"', '\'']);
        if !inner.starts_with('#') {
            return false;
        }
        rest = &rest[i + 4..];
    }
    true
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn svg(text: &str) -> Result<String, LogoProblem> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 50_000, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|_| LogoProblem::Broken)?;
    let root = doc.root_element();
    if root.tag_name().name() != "svg" || root.tag_name().namespace() != Some(SVG_NS) {
        return Err(LogoProblem::Broken);
    }
    let mut out = String::with_capacity(text.len());
    write_node(root, &mut out, 0)?;
    Ok(out)
}

fn write_node(node: roxmltree::Node<'_, '_>, out: &mut String, depth: usize) -> Result<(), LogoProblem> {
    if depth > 64 {
        return Err(LogoProblem::Broken);
    }
    let name = node.tag_name().name();
    out.push('<');
    out.push_str(name);
    if depth == 0 {
        out.push_str(" xmlns=\"");
        out.push_str(SVG_NS);
        out.push('"');
    }
    for a in node.attributes() {
        if a.namespace().is_some() || !SVG_ATTRIBUTES.contains(&a.name()) || !safe_value(a.value()) {
            continue;
        }
        out.push(' ');
        out.push_str(a.name());
        out.push_str("=\"");
        escape(a.value(), out);
        out.push('"');
    }
    out.push('>');
    for child in node.children() {
        if child.is_element() {
            if child.tag_name().namespace() == Some(SVG_NS) && SVG_ELEMENTS.contains(&child.tag_name().name()) {
                write_node(child, out, depth + 1)?;
            }
        } else if child.is_text()
            && let Some(t) = child.text()
        {
            escape(t, out);
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let crc = !crc32_update(crc32(kind), data);
        c.extend_from_slice(&crc.to_be_bytes());
        c
    }

    fn tiny_png(extra: &[Vec<u8>]) -> Vec<u8> {
        let mut p = PNG_SIGNATURE.to_vec();
        p.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]));
        for e in extra {
            p.extend(e);
        }
        p.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1]));
        p.extend(chunk(b"IEND", &[]));
        p
    }

    #[test]
    fn png_text_and_metadata_chunks_are_dropped() {
        let dirty = tiny_png(&[chunk(b"tEXt", b"Comment\0<script>alert(1)</script>"), chunk(b"eXIf", b"gps")]);
        let (clean, kind) = sanitize(&dirty).unwrap();
        assert_eq!(kind, "image/png");
        assert_eq!(clean, tiny_png(&[]));
        let mut bad_crc = tiny_png(&[]);
        let n = bad_crc.len();
        bad_crc[n - 20] ^= 1;
        assert_eq!(sanitize(&bad_crc), Err(LogoProblem::Broken));
        assert_eq!(sanitize(&tiny_png(&[])[..30]), Err(LogoProblem::Broken));
    }

    #[test]
    fn svg_keeps_drawing_and_drops_everything_active() {
        let dirty = r##"<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" onload="alert(1)">
  <script>alert(2)</script>
  <style>@import url(https://evil.example/x.css);</style>
  <a xlink:href="https://evil.example"><rect width="5" height="5"/></a>
  <image href="https://evil.example/pixel.png"/>
  <foreignObject><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>
  <circle cx="5" cy="5" r="4" fill="url(#g)" stroke="url(https://evil.example/#x)" onclick="x()"/>
  <linearGradient id="g"><stop offset="0" stop-color="#7a1f2b"/></linearGradient>
  <text x="1" y="9">A &amp; B</text>
</svg>"##;
        let (clean, kind) = sanitize(dirty.as_bytes()).unwrap();
        let clean = String::from_utf8(clean).unwrap();
        assert_eq!(kind, "image/svg+xml");
        for gone in ["script", "onload", "onclick", "style", "evil", "href", "image", "foreignObject", "alert", "<a"] {
            assert!(!clean.contains(gone), "{gone} survived: {clean}");
        }
        for kept in ["viewBox=\"0 0 10 10\"", "<circle", "fill=\"url(#g)\"", "<stop", "A &amp; B"] {
            assert!(clean.contains(kept), "{kept} was lost: {clean}");
        }
    }

    #[test]
    fn other_files_are_refused() {
        assert_eq!(sanitize(b"GIF89a...."), Err(LogoProblem::Type));
        assert_eq!(sanitize(b"<html><svg></svg></html>"), Err(LogoProblem::Broken));
        assert_eq!(
            sanitize(b"<!DOCTYPE svg [<!ENTITY x \"y\">]><svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            Err(LogoProblem::Broken)
        );
        assert_eq!(sanitize(&vec![b' '; MAX_BYTES + 1]), Err(LogoProblem::TooLarge));
    }
}
