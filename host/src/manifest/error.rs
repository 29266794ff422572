//! [`ManifestError`], and the field paths and source positions its messages are built from.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Why a manifest was rejected, or why an admin's config value does not fit its schema.
///
/// Every message starts with the file it is about (the `origin` given to
/// [`Manifest::from_toml`](super::Manifest::from_toml)), then — when known — the 1-based line and
/// column, then the field path in TOML key syntax, e.g.
///
/// ```text
/// plaza.toml:9:44: capabilities."http:fetch".hosts[0]: "Bad Host!" is not a valid host name: ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The text is not valid TOML.
    #[error("{origin}:{line}:{column}: {}invalid TOML: {message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Syntax {
        /// The file.
        origin: String,
        /// The field being written where the error is, as far as the text shows it (the
        /// enclosing `[table]` header and the line's key), e.g. `plugin.id`.
        field: Option<String>,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The TOML parser's description.
        message: String,
    },
    /// A field is unknown, missing, or holds the wrong kind of value.
    #[error("{origin}:{line}:{column}: {field}: {message}")]
    Schema {
        /// The file.
        origin: String,
        /// The field, e.g. `plugin.version`; `(top level)` for the document itself.
        field: FieldPath,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A field's value breaks a manifest rule (range, format, consistency with other fields).
    #[error("{origin}{}: {field}: {message}", fmt_position(*position))]
    Invalid {
        /// The file.
        origin: String,
        /// The field, e.g. `capabilities."http:fetch".hosts[0]`.
        field: FieldPath,
        /// 1-based line and column of the field's value, when the manifest came from text.
        position: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
    /// An admin-supplied config value names a key the manifest does not declare.
    #[error("{origin}: config.{key}: no such config key (declared: {declared})")]
    UnknownConfigKey {
        /// The manifest file.
        origin: String,
        /// The key given.
        key: String,
        /// The declared keys, comma-separated, or `none`.
        declared: String,
    },
    /// An admin-supplied config value does not have the declared type.
    #[error("{origin}: config.{key}: {message}")]
    BadConfigValue {
        /// The manifest file.
        origin: String,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn fmt_position(position: Option<(usize, usize)>) -> String {
    match position {
        Some((line, column)) => format!(":{line}:{column}"),
        None => String::new(),
    }
}

impl ManifestError {
    /// The file the error is about.
    pub fn origin(&self) -> &str {
        match self {
            ManifestError::Syntax { origin, .. }
            | ManifestError::Schema { origin, .. }
            | ManifestError::Invalid { origin, .. }
            | ManifestError::UnknownConfigKey { origin, .. }
            | ManifestError::BadConfigValue { origin, .. } => origin,
        }
    }
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Where a field is in the manifest, shown in TOML key syntax: `capabilities."http:fetch".hosts[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The document itself.
    pub fn root() -> Self {
        FieldPath::default()
    }

    /// This path, one key deeper.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.into()));
        path
    }

    /// This path, one array index deeper.
    pub fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// Whether this is the document itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds a path from keys: `path(["plugin", "id"])`.
pub(crate) fn path<const N: usize>(keys: [&str; N]) -> FieldPath {
    FieldPath(keys.iter().map(|k| Segment::Key(k.to_string())).collect())
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare =
                        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "\"{}\"", key.escape_debug())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The field at `line` (1-based) of text that does not parse, guessed from the text: the last
/// table header above it and the key the line starts with, e.g. `plugin.id` or `commands[1].name`.
pub(crate) fn field_in_text(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?.trim();
    // A bare, quoted or dotted key, e.g. `id`, `"http:fetch"`, `capabilities."http:fetch"`.
    let is_key = |key: &str| {
        let mut unquoted = String::new();
        let mut quoted = false;
        for c in key.chars() {
            match c {
                '"' | '\'' => quoted = !quoted,
                c if !quoted => unquoted.push(c),
                _ => {}
            }
        }
        !key.is_empty()
            && !quoted
            && unquoted.split('.').all(|part| {
                let part = part.trim();
                part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
    };
    // The table header on or above the line, with its index for `[[array]]` headers.
    let array_header = |text: &str| -> Option<String> {
        let (name, _) = text.trim().strip_prefix("[[")?.split_once("]]")?;
        Some(name.trim().to_string())
    };
    let header = |text: &str| -> Option<String> {
        if let Some(name) = array_header(text) {
            let count = lines[..line]
                .iter()
                .filter(|l| array_header(l).as_deref() == Some(name.as_str()))
                .count();
            return is_key(&name).then(|| format!("{name}[{}]", count.saturating_sub(1)));
        }
        let name = text.strip_prefix('[')?.split_once(']')?.0.trim();
        is_key(name).then(|| name.to_string())
    };
    if this.starts_with('[') {
        return header(this);
    }
    let key = this.split_once('=').map(|(k, _)| k.trim()).filter(|k| is_key(k));
    let table = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['));
    match (table.and_then(header), key) {
        (Some(table), Some(key)) => Some(format!("{table}.{key}")),
        (table, key) => table.or(key.map(str::to_string)),
    }
}

/// The spanned parse tree of a manifest, for mapping byte spans to field paths and back.
pub(crate) struct SourceMap<'i> {
    root: Spanned<DeTable<'i>>,
}

impl<'i> SourceMap<'i> {
    pub(crate) fn new(root: Spanned<DeTable<'i>>) -> Self {
        SourceMap { root }
    }

    /// The most specific field whose key or value covers `span`; the root when none does.
    pub(crate) fn field_at(&self, span: &Range<usize>) -> FieldPath {
        if *span == self.root.span() {
            return FieldPath::root();
        }
        let mut best: Option<(usize, FieldPath)> = None;
        visit_table(
            self.root.get_ref(),
            &FieldPath::root(),
            &mut |path, key_span, value_span| {
                for candidate in [key_span, Some(value_span)].into_iter().flatten() {
                    if candidate.start <= span.start && span.end <= candidate.end {
                        let width = candidate.end - candidate.start;
                        // Prefer the narrowest covering span, then the deepest path.
                        let better = match &best {
                            None => true,
                            Some((w, p)) => width < *w || (width == *w && path.0.len() > p.0.len()),
                        };
                        if better {
                            best = Some((width, path.clone()));
                        }
                    }
                }
            },
        );
        best.map(|(_, path)| path).unwrap_or_default()
    }

    /// Where the value of `path` starts; for a path that is absent, where its nearest present
    /// ancestor starts.
    pub(crate) fn value_start(&self, path: &FieldPath) -> Option<usize> {
        fn entry<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
            table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
        }
        let mut node: Option<&DeValue<'i>> = None; // `None`: the root table
        let mut start = None;
        for segment in &path.0 {
            let next = match (segment, node) {
                (Segment::Key(key), None) => entry(self.root.get_ref(), key),
                (Segment::Key(key), Some(DeValue::Table(table))) => entry(table, key),
                (Segment::Index(i), Some(DeValue::Array(items))) => items.get(*i),
                _ => None,
            };
            let Some(next) = next else { break };
            start = Some(next.span().start);
            node = Some(next.get_ref());
        }
        start
    }
}

/// Called with each field's path, key span (none for array items) and value span.
type Visitor<'a> = dyn FnMut(&FieldPath, Option<Range<usize>>, Range<usize>) + 'a;

fn visit_table(table: &DeTable<'_>, path: &FieldPath, f: &mut Visitor<'_>) {
    for (key, value) in table.iter() {
        let path = path.key(key.get_ref().to_string());
        f(&path, Some(key.span()), value.span());
        visit_value(value.get_ref(), &path, f);
    }
}

fn visit_value(value: &DeValue<'_>, path: &FieldPath, f: &mut Visitor<'_>) {
    match value {
        DeValue::Table(table) => visit_table(table, path, f),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = path.index(i);
                f(&path, None, item.span());
                visit_value(item.get_ref(), &path, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_toml_keys() {
        assert_eq!(FieldPath::root().to_string(), "(top level)");
        assert_eq!(path(["plugin", "id"]).to_string(), "plugin.id");
        let p = path(["capabilities", "http:fetch", "hosts"]).index(2);
        assert_eq!(p.to_string(), "capabilities.\"http:fetch\".hosts[2]");
        assert_eq!(
            FieldPath::root().key("commands").index(0).key("name").to_string(),
            "commands[0].name"
        );
        assert_eq!(path(["a\"b"]).to_string(), "\"a\\\"b\"");
    }

    #[test]
    fn line_columns_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3)); // after the two-byte 'é'
        assert_eq!(line_column(text, 100), (3, 1));
    }

    #[test]
    fn fields_are_found_in_broken_text() {
        let text = "name = 1\n[plugin]\nid = \"x\n\n[[commands]]\nname = 1\n[[commands]]\nname = \"\n[a.\"b c\"]\nk = 1\n# c\n";
        assert_eq!(field_in_text(text, 1).as_deref(), Some("name"));
        assert_eq!(field_in_text(text, 2).as_deref(), Some("plugin"));
        assert_eq!(field_in_text(text, 3).as_deref(), Some("plugin.id"));
        assert_eq!(field_in_text(text, 4).as_deref(), Some("plugin"));
        assert_eq!(field_in_text(text, 6).as_deref(), Some("commands[0].name"));
        assert_eq!(field_in_text(text, 8).as_deref(), Some("commands[1].name"));
        assert_eq!(field_in_text(text, 10).as_deref(), Some("a.\"b c\".k"));
        assert_eq!(field_in_text(text, 11).as_deref(), Some("a.\"b c\""));
        assert_eq!(field_in_text(text, 99), None);
        assert_eq!(field_in_text("x y = 1", 1), None);
        let nested = "[[commands]]\n[[commands.args]]\n[[commands]]\nname = \"\n";
        assert_eq!(field_in_text(nested, 4).as_deref(), Some("commands[1].name"));
    }

    #[test]
    fn spans_map_to_fields_and_back() {
        let text =
            "[plugin]\nid = \"x\"\n\n[capabilities]\n\"http:fetch\" = { reason = \"r\", hosts = [\"a\", \"b\"] }\n";
        let map = SourceMap::new(DeTable::parse(text).unwrap());
        let b = text.find("\"b\"").unwrap();
        assert_eq!(
            map.field_at(&(b..b + 3)).to_string(),
            "capabilities.\"http:fetch\".hosts[1]"
        );
        let id = text.find("id").unwrap();
        assert_eq!(map.field_at(&(id..id + 2)).to_string(), "plugin.id");
        let hosts = path(["capabilities", "http:fetch", "hosts"]).index(1);
        assert_eq!(map.value_start(&hosts), Some(b));
        // An absent field points at its nearest present ancestor.
        let absent = path(["capabilities", "http:fetch", "quota-bytes"]);
        assert_eq!(map.value_start(&absent), Some(text.find("{ reason").unwrap()));
    }
}
