//! One HTTP/1.1 exchange with a vetted [`Destination`]: TCP to one of its addresses (nothing is
//! looked up here, so the address dialled is the address checked), TLS with the URL's host name
//! as SNI and certificate name, then hyper's client connection over that stream. No pool, no
//! proxy from the environment, no decompression.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;

use super::error::RequestError;
use super::policy::Destination;
use crate::wit::latest::plaza::plugin::http::Method;

/// The User-Agent every request carries, so merchants can tell Plaza's traffic apart.
pub const USER_AGENT: &str = concat!("plaza/", env!("CARGO_PKG_VERSION"));

/// Certificates in a PEM text; an error when there are none or one is malformed.
pub(crate) fn parse_roots(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block in it".into());
    }
    Ok(certs)
}

/// The TLS client configuration: the webpki roots (the same trust on every machine; nothing is
/// read from the system store) plus the operator's extra CA certificates; HTTP/1.1 only.
pub(crate) fn tls_config(extra_roots_pem: &[String]) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for pem in extra_roots_pem {
        for cert in parse_roots(pem).map_err(anyhow::Error::msg)? {
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("an extra CA certificate cannot be used: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A response as received, before redirects are handled.
pub(crate) struct Received {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub location: Option<String>,
    pub body: Vec<u8>,
    /// The address that answered.
    pub addr: SocketAddr,
}

/// What to send.
pub(crate) struct Outgoing<'a> {
    pub method: Method,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a [u8]>,
}

pub(crate) fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// Connects to the first of `dest`'s addresses that answers within `connect_timeout` each.
async fn dial(dest: &Destination, connect_timeout: Duration) -> Result<(TcpStream, SocketAddr), RequestError> {
    let mut last = String::new();
    for &addr in dest.addrs() {
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {} ms", connect_timeout.as_millis()),
        }
    }
    Err(RequestError::Connect {
        host: dest.server_name().to_string(),
        problem: last,
    })
}

/// Sends one request to `dest` and reads the response, its body at most `max_body` bytes.
pub(crate) async fn exchange(
    dest: &Destination,
    tls: &Arc<ClientConfig>,
    request: Outgoing<'_>,
    connect_timeout: Duration,
    max_body: usize,
) -> Result<Received, RequestError> {
    let host = dest.server_name().to_string();
    let (tcp, addr) = dial(dest, connect_timeout).await?;
    let mut builder = hyper::Request::builder()
        .method(method_name(request.method))
        .uri(dest.path_and_query())
        .header(hyper::header::HOST, dest.host_header())
        .header(hyper::header::USER_AGENT, USER_AGENT);
    for (name, value) in request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::copy_from_slice(request.body.unwrap_or_default()));
    let req = builder.body(body).map_err(|e| RequestError::Protocol {
        host: host.clone(),
        problem: format!("the request cannot be built: {e}"),
    })?;
    let response = if dest.target().is_https() {
        let name = ServerName::try_from(host.clone()).map_err(|e| RequestError::Tls {
            host: host.clone(),
            problem: e.to_string(),
        })?;
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let stream = tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| RequestError::Tls {
                host: host.clone(),
                problem: format!("no TLS handshake within {} ms", connect_timeout.as_millis()),
            })?
            .map_err(|e| RequestError::Tls {
                host: host.clone(),
                problem: e.to_string(),
            })?;
        send(TokioIo::new(stream), req, &host).await?
    } else {
        send(TokioIo::new(tcp), req, &host).await?
    };
    let status = response.status().as_u16();
    let too_large = RequestError::ResponseTooLarge {
        host: host.clone(),
        limit: max_body,
    };
    let declared = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return Err(too_large);
    }
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = Limited::new(response.into_body(), max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                too_large
            } else {
                RequestError::Protocol {
                    host: host.clone(),
                    problem: format!("reading the response body: {e}"),
                }
            }
        })?
        .to_bytes()
        .to_vec();
    Ok(Received {
        status,
        headers,
        location,
        body,
        addr,
    })
}

async fn send<S>(
    io: TokioIo<S>,
    req: hyper::Request<Full<Bytes>>,
    host: &str,
) -> Result<hyper::Response<hyper::body::Incoming>, RequestError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let protocol = |problem: String| RequestError::Protocol {
        host: host.to_string(),
        problem,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| protocol(e.to_string()))?;
    // The connection task ends with the response body (or when the request is dropped).
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender.send_request(req).await.map_err(|e| protocol(e.to_string()))
}

/// Response headers that describe the connection, not the resource.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}
