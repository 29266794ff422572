//! The accept loop: HTTP/1.1 with keep-alive on hyper, with what axum's own `serve` does not
//! offer. A client that takes longer than the request timeout to send its headers (or an
//! idle keep-alive connection) is disconnected; at most `max_connections` are served at once
//! (more wait in the listen backlog); shutdown stops accepting, lets requests in flight finish
//! within a grace period, then closes what is left.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::{routes, AppState, ServeOptions};

/// A running server.
pub struct Server {
    address: SocketAddr,
    stop: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `state`'s API on `listener` until [`Server::shutdown`].
    pub fn start(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
        let address = listener.local_addr()?;
        let options = state.options.clone();
        let app = routes::router(state);
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(accept_loop(listener, app, options, stopped));
        Ok(Server { address, stop, task })
    }

    /// Binds `address` (port 0: any free port) and serves.
    pub async fn bind(address: &str, state: Arc<AppState>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(address).await?;
        Server::start(listener, state)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, waits up to `grace` for requests in flight, then closes every
    /// connection.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.request_timeout)
        .keep_alive(true);
    let grace = loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.changed() => break stop.borrow().unwrap_or_default(),
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break stop.borrow().unwrap_or_default(),
        };
        let (stream, _peer) = match accepted {
            Ok(connection) => connection,
            Err(e) => {
                // Out of file descriptors, a connection reset before accept: keep serving.
                tracing::warn!(target: "plaza::serve", error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "plaza::serve", error = %e, "connection ended");
            }
            drop(slot);
        });
    };
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(target: "plaza::serve", "requests still running after the grace period were cut off");
    }
}
