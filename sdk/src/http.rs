//! Calling allowlisted HTTPS services (WIT `http`). Needs `http:fetch`, and only hosts the
//! community admin approved can be reached.
//!
//! ```no_run
//! use plaza_sdk::prelude::*;
//! use plaza_sdk::http::{self, Request};
//!
//! # fn demo() -> Result<(), HandlerError> {
//! let response = http::fetch(
//!     &Request::get("https://api.example.com/orders/7").header("accept", "application/json"),
//! )?;
//! if response.is_success() {
//!     plaza_sdk::info!("order: {}", response.text());
//! }
//! # Ok(()) }
//! ```

use crate::HostError;

pub use crate::bindings::plaza::plugin::http::{Method, Request, Response};

/// Sends `request` and waits for the response.
pub fn fetch(request: &Request) -> Result<Response, HostError> {
    crate::sys::http::fetch(request)
}

/// `GET url` with no extra headers.
pub fn get(url: &str) -> Result<Response, HostError> {
    fetch(&Request::get(url))
}

impl Request {
    /// A request with `method` and `url`, no headers, no body and the host's default timeout.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    /// A `GET` request for `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new(Method::Get, url)
    }

    /// A `POST` request for `url` with `body`.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request::new(Method::Post, url).body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Gives up after `ms` milliseconds (the host may lower it).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

impl Response {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 is replaced with `U+FFFD`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
