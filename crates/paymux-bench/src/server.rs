//! Driving the `paymux` binary: `init`, `keys set-merchant-public-key`, `serve`, on the SQLite
//! store in its data directory or on a throwaway PostgreSQL database; and reading the CPU time
//! of the server (and of PostgreSQL) from `/proc`.

use anyhow::{Context, bail};
use serde::Deserialize;
use sqlx::{AnyConnection, Connection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What `paymux init --json` prints (the fields the benchmark needs).
#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub app_id: String,
    pub test_secret_key: String,
}

pub struct Paymux {
    bin: PathBuf,
    /// `--data-dir DIR`, plus `--database-url URL [--database-pool-size N]` on PostgreSQL.
    storage: Vec<String>,
}

impl Paymux {
    /// `database`: a PostgreSQL URL and pool size (`None`: the server's default); without
    /// it, the server uses SQLite in `data_dir`. On PostgreSQL `data_dir` still holds
    /// `credentials.json`.
    pub fn new(
        bin: &Path,
        data_dir: &Path,
        database: Option<(&str, Option<u32>)>,
    ) -> anyhow::Result<Self> {
        if !bin.is_file() {
            bail!(
                "server binary {} not found; build it with `cargo build --release -p paymux` \
                 or pass --server-bin",
                bin.display()
            );
        }
        let data_dir = data_dir
            .to_str()
            .context("data directory path is not UTF-8")?;
        let mut storage = vec!["--data-dir".to_owned(), data_dir.to_owned()];
        if let Some((url, pool_size)) = database {
            storage.extend(["--database-url".to_owned(), url.to_owned()]);
            if let Some(size) = pool_size {
                storage.extend(["--database-pool-size".to_owned(), size.to_string()]);
            }
        }
        Ok(Self {
            bin: bin.to_owned(),
            storage,
        })
    }

    /// `paymux ARGS… STORAGE…`, with no settings from the environment (every `PAYMUX_…`
    /// variable is cleared: storage, config file, webhook concurrency…): what the benchmark
    /// runs is only what it says.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(args).args(&self.storage);
        for (var, _) in std::env::vars_os() {
            if var.to_str().is_some_and(|v| v.starts_with("PAYMUX_")) {
                command.env_remove(var);
            }
        }
        command
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command(args)
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !output.status.success() {
            bail!(
                "`paymux {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8(output.stdout).context("paymux printed non-UTF-8 output")
    }

    pub async fn init(&self) -> anyhow::Result<Credentials> {
        let out = self.run(&["init", "--json"]).await?;
        serde_json::from_str(out.trim())
            .with_context(|| format!("unexpected `paymux init --json` output: {out}"))
    }

    /// Stores the merchant public key; `require` is `none`, `test`, `live` or `both`.
    pub async fn set_merchant_key(&self, pem_file: &Path, require: &str) -> anyhow::Result<()> {
        let file = pem_file.to_str().context("key file path is not UTF-8")?;
        self.run(&[
            "keys",
            "set-merchant-public-key",
            "--require-signature",
            require,
            file,
        ])
        .await?;
        Ok(())
    }

    /// Starts `paymux serve` on a free port and waits for its "listening" line.
    /// `extra` are further `serve` flags (e.g. `--webhook-concurrency 8`).
    /// The server's stderr goes to `log`.
    pub async fn serve(
        &self,
        log: &Path,
        sign_responses: bool,
        extra: &[String],
    ) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sign-responses",
            if sign_responses { "true" } else { "false" },
        ];
        args.extend(extra.iter().map(String::as_str));
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let wait_for_address = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(address) = line.strip_prefix("paymux listening on ") {
                    return Ok(address.trim().to_owned());
                }
            }
            bail!("the server closed stdout before listening")
        };
        let base_url = tokio::time::timeout(Duration::from_secs(30), wait_for_address)
            .await
            .context("the server did not report its address within 30 s")?
            .with_context(|| format!("the server failed to start:\n{}", log_tail(log)))?;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            base_url,
            log: log.to_owned(),
        })
    }
}

pub struct Server {
    child: Child,
    pub pid: u32,
    pub base_url: String,
    log: PathBuf,
}

impl Server {
    /// Fails, quoting the end of the server's log, if the server has exited (crashed) on its own.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!(
                "the server exited during the benchmark ({status}); its log ends:\n{}",
                log_tail(&self.log)
            ),
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it has not exited within 5 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.check_alive()?;
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("server did not stop within 5 s of SIGTERM; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// The last lines of the server's log, for error messages (the log is deleted with the
/// temporary directory).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The connections to the database at `url` other than this query's own: (all, with TLS).
/// sqlx uses TLS whenever the server offers it, unless the URL says `?sslmode=disable`.
pub async fn postgres_connections(url: &str) -> anyhow::Result<(i64, i64)> {
    let mut conn = connect(url).await?;
    let counts = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(counts)
}

async fn connect(url: &str) -> anyhow::Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url)
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// `/proc` reports CPU time in USER_HZ ticks, which is 100 on every Linux platform.
const TICKS_PER_SEC: f64 = 100.0;

/// Parses `comm` and utime+stime (seconds) from a `/proc/…/stat` line.
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After "pid (comm) " the fields are numbered from 3 (state); utime is 14 and stime 15.
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / TICKS_PER_SEC))
}

/// A process's resident memory now and at its peak so far, in KiB (`VmRSS`, `VmHWM` of
/// `/proc/<pid>/status`), if `/proc` is there.
pub fn resident_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU seconds used so far by a process (`"self"` or a pid), if `/proc` is there.
pub fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, secs)| secs)
}

/// CPU seconds all processes on the machine have used so far (`/proc/stat`: everything but
/// idle and iowait), to tell how much other work ran during a measurement.
pub fn machine_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy / TICKS_PER_SEC)
}

/// CPU seconds used so far by each process called `comm` (e.g. every `postgres` backend),
/// by pid.
pub fn processes_cpu(comm: &str) -> BTreeMap<u32, f64> {
    let mut by_pid = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return by_pid;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some((name, secs)) = parse_stat(&stat)
            && name == comm
        {
            by_pid.insert(pid, secs);
        }
    }
    by_pid
}

/// CPU seconds the processes of a `processes_cpu` sample used since an earlier one (a process
/// started in between counts from zero; one that ended in between is lost).
pub fn processes_cpu_since(before: &BTreeMap<u32, f64>, after: &BTreeMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, secs)| secs - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

/// CPU seconds per thread name (threads of one name summed), e.g. `tokio-runtime-w`.
pub fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if let Some((comm, secs)) = parse_stat(&stat) {
            *by_name.entry(comm).or_insert(0.0) += secs;
        }
    }
    by_name
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn stat_line_with_spaces_in_comm() {
        let line = "42 (tokio runtime) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 4 0";
        let (comm, secs) = parse_stat(line).expect("parses");
        assert_eq!(comm, "tokio runtime");
        assert!((secs - 3.0).abs() < 1e-9);
    }
}
