//! The text log format's fields without colours: `name=value` with each value in its `Debug`
//! form, as `tracing-subscriber`'s default writes them, in fewer formatting calls. Every
//! invocation opens a span whose six fields are formatted as it opens; the default's styling
//! wrappers (a no-op off a terminal) made that ~8 k instructions, 4 % of a dispatch
//! (BENCHMARKS.md, P1). Messages, errors and `log.` fields keep the default's handling.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Field formatting for logs written without ANSI colours.
pub struct PlainFields;

impl<'w> MakeVisitor<Writer<'w>> for PlainFields {
    type Visitor = PlainVisitor<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> PlainVisitor<'w> {
        PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes one set of fields (see [`PlainFields`]).
pub struct PlainVisitor<'w> {
    writer: Writer<'w>,
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Whether the default visitor must write this field: it escapes messages and skips
    /// fields carried over from the `log` crate.
    fn special(field: &Field) -> bool {
        let name = field.name();
        name == "message" || name.starts_with("log.") || name.starts_with("r#")
    }

    /// Lets the default visitor write one field, keeping the separator state.
    fn by_default(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        if !field.name().starts_with("log.") {
            self.is_empty = false;
        }
    }

    fn name_then(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.is_empty) {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if Self::special(field) {
            return self.by_default(field, |v| v.record_str(field, value));
        }
        self.result = self.name_then(field).and_then(|()| write!(self.writer, "{value:?}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_debug(field, &value)
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_debug(field, &value)
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_debug(field, &value)
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.by_default(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if Self::special(field) {
            return self.by_default(field, |v| v.record_debug(field, value));
        }
        self.result = self.name_then(field).and_then(|()| write!(self.writer, "{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// What a span and an event inside it log, with the given field formatting.
    fn logged(plain: bool) -> String {
        let out = Captured::default();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(out.clone());
        let log = || {
            let error = std::io::Error::other("the disk is full");
            let span = tracing::error_span!(
                "invocation",
                plugin = %"welcome-bot",
                community = %"rust fans",
                event_id = "e\"1\"",
                attempt = 2u32,
                export = "handle-event",
            );
            let _in = span.enter();
            tracing::warn!(count = -3i64, ok = true, error = &error as &dyn std::error::Error, text = ?"a\nb", "done: {}", "\u{1b}[31mred");
            tracing::info!(r#type = "x", "second");
        };
        if plain {
            tracing::subscriber::with_default(builder.fmt_fields(PlainFields).finish(), log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn plain_fields_read_as_the_default_ones() {
        let plain = logged(true);
        assert!(plain.contains("event_id=\"e\\\"1\\\"\" attempt=2"), "{plain}");
        assert_eq!(plain, logged(false));
    }
}
