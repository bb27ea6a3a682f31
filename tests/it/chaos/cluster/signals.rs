//! The faults a machine inflicts on a process, and what is seen of it from
//! outside: `kill -9`, a restart, `SIGSTOP` / `SIGCONT`, a graceful
//! `SIGTERM`, whether it still runs, its memory.

use super::Cluster;
use std::{process::Command, time::Duration};

impl Cluster {
    /// The process id of `name`.
    pub fn pid(&self, name: &str) -> u32 {
        self.children[name].id()
    }

    fn signal(&self, name: &str, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid(name).to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {name}");
    }

    /// `kill -9`: no shutdown, no group leave, no offset commit.
    pub fn kill(&mut self, name: &str) {
        let mut child = self.children.remove(name).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Starts `name` again with its original arguments.
    pub fn restart(&mut self, name: &str) {
        self.start(name);
    }

    /// Freezes `name` (`SIGSTOP`): it stops heartbeating to its group.
    pub fn pause(&self, name: &str) {
        self.signal(name, "-STOP");
    }

    /// Resumes a frozen `name` (`SIGCONT`).
    pub fn resume(&self, name: &str) {
        self.signal(name, "-CONT");
    }

    /// Graceful stop (`SIGTERM`): drains, commits, leaves the group; waits
    /// for the exit and checks it was clean.
    pub async fn stop(&mut self, name: &str) {
        self.signal(name, "-TERM");
        let mut child = self.children.remove(name).unwrap();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "{name} exited with {status}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "{name} did not stop on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asserts `name` is still running (did not crash by itself).
    pub fn assert_running(&mut self, name: &str) {
        let child = self.children.get_mut(name).unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(&self.recipes[name].log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("{name} exited on its own with {status}:\n{tail}");
        }
    }

    /// Resident memory of `name`, in KiB (from /proc).
    pub fn rss_kib(&self, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(name))).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}
