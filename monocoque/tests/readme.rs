//! Every Rust snippet of the README, built and run as a user would: in a
//! scratch crate outside this workspace whose only dependency is
//! `monocoque` (by path), plus tokio for the snippets that say
//! `#[tokio::main]` (an executor is what an async snippet needs). A
//! snippet without `fn main` is a body that may use `?`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The README's ```rust blocks, in order.
fn snippets(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in readme.lines() {
        match &mut cur {
            None if line.trim_start() == "```rust" => cur = Some(String::new()),
            Some(_) if line.trim_start() == "```" => out.extend(cur.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// A snippet as a program.
fn program(snippet: &str) -> String {
    if snippet.contains("fn main") {
        return snippet.to_owned();
    }
    let (uses, body): (Vec<&str>, Vec<&str>) = snippet.lines().partition(|l| l.starts_with("use "));
    format!(
        "{}\nfn main() -> Result<(), Box<dyn std::error::Error>> {{\n{}\nOk(())\n}}\n",
        uses.join("\n"),
        body.join("\n")
    )
}

/// Makes a scratch crate at `dir` with one binary per program.
fn scratch(dir: &Path, programs: &[(String, String)], tokio: bool) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("src/bin")).unwrap();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut deps = format!("monocoque = {{ path = {:?} }}\n", lib.display().to_string());
    if tokio {
        deps.push_str(
            "tokio = { version = \"1\", default-features = false, features = [\"rt\", \"macros\", \"time\"] }\n",
        );
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-snippets\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             # Not part of any workspace above it.\n[workspace]\n\n[dependencies]\n{deps}"
        ),
    )
    .unwrap();
    // The workspace's lock: the same versions, none fetched.
    std::fs::copy(lib.join("../Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    for (name, code) in programs {
        std::fs::write(dir.join(format!("src/bin/{name}.rs")), code).unwrap();
    }
}

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // Nothing of this build's environment leaks into the user's build.
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_") && k != "CARGO_HOME" {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUSTFLAGS")
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-target"),
        )
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_readme_snippet_builds_and_runs_in_a_crate_of_its_own() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let all = snippets(&readme);
    assert!(all.len() >= 5, "found {} snippets", all.len());
    let (with_tokio, plain): (Vec<_>, Vec<_>) = all
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("snippet_{i}"), program(s)))
        .partition(|(_, p)| p.contains("tokio::"));
    for (suffix, programs, tokio) in [("plain", plain, false), ("tokio", with_tokio, true)] {
        if programs.is_empty() {
            continue;
        }
        let dir: PathBuf =
            std::env::temp_dir().join(format!("monocoque-readme-{suffix}-{}", std::process::id()));
        scratch(&dir, &programs, tokio);
        let built = cargo(&dir, &["build", "--offline", "--bins", "--quiet"]);
        assert!(
            built.status.success(),
            "the README's snippets do not build:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        for (name, code) in &programs {
            let ran = cargo(&dir, &["run", "--offline", "--quiet", "--bin", name]);
            assert!(
                ran.status.success(),
                "{name} failed:\n{code}\n{}{}",
                String::from_utf8_lossy(&ran.stdout),
                String::from_utf8_lossy(&ran.stderr)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
