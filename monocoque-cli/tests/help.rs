//! `mq --help`, `mq COMMAND --help` and `mq completions SHELL`: each
//! command's help names its own options and no other command's, the
//! top-level help lists the commands, and the completion scripts are
//! scripts. No colour, ever: scripts compare this text.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

const MQ: &str = env!("CARGO_BIN_EXE_mq");

/// `mq ARGS`: exit code and stdout; a usage or runtime failure's stderr in
/// the panic message.
fn mq(args: &[&str]) -> (i32, String) {
    let out = Command::new(MQ)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let code = out.status.code().unwrap();
    assert!(code != 0 || stderr.is_empty(), "{args:?}: {stderr}");
    (code, stdout)
}

/// What `mq ARGS` prints, which must succeed and have no escape codes.
fn help(args: &[&str]) -> String {
    let (code, text) = mq(args);
    assert_eq!(code, 0, "{args:?}");
    assert!(!text.contains('\x1b'), "{args:?}: colour in {text}");
    text
}

/// Every `--name` the text mentions.
fn options(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.len() > 2 && w.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

const SOCKET: &[&str] = &[
    "--count",
    "--timeout",
    "--subscribe",
    "--identity",
    "--hwm",
    "--maxmsgsize",
    "--linger",
    "--heartbeat",
    "--plain-server",
    "--plain",
    "--curve-server",
    "--curve-serverkey",
    "--curve-secret",
    "--curve-allow",
    "--monitor",
    "--wait-peers",
    "--format",
    "--sep",
];

const TABLE: &[&str] = &[
    "--cases",
    "--transports",
    "--sizes",
    "--subscribers",
    "--count",
    "--reps",
    "--json",
    "--svg",
    "--curve",
    "--libzmq-perf",
];

#[track_caller]
fn assert_mentions(args: &[&str], own: &[&str], foreign: &[&str]) -> String {
    let text = help(args);
    let seen = options(&text);
    for opt in own {
        assert!(seen.contains(*opt), "{args:?} lacks {opt}:\n{text}");
    }
    for opt in foreign.iter().filter(|o| !own.contains(o)) {
        assert!(!seen.contains(*opt), "{args:?} mentions {opt}:\n{text}");
    }
    text
}

#[test]
fn each_command_s_help_is_its_own() {
    let others: Vec<&str> = TABLE
        .iter()
        .chain(&["--capture", "--lib"])
        .copied()
        .collect();
    for sub in ["send", "recv", "reply", "request"] {
        let text = assert_mentions(&[sub, "--help"], SOCKET, &others);
        assert!(text.contains(&format!("Usage: mq {sub} ")), "{text}");
        assert!(text.contains("Examples:"), "{sub}: {text}");
        // `mq help COMMAND` and `-h` say the same.
        assert_eq!(help(&["help", sub]), text);
        assert_eq!(help(&[sub, "-h"]), text);
    }
    let mut proxy: Vec<&str> = SOCKET.to_vec();
    proxy.push("--capture");
    assert_mentions(&["proxy", "--help"], &proxy, &others);

    let mut not_bench: Vec<&str> = SOCKET.to_vec();
    not_bench.push("--capture");
    let bench = assert_mentions(&["bench", "--help"], TABLE, &not_bench);
    for role in ["local-thr", "remote-thr", "local-lat", "remote-lat"] {
        assert!(bench.contains(role), "{bench}");
        let mut foreign = not_bench.clone();
        foreign.extend(TABLE);
        let text = assert_mentions(&["bench", role, "--help"], &["--lib"], &foreign);
        assert!(text.contains(&format!("Usage: mq bench {role} ")), "{text}");
        assert!(text.contains("<ENDPOINT> <SIZE> <COUNT> [curve]"), "{text}");
    }

    let mut everything = not_bench;
    everything.extend(TABLE);
    everything.push("--lib");
    let keygen = assert_mentions(&["keygen", "--help"], &[], &everything);
    assert!(keygen.contains("Z85"), "{keygen}");
    let completions = assert_mentions(&["completions", "--help"], &[], &everything);
    for shell in ["bash", "zsh", "fish"] {
        assert!(completions.contains(shell), "{completions}");
    }
}

#[test]
fn top_level_help_lists_the_commands() {
    let text = help(&["--help"]);
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "send",
            "recv",
            "reply",
            "request",
            "proxy",
            "bench",
            "keygen",
            "completions",
            "help"
        ],
        "{text}"
    );
    // No command's own options at the top.
    assert!(!options(&text).contains("--curve-server"), "{text}");
    assert_eq!(help(&["help"]), help(&["-h"]));
    assert_ne!(help(&["send", "--help"]), text);
}

#[test]
fn completions_print_a_script() {
    let bash = help(&["completions", "bash"]);
    assert!(bash.contains("complete -F _mq"), "{bash}");
    for word in ["send", "local-thr", "--curve-serverkey", "--libzmq-perf"] {
        assert!(bash.contains(word), "no {word} in the bash script");
    }
    // bash itself reads it and registers the completion.
    let mut sh = Command::new("bash")
        .args([
            "--norc",
            "--noprofile",
            "-c",
            "source /dev/stdin; complete -p mq",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sh.stdin.take().unwrap().write_all(bash.as_bytes()).unwrap();
    let out = sh.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("_mq"));

    assert!(help(&["completions", "zsh"]).starts_with("#compdef mq"));
    assert!(help(&["completions", "fish"]).contains("complete -c mq"));
    assert_eq!(mq(&["completions", "tcsh"]).0, 2);
    assert_eq!(mq(&["completions"]).0, 2);
}
