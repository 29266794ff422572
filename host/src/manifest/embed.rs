//! Carrying the manifest inside the component: a top-level custom section named
//! [`SECTION_NAME`] whose payload is the `plaza.toml` text (UTF-8).
//!
//! Only the component's own (top-level) custom sections count: a nested core module or component
//! may carry custom sections of any name, and they are neither read nor changed.

use std::ops::Range;

use wasmparser::{Chunk, Encoding, Parser, Payload};

/// The custom section's name.
pub const SECTION_NAME: &str = "plaza:manifest";

/// Why a manifest could not be embedded in or read from a component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// The bytes are a core WebAssembly module, not a component.
    #[error("not a WebAssembly component: this is a core module; build a component (e.g. for target wasm32-wasip2) or wrap the module with `wasm-tools component new`")]
    CoreModule,
    /// The bytes are not WebAssembly, or are damaged.
    #[error("not a WebAssembly component: {reason}")]
    Malformed {
        /// What the parser found wrong.
        reason: String,
    },
    /// The component carries the section more than once.
    #[error("the component has {count} top-level `{SECTION_NAME}` sections; expected at most one")]
    Duplicate {
        /// How many there are.
        count: usize,
    },
    /// The section's payload is not UTF-8 text.
    #[error("the `{SECTION_NAME}` section is not UTF-8 text: {reason}")]
    NotUtf8 {
        /// Where decoding failed.
        reason: String,
    },
}

/// A top-level custom section: the whole section's bytes and its payload's.
pub(crate) struct Found<'a> {
    pub(crate) section: Range<usize>,
    pub(crate) payload: &'a [u8],
}

/// Finds every top-level [`SECTION_NAME`] section, checking that `component` is a component.
fn find(component: &[u8]) -> Result<Vec<Found<'_>>, EmbedError> {
    find_sections(component, SECTION_NAME)
}

/// Finds every top-level custom section called `name`, checking that `component` is a component.
/// Package signatures (`crate::signing`) use it too, so both agree on what "top-level" means.
pub(crate) fn find_sections<'a>(component: &'a [u8], name: &str) -> Result<Vec<Found<'a>>, EmbedError> {
    let malformed = |reason: String| EmbedError::Malformed { reason };
    let mut parser = Parser::new(0);
    let mut offset = 0;
    let mut found = Vec::new();
    loop {
        let start = offset;
        let (payload, consumed) = match parser.parse(&component[offset..], true) {
            Ok(Chunk::Parsed { payload, consumed }) => (payload, consumed),
            // Not possible with `eof = true`, but reported rather than assumed.
            Ok(Chunk::NeedMoreData(_)) => return Err(malformed("unexpected end of data".into())),
            Err(e) => return Err(malformed(e.to_string())),
        };
        offset += consumed;
        match payload {
            Payload::Version { encoding, .. } => match encoding {
                Encoding::Component => {}
                Encoding::Module => return Err(EmbedError::CoreModule),
            },
            // The nested module's or component's bytes follow the section header; skip them
            // without parsing, so its custom sections are never seen.
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                offset += unchecked_range.len();
                if offset > component.len() {
                    return Err(malformed(format!(
                        "nested section at offset {start} runs past the end of the data"
                    )));
                }
            }
            Payload::CustomSection(reader) if reader.name() == name => found.push(Found {
                section: start..offset,
                payload: reader.data(),
            }),
            Payload::End(_) => return Ok(found),
            _ => {}
        }
    }
}

/// Appends `value` as an unsigned LEB128 number.
fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Encodes a custom section: id 0, size, name length, name, payload.
pub(crate) fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(5 + name.len() + payload.len());
    leb128(&mut content, name.len());
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut section = Vec::with_capacity(6 + content.len());
    section.push(0);
    leb128(&mut section, content.len());
    section.extend_from_slice(&content);
    section
}

/// Returns `component` with `manifest_toml` in a top-level [`SECTION_NAME`] custom section at the
/// end, replacing any existing one. Everything else is kept byte for byte. The text is not
/// checked; parse it with [`Manifest::from_toml`](super::Manifest::from_toml) first.
pub fn embed(component: &[u8], manifest_toml: &str) -> Result<Vec<u8>, EmbedError> {
    let existing = find(component)?;
    let section = custom_section(SECTION_NAME, manifest_toml.as_bytes());
    let mut out = Vec::with_capacity(component.len() + section.len());
    let mut kept_from = 0;
    for found in &existing {
        out.extend_from_slice(&component[kept_from..found.section.start]);
        kept_from = found.section.end;
    }
    out.extend_from_slice(&component[kept_from..]);
    out.extend_from_slice(&section);
    Ok(out)
}

/// The manifest text embedded in `component`, or `None` when it has no top-level
/// [`SECTION_NAME`] section.
pub fn extract(component: &[u8]) -> Result<Option<String>, EmbedError> {
    let found = find(component)?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => std::str::from_utf8(one.payload)
            .map(|text| Some(text.to_string()))
            .map_err(|e| EmbedError::NotUtf8 { reason: e.to_string() }),
        more => Err(EmbedError::Duplicate { count: more.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of an empty component (component-model layer 1, version 0x0d).
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
    /// The header of an empty core module.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

    /// A section with the given id and content.
    fn section(id: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        leb128(&mut out, content.len());
        out.extend_from_slice(content);
        out
    }

    /// A component holding a nested core module (which has its own `plaza:manifest` section) and
    /// a nested component, with an unrelated custom section before and after.
    fn component_with_nesting() -> Vec<u8> {
        let mut module = EMPTY_MODULE.to_vec();
        module.extend(custom_section(SECTION_NAME, b"nested = true"));
        let mut nested_component = EMPTY_COMPONENT.to_vec();
        nested_component.extend(custom_section(SECTION_NAME, b"nested = true"));
        let mut bytes = EMPTY_COMPONENT.to_vec();
        bytes.extend(custom_section("producers-ish", b"before"));
        bytes.extend(section(1, &module)); // core module section
        bytes.extend(section(4, &nested_component)); // component section
        bytes.extend(custom_section("name-ish", b"after"));
        bytes
    }

    #[test]
    fn leb128_encodes() {
        for (value, bytes) in [
            (0usize, &[0u8][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (624_485, &[0xe5, 0x8e, 0x26]),
        ] {
            let mut out = Vec::new();
            leb128(&mut out, value);
            assert_eq!(out, bytes, "{value}");
        }
    }

    #[test]
    fn round_trips_through_an_empty_component() {
        assert_eq!(extract(EMPTY_COMPONENT).unwrap(), None);
        let text = "[plugin]\nid = \"poll\"\n";
        let embedded = embed(EMPTY_COMPONENT, text).unwrap();
        assert!(embedded.starts_with(EMPTY_COMPONENT));
        assert_eq!(extract(&embedded).unwrap().as_deref(), Some(text));
        // The result is still a valid component.
        wasmparser::Validator::new().validate_all(&embedded).unwrap();
    }

    #[test]
    fn large_manifests_use_multi_byte_sizes() {
        let text = "# padding\n".repeat(2000);
        let embedded = embed(EMPTY_COMPONENT, &text).unwrap();
        assert_eq!(extract(&embedded).unwrap().as_deref(), Some(text.as_str()));
    }

    #[test]
    fn embedding_twice_keeps_one_section() {
        let once = embed(&component_with_nesting(), "first = 1").unwrap();
        let twice = embed(&once, "second = 2").unwrap();
        assert_eq!(extract(&twice).unwrap().as_deref(), Some("second = 2"));
        let mut expected = component_with_nesting();
        expected.extend(custom_section(SECTION_NAME, b"second = 2"));
        assert_eq!(twice, expected, "only the old top-level section is replaced");
        assert_eq!(find(&twice).unwrap().len(), 1);
    }

    #[test]
    fn nested_sections_are_ignored() {
        let bytes = component_with_nesting();
        assert_eq!(extract(&bytes).unwrap(), None);
        let embedded = embed(&bytes, "top = true").unwrap();
        assert_eq!(extract(&embedded).unwrap().as_deref(), Some("top = true"));
        // The nested modules still carry their own sections, unchanged.
        let nested = custom_section(SECTION_NAME, b"nested = true");
        let count = embedded
            .windows(nested.len())
            .filter(|w| *w == nested.as_slice())
            .count();
        assert_eq!(count, 2);
    }

    #[test]
    fn a_core_module_is_rejected() {
        let err = extract(EMPTY_MODULE).unwrap_err();
        assert_eq!(err, EmbedError::CoreModule);
        assert!(err
            .to_string()
            .starts_with("not a WebAssembly component: this is a core module"));
        assert_eq!(embed(EMPTY_MODULE, "x = 1").unwrap_err(), EmbedError::CoreModule);
    }

    #[test]
    fn garbage_is_rejected() {
        for bytes in [&b""[..], b"hello world", b"\0asm", b"\0asm\x0d\x00\x01\x00\x00\x05ab"] {
            let err = extract(bytes).unwrap_err();
            assert!(matches!(err, EmbedError::Malformed { .. }), "{bytes:?}: {err:?}");
            assert!(err.to_string().starts_with("not a WebAssembly component: "), "{err}");
            assert!(embed(bytes, "x = 1").is_err());
        }
    }

    #[test]
    fn a_truncated_nested_module_is_rejected() {
        let mut bytes = EMPTY_COMPONENT.to_vec();
        bytes.extend([1, 0x20]); // a module section claiming 32 bytes
        bytes.extend(EMPTY_MODULE);
        assert!(matches!(extract(&bytes), Err(EmbedError::Malformed { .. })));
    }

    #[test]
    fn duplicates_and_bad_text_are_reported() {
        let mut bytes = EMPTY_COMPONENT.to_vec();
        bytes.extend(custom_section(SECTION_NAME, b"a = 1"));
        bytes.extend(custom_section(SECTION_NAME, b"b = 2"));
        assert_eq!(extract(&bytes).unwrap_err(), EmbedError::Duplicate { count: 2 });
        // Embedding repairs it.
        let fixed = embed(&bytes, "c = 3").unwrap();
        assert_eq!(extract(&fixed).unwrap().as_deref(), Some("c = 3"));

        let mut bytes = EMPTY_COMPONENT.to_vec();
        bytes.extend(custom_section(SECTION_NAME, b"\xff\xfe"));
        assert!(matches!(extract(&bytes), Err(EmbedError::NotUtf8 { .. })));
    }
}
