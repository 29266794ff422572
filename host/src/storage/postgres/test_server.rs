//! Test support: a throwaway PostgreSQL server for tests of the PostgreSQL store (the host's
//! unit tests and `tests/all`). Not for production use.
//!
//! [`PostgresServer::start`] finds `initdb` and `postgres` on `PATH` or under
//! `/usr/lib/postgresql/*/bin`, makes a cluster in a temporary directory (as the `postgres`
//! user when running as root: `initdb` refuses root), starts it on a free loopback port with
//! `fsync=off`, and waits until it accepts connections. [`PostgresServer::database`] creates a
//! fresh database and answers its URL. Dropping the server stops it and deletes its files.
//!
//! ```no_run
//! use plaza_host::storage::postgres::test_server::PostgresServer;
//! let server = PostgresServer::start();           // panics, saying why, if it cannot
//! let url = server.database();                    // postgres://postgres@127.0.0.1:PORT/plaza_1
//! let store = plaza_host::storage::postgres::PostgresStore::open(&url).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The user that owns the cluster when the tests run as root.
const SERVICE_USER: &str = "postgres";

/// How long the server may take to accept connections.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// A PostgreSQL server of the test's own, stopped on drop.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    databases: AtomicU32,
}

/// Where `initdb` and `postgres` are.
fn find_bin_dir() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in &on_path {
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir.clone());
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    // The newest version first (numeric directory names).
    versions.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    versions
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .ok_or_else(|| {
            "the PostgreSQL server is not installed: `initdb` and `postgres` are neither on PATH nor under \
             /usr/lib/postgresql/*/bin (install the Debian package `postgresql`; `cargo xtask test` does)"
                .to_string()
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The uid and gid of `user`.
fn ids_of(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("running `id {flag} {user}`: {e}"))?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
            format!(
                "there is no user `{user}` to run PostgreSQL as (initdb refuses root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// The tail of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl PostgresServer {
    /// Starts a server; panics with the reason when it cannot (PostgreSQL not installed, ...).
    pub fn start() -> PostgresServer {
        PostgresServer::try_start().unwrap_or_else(|e| panic!("cannot start a PostgreSQL server for the test: {e}"))
    }

    /// Starts a server.
    pub fn try_start() -> Result<PostgresServer, String> {
        let bin = find_bin_dir()?;
        let as_service_user = is_root();
        let dir = tempfile::Builder::new()
            .prefix("plaza-pg-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        if as_service_user {
            let (uid, gid) = ids_of(SERVICE_USER)?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("giving {} to `{SERVICE_USER}`: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let log = dir.path().join("initdb.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let status = command(&bin, "initdb", as_service_user)
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .status()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !status.success() {
            return Err(format!("initdb failed ({status}):\n{}", tail(&log)));
        }
        let port = free_port()?;
        let log = dir.path().join("postgres.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let child = command(&bin, "postgres", as_service_user)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let mut server = PostgresServer {
            dir,
            port,
            child,
            databases: AtomicU32::new(0),
        };
        server.wait_until_ready(&log)?;
        Ok(server)
    }

    /// Waits for the postmaster to say `ready` in `postmaster.pid` (its status line).
    fn wait_until_ready(&mut self, log: &Path) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("postgres exited ({status}):\n{}", tail(log)));
            }
            let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap_or_default();
            if pid_file.lines().nth(7).is_some_and(|status| status.trim() == "ready") {
                return Ok(());
            }
            if started.elapsed() > STARTUP_LIMIT {
                return Err(format!(
                    "postgres did not accept connections within {STARTUP_LIMIT:?}:\n{}",
                    tail(log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (which must exist: the `postgres` database always does).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh, empty database and answers its URL.
    pub fn database(&self) -> String {
        self.try_database().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`database`](Self::database), answering why it failed.
    pub fn try_database(&self) -> Result<String, String> {
        let name = format!("plaza_{}", self.databases.fetch_add(1, Ordering::SeqCst) + 1);
        // Over the protocol, as a client would: Debian does not put `createdb` on PATH.
        let config: tokio_postgres::Config = self.url("postgres").parse().map_err(|e| format!("{e}"))?;
        let pool = super::pool::Pool::new(config, 1)?;
        let mut conn = pool.checkout()?;
        conn.get()
            .batch(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("creating database {name}: {}", super::sql_text(&e)))?;
        Ok(self.url(&name))
    }
}

/// `program` from `bin`, run as the service user when we are root.
fn command(bin: &Path, program: &str, as_service_user: bool) -> Command {
    if as_service_user {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVICE_USER, "--"]).arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // The postmaster is runuser's child when run as root: signal it by its pid file
        // (SIGQUIT: immediate shutdown; the data is thrown away).
        let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap_or_default();
        match pid_file.lines().next().map(str::trim) {
            Some(pid) if !pid.is_empty() => {
                let _ = Command::new("kill").args(["-QUIT", pid]).status();
            }
            _ => {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}
