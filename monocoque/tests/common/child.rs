//! Peers in processes of their own: the test binary runs itself again
//! with a role named in the environment (inside a network namespace, or
//! to be killed with SIGKILL and started again). The parent writes
//! commands, one a line, to the child's stdin; the child reports on its
//! stdout in lines marked `@@` (the test harness's own lines are left
//! aside).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The variable naming the role a child process plays.
pub const ROLE: &str = "MONOCOQUE_TEST_ROLE";

/// The role this process was started to play, if any.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A child's report: `@@` and the line, flushed at once.
pub fn report(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@@{}", line.as_ref());
    let _ = out.flush();
}

/// The lines the parent writes to a child's stdin, one at a time, on a
/// channel (the channel closes when stdin does: the parent is gone).
pub fn commands() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running child playing a role; killed (SIGKILL) and reaped on drop.
/// Its stderr is kept and shown when the test fails.
#[derive(Debug)]
pub struct Child {
    name: String,
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// Reports read but not yet returned by [`wait`](Self::wait).
    pending: std::collections::VecDeque<String>,
    stderr: Arc<Mutex<String>>,
}

impl Child {
    /// Starts `cmd` (the test binary, or `ip netns exec ... <it>`) running
    /// the test `entry` alone with `role` and `env` in its environment.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        entry: &str,
        role: &str,
        env: &[(&str, String)],
    ) -> Child {
        cmd.args([entry, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        let (tx, lines) = mpsc::channel();
        let out = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("{name}: no stdout"));
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // (The harness's `test role ... ` has no newline: a first
                // report ends its line.)
                if let Some((_, l)) = line.split_once("@@") {
                    if tx.send(l.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child
            .stderr
            .take()
            .unwrap_or_else(|| panic!("{name}: no stderr"));
        let keep = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                keep.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        Child {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            pending: Default::default(),
            stderr,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Writes a command line to the child.
    pub fn say(&mut self, line: &str) {
        let name = &self.name;
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{name}: stdin closed"));
        writeln!(stdin, "{line}").unwrap_or_else(|e| panic!("{name}: cannot write: {e}"));
        stdin
            .flush()
            .unwrap_or_else(|e| panic!("{name}: cannot write: {e}"));
    }

    /// Waits up to `t` for the next report that starts with `prefix`
    /// (reports of other kinds stay for their own waits); returns the
    /// rest of the line.
    pub fn expect(&mut self, prefix: &str, t: Duration) -> String {
        match self.wait(prefix, t) {
            Some(rest) => rest,
            None => panic!(
                "{}: no `{prefix}` report within {t:?}; reports: {:?}; stderr:\n{}",
                self.name,
                self.seen,
                self.stderr()
            ),
        }
    }

    /// Like [`expect`](Self::expect), `None` after `t`.
    pub fn wait(&mut self, prefix: &str, t: Duration) -> Option<String> {
        if let Some(i) = self.pending.iter().position(|l| l.starts_with(prefix)) {
            let line = self.pending.remove(i)?;
            return Some(line[prefix.len()..].trim().to_owned());
        }
        let deadline = Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Some(rest.trim().to_owned());
                    }
                    self.pending.push_back(line);
                }
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left.min(Duration::from_millis(10)));
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }

    /// Every report read so far.
    pub fn seen(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line.clone());
            self.pending.push_back(line);
        }
        &self.seen
    }

    /// What the child wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes its stdin and waits up to `t` for it to exit; kills it then.
    /// Whether it exited successfully by itself.
    pub fn finish(&mut self, t: Duration) -> bool {
        self.stdin = None;
        let deadline = Instant::now() + t;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
        false
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- {} stderr ----\n{}", self.name, self.stderr());
        }
    }
}
