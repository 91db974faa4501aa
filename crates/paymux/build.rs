//! The commit the binary is built from, for `paymux --version` and the start-up log line:
//! `PAYMUX_COMMIT` when the build sets it (a container build without `.git`), else what git
//! says, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PAYMUX_COMMIT");
    for path in [
        "../../.git/HEAD",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = std::env::var("PAYMUX_COMMIT")
        .ok()
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        })
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PAYMUX_COMMIT={commit}");
}
