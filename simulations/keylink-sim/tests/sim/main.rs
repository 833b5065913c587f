//! The simulator under test: repeatability, many seeds with faults, the
//! regression seeds, and that a broken invariant is caught.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keylink_sim::{Config, Report, Transport, run};

/// A small world: a few accounts, each linking, backing up and revoking.
fn small(seed: u64) -> Config {
    Config {
        seed,
        accounts: 3,
        devices_per_account: 3,
        ops_per_account: 8,
        concurrency: 3,
        transport: Transport::SimQuic,
        faults: true,
        production_every: 0,
        ..Config::default()
    }
}

fn violations(r: &Report) -> String {
    r.violations
        .iter()
        .map(|v| {
            format!(
                "seed {} {}: {} — {}\n    {}",
                r.seed,
                v.place(),
                v.check.name(),
                v.detail,
                v.trace.join("\n    ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn figures(r: &Report) -> String {
    // Everything but wall time and memory, which the machine decides.
    format!(
        "{:?} {:?} {:?} {:?} {:?} {}",
        r.ops,
        r.faults,
        r.network
            .map(|n| (n.sent, n.delivered, n.lost, n.duplicated, n.bytes)),
        r.checks,
        r.latency,
        r.virtual_s
    )
}

#[test]
fn a_seed_repeats_its_operations_packets_and_figures() {
    for transport in [Transport::SimQuic, Transport::Memory] {
        let config = |seed| Config {
            transport,
            ..small(seed)
        };
        let a = run(&config(42), |_, _| {}).unwrap();
        let b = run(&config(42), |_, _| {}).unwrap();
        assert!(
            a.total_ops > 20,
            "{transport:?}: the run did something: {} operations",
            a.total_ops
        );
        if transport == Transport::SimQuic {
            assert!(
                a.network.unwrap().sent > 1_000,
                "packets went through the simulated network"
            );
        }
        assert_eq!(
            a.trace_hash, b.trace_hash,
            "{transport:?}: same seed, same trace"
        );
        assert_eq!(
            figures(&a),
            figures(&b),
            "{transport:?}: same seed, same figures"
        );
        let c = run(&config(43), |_, _| {}).unwrap();
        assert_ne!(
            a.trace_hash, c.trace_hash,
            "{transport:?}: another seed, another trace"
        );
    }
}

/// How many seeds the sweep runs: 200 by default, more from
/// `KEYLINK_SIM_SEEDS` (`.ci/run` asks for 2,000).
fn sweep_size() -> u64 {
    std::env::var("KEYLINK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// Run `seeds` on two threads (this machine's cores), returning every
/// report.
fn run_seeds(mut configs: Vec<Config>) -> Vec<Report> {
    // Biggest last: the two threads pop from the end.
    configs.sort_by_key(|c| c.accounts);
    let configs = std::sync::Arc::new(std::sync::Mutex::new(configs));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let configs = configs.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let Some(c) = configs.lock().unwrap().pop() else {
                        break;
                    };
                    out.push(run(&c, |_, _| {}).unwrap());
                }
                out
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn many_seeds_with_faults_break_no_invariant() {
    // All of them on the in-memory transport, a quarter again over QUIC on
    // the simulated network (loss, duplication, reordering, partitions).
    let n = sweep_size();
    let one = |s: u64, transport| Config {
        accounts: 1,
        devices_per_account: 3,
        ops_per_account: 10,
        concurrency: 1,
        transport,
        ..small(1_000 + s)
    };
    let configs = (0..n)
        .map(|s| one(s, Transport::Memory))
        .chain((0..n / 4).map(|s| one(s, Transport::SimQuic)))
        .collect();
    let reports = run_seeds(configs);
    assert_eq!(reports.len() as u64, n + n / 4);
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(violations)
        .collect();
    assert!(
        bad.is_empty(),
        "violations (add each seed to simulations/seeds.txt):\n{}",
        bad.join("\n")
    );
    let ops: u64 = reports.iter().map(|r| r.total_ops).sum();
    let checks: u64 = reports
        .iter()
        .flat_map(|r| r.checks.iter().map(|c| c.1))
        .sum();
    let fired: u64 = reports
        .iter()
        .flat_map(|r| r.attacks.iter().map(|a| a.1.fired))
        .sum();
    assert!(ops >= n * 10, "{ops} operations over {n} seeds");
    assert!(checks >= n * 10, "{checks} checks over {n} seeds");
    assert!(
        fired >= n / 4,
        "the malicious server attacked: {fired} attacks fired"
    );
}

#[test]
fn regression_seeds_replay_clean() {
    let text = include_str!("../../../seeds.txt");
    let mut configs = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| {
            f[i].parse::<usize>()
                .unwrap_or_else(|_| panic!("bad seeds.txt line: {line}"))
        };
        assert_eq!(f.len(), 5, "seeds.txt lines have five fields: {line}");
        configs.push(Config {
            seed: f[0]
                .parse()
                .unwrap_or_else(|_| panic!("bad seed in seeds.txt: {line}")),
            accounts: num(1),
            devices_per_account: num(2),
            ops_per_account: num(3),
            production_every: num(4),
            ..Config::default()
        });
    }
    assert!(!configs.is_empty(), "seeds.txt lists seeds");
    for r in run_seeds(configs) {
        assert!(r.violations.is_empty(), "{}", violations(&r));
    }
}

#[test]
fn a_secret_in_storage_is_reported() {
    let r = run(
        &Config {
            plant_secret: true,
            transport: Transport::Memory,
            ..small(7)
        },
        |_, _| {},
    )
    .unwrap();
    let found: Vec<_> = r
        .violations
        .iter()
        .filter(|v| v.check.name() == "no_secret_in_storage")
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the planted key is found once: {}",
        violations(&r)
    );
    assert!(found[0].detail.contains("planted"), "{}", found[0].detail);
}

#[test]
fn a_small_run_over_real_udp_on_loopback() {
    // Real sockets and real time: no slow approvers or crashes (they would
    // wait in real seconds); the malicious server stays on.
    let r = run(
        &Config {
            transport: Transport::Udp,
            faults: false,
            accounts: 2,
            ops_per_account: 6,
            ..small(11)
        },
        |_, _| {},
    )
    .unwrap();
    assert!(r.violations.is_empty(), "{}", violations(&r));
    assert!(r.network.is_none(), "no simulated network over UDP");
    let ok: u64 = r.ops.iter().map(|(_, c)| c.ok).sum();
    assert!(ok >= 10, "{ok} operations succeeded over UDP");
}
