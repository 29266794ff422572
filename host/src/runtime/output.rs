//! Capped capture of a plugin's stdout and stderr, so panic messages become log lines.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    truncated: bool,
}

/// An output stream that keeps the first `cap` bytes and silently drops the rest, so a chatty
/// plugin cannot fill the host's memory and never fails because of its own logging.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    buffer: Arc<Mutex<Buffer>>,
    cap: usize,
}

impl CappedOutput {
    /// A capture keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        CappedOutput {
            buffer: Arc::default(),
            cap,
        }
    }

    /// What was written, and whether anything was dropped; the capture starts over empty
    /// (a reused instance's next call has its own output).
    pub fn take(&self) -> (Vec<u8>, bool) {
        let mut b = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let taken = std::mem::take(&mut *b);
        (taken.bytes, taken.truncated)
    }

    fn append(&self, data: &[u8]) {
        let mut b = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap.saturating_sub(b.bytes.len());
        if data.len() > room {
            b.truncated = true;
        }
        let keep = data.len().min(room);
        b.bytes.extend_from_slice(&data[..keep]);
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CappedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_first_bytes_and_flags_truncation() {
        let out = CappedOutput::new(5);
        out.append(b"abc");
        out.append(b"defg");
        assert_eq!(out.take(), (b"abcde".to_vec(), true));
        out.append(b"xy");
        assert_eq!(out.take(), (b"xy".to_vec(), false));
        assert_eq!(out.take(), (Vec::new(), false));
    }
}
