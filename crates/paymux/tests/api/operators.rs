//! The management console's operators, managed from a script as an installer would: the
//! password on stdin, hashed (argon2id) before it is stored, every change in the audit log.

use crate::helpers::{BIN, TestServer, cli};
use std::io::Write;
use std::process::{Command, Stdio};

/// `paymux ARGS` with `stdin` piped in: success, stdout, stderr.
fn cli_with_stdin(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run paymux");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn operators_are_managed_from_a_script_and_every_change_is_audited() {
    let server = TestServer::start().await;
    let storage = server.storage_args();
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(storage.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |args: &[&str], stdin: &str| {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli_with_stdin(&args, stdin)
    };

    let (ok, _, stderr) = run(
        &[
            "operators",
            "add",
            "ops@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "first admin password\n",
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(
        &[
            "operators",
            "add",
            "agent",
            "--role",
            "support",
            "--password-stdin",
        ],
        "agent password 1234\n",
    );
    assert!(ok, "{stderr}");

    // Refused, and nothing changes: a short password, a taken name, a bad name, a bad role.
    let (ok, _, stderr) = run(
        &[
            "operators",
            "add",
            "short",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        "tooshort\n",
    );
    assert!(!ok && stderr.contains("12 characters"), "{stderr}");
    let (ok, _, stderr) = run(
        &[
            "operators",
            "add",
            "agent",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        "another password 99\n",
    );
    assert!(!ok && stderr.contains("already"), "{stderr}");
    let (ok, _, stderr) = run(
        &[
            "operators",
            "add",
            "two words",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        "another password 99\n",
    );
    assert!(!ok && stderr.contains("letters, digits"), "{stderr}");
    let (ok, _, _) = run(
        &[
            "operators",
            "add",
            "root",
            "--role",
            "root",
            "--password-stdin",
        ],
        "another password 99\n",
    );
    assert!(!ok);

    let listed = with(&["operators", "list", "--json"]);
    let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
    let (ok, stdout, stderr) = cli(&listed);
    assert!(ok, "{stderr}");
    let operators: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let names: Vec<(&str, &str)> = operators
        .as_array()
        .expect("list")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap_or(""),
                o["role"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(names, [("agent", "support"), ("ops@example.com", "admin")]);
    assert!(!stdout.contains("argon2"), "no hash is shown: {stdout}");

    // The last admin stays while others remain; a password can be changed; an operator removed.
    let (ok, _, stderr) = run(&["operators", "remove", "ops@example.com"], "");
    assert!(!ok && stderr.contains("last admin"), "{stderr}");
    let (ok, _, stderr) = run(
        &["operators", "passwd", "agent", "--password-stdin"],
        "a new agent password\n",
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&["operators", "remove", "agent"], "");
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&["operators", "remove", "nobody"], "");
    assert!(!ok && stderr.contains("No such operator"), "{stderr}");

    // The password is stored as an argon2id hash, never as itself.
    let db = server.open_db().await;
    let mut conn = db.reader().acquire().await.expect("conn");
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM operators")
        .fetch_one(&mut *conn)
        .await
        .expect("one operator");
    assert!(hash.starts_with("$argon2id$") && !hash.contains("first admin"));

    let audit = with(&["audit", "--json"]);
    let audit: Vec<&str> = audit.iter().map(String::as_str).collect();
    let (ok, stdout, stderr) = cli(&audit);
    assert!(ok, "{stderr}");
    let entries: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["target"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("operator.remove", "agent"),
            ("operator.password", "agent"),
            ("operator.add", "agent"),
            ("operator.add", "ops@example.com"),
        ],
        "newest first, refused changes not recorded"
    );
    assert!(entries.iter().all(|e| e["actor"] == "cli"));
}
