//! Connections: their I/O runs on a runtime thread of their own ([`Driver`]); callers check one
//! out of a small pool, run a transaction by polling the client's futures on their own thread
//! ([`block_on`]), and give it back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio_postgres::{Client, NoTls, Statement};

/// Runs `future` to completion on the calling thread, parking it while the future waits. Works
/// inside and outside a tokio runtime, for futures that need no runtime of the caller's (the
/// client side of `tokio-postgres`, a `JoinHandle` of the [`Driver`]'s runtime).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            // A wake before the park makes the park return at once.
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The runtime thread that drives every connection's socket. Dropping it stops the thread,
/// which drops the runtime there (a runtime must not be dropped inside another one).
struct Driver {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Driver {
    fn start() -> Result<Driver, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the database I/O runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("plaza-postgres".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| format!("cannot start the database I/O thread: {e}"))?;
        Ok(Driver {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One connection and its prepared statements.
pub(crate) struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A checked-out connection; back to the pool on drop (unless it broke).
pub(crate) struct Conn<'p> {
    pool: &'p Pool,
    connection: Option<Connection>,
}

impl Conn<'_> {
    pub(crate) fn get(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("a checked-out connection")
    }
}

impl Connection {
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The statement for `sql`, prepared once per connection.
    pub(crate) fn statement(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(self.client.prepare(sql))?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Runs statements without parameters (transaction control, schema scripts).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), tokio_postgres::Error> {
        block_on(self.client.batch_execute(sql))
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.give_back(connection);
        }
    }
}

struct Slots {
    idle: Vec<Connection>,
    /// Connections open, idle or checked out.
    open: usize,
}

/// Up to `max` connections, opened when needed.
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    max: usize,
    slots: Mutex<Slots>,
    freed: Condvar,
    driver: Driver,
}

impl Pool {
    pub(crate) fn new(config: tokio_postgres::Config, max: usize) -> Result<Pool, String> {
        Ok(Pool {
            config,
            max,
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            driver: Driver::start()?,
        })
    }

    /// An idle connection, a new one while fewer than `max` are open, or the next one given back.
    /// The error says why a connection could not be opened.
    pub(crate) fn checkout(&self) -> Result<Conn<'_>, String> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(connection) = slots.idle.pop() {
                return Ok(Conn {
                    pool: self,
                    connection: Some(connection),
                });
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return match self.connect() {
                    Ok(connection) => Ok(Conn {
                        pool: self,
                        connection: Some(connection),
                    }),
                    Err(e) => {
                        self.forget_one();
                        Err(e)
                    }
                };
            }
            slots = self.freed.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn connect(&self) -> Result<Connection, String> {
        let config = self.config.clone();
        let connecting = self.driver.handle.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            // The socket is served on the driver's runtime until the client is dropped.
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(%error, "PostgreSQL connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = match block_on(connecting) {
            Ok(result) => result.map_err(|e| super::sql_text(&e))?,
            Err(e) => return Err(format!("the database I/O runtime failed: {e}")),
        };
        Ok(Connection {
            client,
            statements: HashMap::new(),
        })
    }

    fn give_back(&self, connection: Connection) {
        if connection.client.is_closed() {
            self.forget_one();
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.idle.push(connection);
        drop(slots);
        self.freed.notify_one();
    }

    /// A connection closed: room for a new one.
    fn forget_one(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.open -= 1;
        drop(slots);
        self.freed.notify_one();
    }
}
