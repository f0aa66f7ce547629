//! Network partitions at the kernel: iptables rules that drop every packet from or to
//! one loopback address, for the crash test and the rejoin test. A node is matched by
//! its address, so the cluster must give each node its own
//! ([`LocalCluster::use_node_addresses`](crate::local::LocalCluster::use_node_addresses)).
//!
//! Rules carry a comment; each partition removes its own on [`KernelPartition::heal`]
//! or drop (a failing test too), and [`KernelPartition::cut`] first removes any a
//! killed earlier run left behind. Needs root and the `iptables` command.

use std::net::IpAddr;
use std::process::Command;

/// The comment on every rule this module adds.
const COMMENT: &str = "raft-kv-test-partition";

fn iptables(args: &[String]) -> Result<(), String> {
    let output = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|error| format!("iptables: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// One address cut off; healed on drop.
#[derive(Debug)]
pub struct KernelPartition {
    rules: Vec<Vec<String>>,
}

impl KernelPartition {
    /// Why kernel partitions cannot run here (not root, no iptables), if they cannot.
    pub fn unavailable() -> Option<String> {
        let uid = Command::new("id").arg("-u").output();
        if !uid.is_ok_and(|output| output.stdout.starts_with(b"0\n")) {
            return Some("not running as root".into());
        }
        iptables(&["-L".into(), "INPUT".into(), "-n".into()])
            .err()
            .map(|why| format!("iptables unavailable ({why}); apt-get install iptables"))
    }

    /// Drops every packet from or to `ip` until healed.
    ///
    /// # Errors
    /// What iptables said when a rule could not be added (any rule added is removed).
    pub fn cut(ip: IpAddr) -> Result<Self, String> {
        Self::remove_stale();
        let mut partition = Self { rules: Vec::new() };
        for direction in ["-s", "-d"] {
            let rule: Vec<String> = [
                "INPUT",
                direction,
                &ip.to_string(),
                "-m",
                "comment",
                "--comment",
                COMMENT,
                "-j",
                "DROP",
            ]
            .iter()
            .map(|part| (*part).to_owned())
            .collect();
            let mut insert = vec!["-I".to_owned()];
            insert.extend(rule.iter().cloned());
            iptables(&insert)?;
            partition.rules.push(rule);
        }
        Ok(partition)
    }

    /// Removes the rules: packets flow again.
    pub fn heal(&mut self) {
        for rule in self.rules.drain(..) {
            let mut delete = vec!["-D".to_owned()];
            delete.extend(rule);
            let _ = iptables(&delete);
        }
    }

    /// Removes rules a killed earlier run left behind.
    pub fn remove_stale() {
        let Ok(output) = Command::new("iptables")
            .args(["-w", "-S", "INPUT"])
            .output()
        else {
            return;
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(rule) = line.strip_prefix("-A ")
                && rule.contains(COMMENT)
            {
                let mut delete = vec!["-D".to_owned()];
                delete.extend(
                    rule.split_whitespace()
                        .map(|part| part.trim_matches('"').to_owned()),
                );
                let _ = iptables(&delete);
            }
        }
    }
}

impl Drop for KernelPartition {
    fn drop(&mut self) {
        self.heal();
    }
}
