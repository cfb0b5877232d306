//! A small, lossless XML tree for cluster.conf, built on quick-xml.
//!
//! The typed model (`crate::model`) is built from this tree and written back through it. It exists
//! so that every element and attribute of a file, known or not, survives a load and a write, and
//! so that every element and attribute carries the line and column it came from: the validator
//! points an administrator at the exact spot of each problem.
//!
//! What is kept: elements, attributes (values unescaped), and non-blank text (trimmed). What is not:
//! comments, processing instructions, the DOCTYPE, and the layout (indentation, attribute order):
//! the written form is canonical. Byte-for-byte copies of a file (config sync) never go through here.

use std::collections::BTreeMap;
use std::fmt;

use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// A place in a source file: 1-based line and 1-based column (in characters).
///
/// Locations are not part of a configuration's identity: two models that differ only in where
/// their elements were written compare equal, so that `parse(write(c)) == c` holds.
#[derive(Clone, Copy, Debug, Default, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl PartialEq for Loc {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Loc {
    pub fn new(line: u32, col: u32) -> Loc {
        Loc { line, col }
    }

    /// True when the location was never set (a model built in code rather than parsed).
    pub fn is_unknown(&self) -> bool {
        self.line == 0
    }

    /// Total order on positions (the derived `Ord` is fine, but `==` ignores positions).
    pub fn key(&self) -> (u32, u32) {
        (self.line, self.col)
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Maps byte offsets of a text to line and column.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn loc(&self, offset: usize) -> Loc {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        // Count characters, not bytes; an offset inside a multi-byte character counts it.
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        Loc::new(line as u32 + 1, col as u32 + 1)
    }
}

/// One attribute value and where its name starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub value: String,
    pub loc: Loc,
}

/// The attributes of an element, by name. Kept sorted: the canonical written order is
/// alphabetical, as the RHEL tools (luci, ccs) wrote cluster.conf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs(BTreeMap<String, Attr>);

impl Attrs {
    pub fn new() -> Self {
        Attrs::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|a| a.value.as_str())
    }

    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.0.get(name)
    }

    /// Where the attribute is written, or `fallback` (the element) when it is absent.
    pub fn loc_or(&self, name: &str, fallback: Loc) -> Loc {
        self.0.get(name).map(|a| a.loc).unwrap_or(fallback)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(
            name.into(),
            Attr {
                value: value.into(),
                loc: Loc::default(),
            },
        );
    }

    pub fn insert(&mut self, name: String, attr: Attr) -> Option<Attr> {
        self.0.insert(name, attr)
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).map(|a| a.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Attr)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Attrs {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut a = Attrs::new();
        for (k, v) in iter {
            a.set(k, v);
        }
        a
    }
}

/// A child of an element: another element or a piece of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// A generic element: the form unknown parts of a file are kept in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Attrs,
    pub children: Vec<Node>,
    pub loc: Loc,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            attrs: Attrs::new(),
            children: Vec::new(),
            loc: Loc::default(),
        }
    }

    pub fn with_attrs(name: impl Into<String>, attrs: Attrs) -> Self {
        Element {
            attrs,
            ..Element::new(name)
        }
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn push(&mut self, e: Element) {
        self.children.push(Node::Element(e));
    }
}

/// A file that is not well-formed XML: where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

/// Parses a document into its root element.
pub fn parse(text: &str) -> Result<Element, SyntaxError> {
    let index = LineIndex::new(text);
    let err = |offset: usize, message: String| SyntaxError {
        loc: index.loc(offset),
        message,
    };

    let mut reader = Reader::from_str(text);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.check_comments = true;

    // Open elements; the root ends up in `root`.
    let mut stack: Vec<(Element, String)> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let start = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = reader.error_position() as usize;
                return Err(err(at, describe_error(&e)));
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() && stack.is_empty() => {
                let _ = e;
                return Err(err(start, "content after the root element".into()));
            }
            Event::Start(e) => {
                let el = element_from_tag(text, start, &e, &index)?;
                stack.push((el, String::new()));
            }
            Event::Empty(e) => {
                let el = element_from_tag(text, start, &e, &index)?;
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let Some((mut el, pending)) = stack.pop() else {
                    return Err(err(start, "closing tag without an opening tag".into()));
                };
                flush_text(&mut el, pending);
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let raw = t
                    .decode()
                    .map_err(|e| err(start, format!("bad text encoding: {e}")))?;
                match stack.last_mut() {
                    Some((_, pending)) => pending.push_str(&raw),
                    None if !raw.trim().is_empty() => {
                        return Err(err(start, "text outside the root element".into()))
                    }
                    None => {}
                }
            }
            Event::CData(t) => {
                let raw = t
                    .decode()
                    .map_err(|e| err(start, format!("bad CDATA encoding: {e}")))?;
                match stack.last_mut() {
                    Some((_, pending)) => pending.push_str(&raw),
                    None => return Err(err(start, "CDATA outside the root element".into())),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = resolve_ref(&r)
                    .ok_or_else(|| err(start, format!("unknown entity reference &{};", show(&r))))?;
                match stack.last_mut() {
                    Some((_, pending)) => pending.push_str(&resolved),
                    None => {
                        return Err(err(start, "entity reference outside the root element".into()))
                    }
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some((el, _)) = stack.pop() {
        let name = el.name.clone();
        return Err(SyntaxError {
            loc: index.loc(text.len()),
            message: format!(
                "end of file inside <{name}> opened at {}: missing </{name}>",
                el.loc
            ),
        });
    }
    root.ok_or_else(|| err(text.len(), "no root element".into()))
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten().map(String::from);
    }
    let name = r.decode().ok()?;
    quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
}

fn flush_text(el: &mut Element, pending: String) {
    let t = pending.trim();
    if !t.is_empty() {
        el.children.push(Node::Text(t.to_string()));
    }
}

fn attach(stack: &mut [(Element, String)], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some((parent, pending)) => {
            let text = std::mem::take(pending);
            flush_text(parent, text);
            parent.children.push(Node::Element(el));
        }
        None => *root = Some(el),
    }
}

fn element_from_tag(
    text: &str,
    start: usize,
    tag: &BytesStart<'_>,
    index: &LineIndex<'_>,
) -> Result<Element, SyntaxError> {
    let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
    // The tag's content (name and attributes) begins right after '<'.
    let content_start = start + 1;
    let positions = attribute_offsets(text.as_bytes(), content_start + name.len());
    let mut attrs = Attrs::new();
    for (i, attr) in tag.attributes().with_checks(true).enumerate() {
        let attr = attr.map_err(|e| {
            let (at, message) = describe_attr_error(&e, &name);
            SyntaxError {
                loc: index.loc(content_start + at),
                message,
            }
        })?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr.unescape_value().map_err(|e| SyntaxError {
            loc: index.loc(positions.get(i).copied().unwrap_or(start)),
            message: format!("bad value of attribute \"{key}\" on <{name}>: {e}"),
        })?;
        let loc = index.loc(positions.get(i).copied().unwrap_or(start));
        attrs.insert(
            key,
            Attr {
                value: value.into_owned(),
                loc,
            },
        );
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        loc: index.loc(start),
    })
}

/// Byte offsets of each attribute name in a start tag, scanning from just after the tag name.
/// quick-xml checks the syntax; this only finds where each attribute begins.
fn attribute_offsets(bytes: &[u8], mut i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || matches!(bytes[i], b'>' | b'/') {
            return out;
        }
        out.push(i);
        while i < bytes.len() && !matches!(bytes[i], b'=' | b'>') && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'=') {
            i += 1;
        }
        match bytes.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
                i += 1;
            }
            _ => return out,
        }
    }
}

fn describe_attr_error(e: &AttrError, tag: &str) -> (usize, String) {
    match e {
        AttrError::ExpectedEq(p) => (*p, format!("attribute name in <{tag}> must be followed by '='")),
        AttrError::ExpectedValue(p) => (*p, format!("attribute in <{tag}> has no value after '='")),
        AttrError::UnquotedValue(p) => (*p, format!("attribute value in <{tag}> is not quoted")),
        AttrError::ExpectedQuote(p, _) => (*p, format!("attribute value in <{tag}> is not closed")),
        AttrError::Duplicated(p, _) => (*p, format!("attribute written twice in <{tag}>")),
    }
}

fn describe_error(e: &quick_xml::Error) -> String {
    use quick_xml::errors::IllFormedError as I;
    use quick_xml::errors::SyntaxError as S;
    match e {
        quick_xml::Error::Syntax(s) => match s {
            S::UnclosedTag => "tag not closed: '>' missing before the end of the file".into(),
            S::UnclosedComment => "comment not closed: '-->' missing".into(),
            S::UnclosedCData => "CDATA section not closed: ']]>' missing".into(),
            S::UnclosedDoctype => "DOCTYPE not closed".into(),
            S::UnclosedPIOrXmlDecl => "processing instruction or XML declaration not closed".into(),
            S::InvalidBangMarkup => "unknown markup after '<!'".into(),
        },
        quick_xml::Error::IllFormed(i) => match i {
            I::MismatchedEndTag { expected, found } => {
                format!("closing tag </{found}> does not match the open <{expected}>")
            }
            I::UnmatchedEndTag(found) => format!("closing tag </{found}> without an opening tag"),
            I::MissingEndTag(name) => format!("missing </{name}>"),
            I::DoubleHyphenInComment => "'--' inside a comment".into(),
            other => format!("not well-formed: {other}"),
        },
        quick_xml::Error::InvalidAttr(a) => describe_attr_error(a, "tag").1,
        quick_xml::Error::Encoding(e) => format!("bad encoding: {e}"),
        quick_xml::Error::Escape(e) => format!("bad escape: {e}"),
        other => format!("not well-formed: {other}"),
    }
}

/// Writes an element tree as an indented document with an XML declaration.
pub fn write_document(root: &Element) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\"?>\n");
    write_element(&mut out, root, 0);
    out
}

fn write_element(out: &mut String, el: &Element, depth: usize) {
    for _ in 0..depth {
        out.push('\t');
    }
    out.push('<');
    out.push_str(&el.name);
    for (k, a) in el.attrs.iter() {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, &a.value, true);
        out.push('"');
    }
    if el.children.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push('>');
    if let [Node::Text(t)] = el.children.as_slice() {
        escape_into(out, t, false);
    } else {
        out.push('\n');
        for child in &el.children {
            match child {
                Node::Element(e) => write_element(out, e, depth + 1),
                Node::Text(t) => {
                    for _ in 0..=depth {
                        out.push('\t');
                    }
                    escape_into(out, t, false);
                    out.push('\n');
                }
            }
        }
        for _ in 0..depth {
            out.push('\t');
        }
    }
    out.push_str("</");
    out.push_str(&el.name);
    out.push_str(">\n");
}

fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_of_elements_and_attributes() {
        let text = "<?xml version=\"1.0\"?>\n<cluster name=\"a\"\n   config_version=\"3\">\n  <x/>\n</cluster>\n";
        let root = parse(text).unwrap();
        assert_eq!(root.loc.key(), (2, 1));
        assert_eq!(root.attrs.attr("name").unwrap().loc.key(), (2, 10));
        assert_eq!(root.attrs.attr("config_version").unwrap().loc.key(), (3, 4));
        assert_eq!(root.elements().next().unwrap().loc.key(), (4, 3));
    }

    #[test]
    fn entities_are_decoded_and_written_back() {
        let text = "<a v=\"x &amp; &quot;y&quot;\">t &lt; u</a>";
        let root = parse(text).unwrap();
        assert_eq!(root.attrs.get("v"), Some("x & \"y\""));
        assert_eq!(root.children, vec![Node::Text("t < u".into())]);
        let back = parse(&write_document(&root)).unwrap();
        assert_eq!(back, root);
    }

    #[test]
    fn mismatched_tag_is_located() {
        let e = parse("<a>\n  <b>\n  </c>\n</a>").unwrap_err();
        assert_eq!(e.loc.line, 3);
        assert!(e.message.contains("</c>"), "{}", e.message);
    }

    #[test]
    fn unclosed_root_is_reported() {
        let e = parse("<a>\n<b/>\n").unwrap_err();
        assert!(e.message.contains("missing </a>"), "{}", e.message);
    }

    #[test]
    fn columns_count_characters() {
        let idx = LineIndex::new("é<a/>");
        assert_eq!(idx.loc(2).key(), (1, 2));
    }
}
