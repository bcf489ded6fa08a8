//! What the benchmarks share: the release server in its own process.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The secret the benchmarks' server and tokens share.
pub const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

/// `target/release/comptoir serve` on a free port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on `database_url` with the clock fixed at `now`,
    /// and waits until it answers `/readyz`.
    pub async fn start(database_url: &str, dir: &std::path::Path, now: &str) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/comptoir");
        assert!(
            binary.exists(),
            "build the release binary first (make bench does)"
        );
        let child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("COMPTOIR_ADDR", format!("127.0.0.1:{port}"))
            .env("COMPTOIR_JWT_SECRET", SECRET)
            .env("COMPTOIR_NOW", now)
            // Billing runs make drafts that wait an hour: the benchmark
            // times the run and the finalizer apart.
            .env("COMPTOIR_INVOICE_GRACE", "1h")
            .env("COMPTOIR_DATA_DIR", dir.join("data"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }
}
