//! Ping monitors against the real kernel: loopback over the socket this process may open
//! (raw, as root here), and in child processes in network namespaces of their own the
//! unprivileged datagram socket, the "not permitted" advice, an address that never answers
//! and a name that does not resolve; then the monitor API end to end: bad settings refused
//! with 422 and nothing appended, a ping monitor going up with its packet figures.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use watchfire::actors::monitor::checks::{CheckOutcome, Checker};
use watchfire::actors::monitor::ping::{self, PingError, SocketKind};
use watchfire::domain::monitor::defaults;
use watchfire::events::{MonitorConfig, MonitorKind, PingSettings};

use super::api::{start_in_process, wait_for, Api};
use super::helpers::reexec;

const MONITORS: &str = "/api/v1/monitors";
/// The environment variable that tells [`child_probe`] what to check; unset, it does nothing.
const MODE_VAR: &str = "WATCHFIRE_PING_CHILD";
/// The user and group `nobody`/`nogroup`, which hold no capability.
const NOBODY: &str = "65534";

fn ping_config(host: &str, count: u8, packet_timeout_ms: u32) -> MonitorConfig {
    MonitorConfig {
        name: "ping".to_owned(),
        host: Some(host.to_owned()),
        timeout_ms: 10_000,
        ping: Some(PingSettings {
            count,
            packet_timeout_ms,
            max_loss_percent: None,
        }),
        ..defaults(MonitorKind::Ping)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn check(config: &MonitorConfig) -> CheckOutcome {
    Checker::new().expect("a checker").check(config).await
}

/// Whether this process may not ping at all (neither socket is allowed): then the loopback
/// tests print a notice and skip, as the disk tests do where they cannot mount. The tests
/// run as root, which may always ping.
fn may_not_ping(outcome: &CheckOutcome) -> bool {
    let refused = outcome
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("not permitted to send ICMP"));
    if refused {
        eprintln!("notice: this process may not ping ({outcome:?}); skipping the loopback ping");
    }
    refused
}

/// Every reply of a loopback ping came, with round trips in order and a latency that is their mean.
fn assert_all_replied(outcome: &CheckOutcome, count: u32) {
    assert!(outcome.ok, "a loopback ping is up: {outcome:?}");
    let stats = outcome
        .ping
        .as_ref()
        .expect("a ping check carries its stats");
    assert_eq!((stats.sent, stats.received), (count, count), "{stats:?}");
    assert_eq!(stats.loss_percent(), 0.0);
    let (min, avg, max) = (
        stats.rtt_min_ms.expect("min"),
        stats.rtt_avg_ms.expect("avg"),
        stats.rtt_max_ms.expect("max"),
    );
    assert!(0.0 <= min && min <= avg && avg <= max, "{stats:?}");
    assert_eq!(
        outcome.latency_ms, avg,
        "a ping's latency is its mean round trip"
    );
}

#[test]
fn a_ping_of_loopback_gets_every_reply_with_its_round_trips() {
    runtime().block_on(async {
        let outcome = check(&ping_config("127.0.0.1", 3, 2_000)).await;
        if may_not_ping(&outcome) {
            return;
        }
        assert_all_replied(&outcome, 3);
        let outcome = check(&ping_config("localhost", 1, 2_000)).await;
        assert_all_replied(&outcome, 1);
    });
}

#[test]
fn a_ping_of_ipv6_loopback_gets_every_reply() {
    runtime().block_on(async {
        let outcome = check(&ping_config("[::1]", 2, 2_000)).await;
        if may_not_ping(&outcome) {
            return;
        }
        assert_all_replied(&outcome, 2);
    });
}

/// Runs [`child_probe`] in `mode` in a new network namespace whose loopback is up, whose
/// `ping_group_range` is `range`, and where 192.0.2.0/24 is routed into loopback, which
/// drops what is not addressed to it (so 192.0.2.1 never answers); as `nobody`
/// (no capability) unless `as_root`. Fails the test unless the child's checks pass.
fn in_namespace(mode: &str, range: &str, as_root: bool) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let probe = reexec("ping::child_probe");
    let args: Vec<String> = probe
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let drop_privileges = if as_root {
        String::new()
    } else {
        format!("setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups")
    };
    // Only the namespace's own loopback exists: nothing sent here leaves the machine.
    let script = format!(
        "set -e; ip link set lo up; echo '{range}' > /proc/sys/net/ipv4/ping_group_range; \
         ip addr add 192.0.2.2/32 dev lo; ip route add 192.0.2.0/24 dev lo; exec {drop_privileges} \"$0\" \"$@\""
    );
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .arg(&exe)
        .args(&args)
        .env(MODE_VAR, mode)
        .env_remove("RUST_LOG")
        .output()
        .expect("unshare runs (util-linux)");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && printed.contains("unshare failed") {
        // Making a network namespace needs root (CAP_SYS_ADMIN), as the tests run.
        eprintln!("notice: cannot make a network namespace, skipping the {mode} child: {printed}");
        return;
    }
    assert!(out.status.success(), "the {mode} child failed:\n{printed}");
    assert!(
        printed.contains("1 passed"),
        "the {mode} child ran its test:\n{printed}"
    );
}

/// The checks a namespaced child runs, chosen by [`MODE_VAR`]; nothing without it.
#[test]
fn child_probe() {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    runtime().block_on(async {
        match mode.as_str() {
            "datagram" => {
                for host in ["127.0.0.1", "::1"] {
                    let ip = ping::resolve(host).await.expect("an address");
                    let (_, kind) = ping::open(ip).expect("an unprivileged ICMP socket");
                    assert_eq!(kind, SocketKind::Datagram, "{host}");
                    let deadline = Instant::now() + Duration::from_secs(10);
                    let report = ping::ping(host, 3, Duration::from_secs(2), deadline)
                        .await
                        .expect("a ping");
                    assert_eq!(report.socket, SocketKind::Datagram);
                    assert_eq!((report.stats.sent, report.stats.received), (3, 3));
                    assert_all_replied(&check(&ping_config(host, 2, 2_000)).await, 2);
                }
            }
            "refused" => {
                let refused = ping::open("127.0.0.1".parse().expect("ip"));
                assert!(
                    matches!(
                        refused,
                        Err(PingError::NotPermitted {
                            uid: 65534,
                            gid: 65534
                        })
                    ),
                    "{refused:?}"
                );
                let outcome = check(&ping_config("127.0.0.1", 1, 1_000)).await;
                assert!(!outcome.ok);
                assert_eq!(outcome.ping, None);
                let error = outcome.error.unwrap_or_default();
                for advice in [
                    "not permitted",
                    "net.ipv4.ping_group_range",
                    "setcap cap_net_raw+ep",
                ] {
                    assert!(error.contains(advice), "{advice:?} in {error:?}");
                }
            }
            "unreachable" => {
                let started = Instant::now();
                let outcome = check(&ping_config("192.0.2.1", 2, 500)).await;
                assert!(!outcome.ok, "{outcome:?}");
                let stats = outcome.ping.as_ref().expect("stats of the lost packets");
                assert_eq!((stats.sent, stats.received), (2, 0));
                assert_eq!(stats.loss_percent(), 100.0);
                assert_eq!(stats.rtt_avg_ms, None);
                let error = outcome.error.as_deref().unwrap_or_default();
                assert!(error.contains("no reply from 192.0.2.1"), "{error}");
                assert!(error.contains("2 of 2 packets lost"), "{error}");
                // Bounded by its packets' waits, far under the check's 10 s timeout.
                assert!(started.elapsed() < Duration::from_secs(8));

                let outcome = check(&ping_config("no-such-host.invalid", 1, 500)).await;
                assert!(!outcome.ok);
                assert_eq!(outcome.ping, None);
                let error = outcome.error.unwrap_or_default();
                assert!(
                    error.contains("cannot resolve no-such-host.invalid"),
                    "{error}"
                );
            }
            other => panic!("unknown child mode {other:?}"),
        }
    });
}

#[test]
fn an_unprivileged_process_pings_over_a_datagram_socket_where_the_group_range_allows() {
    in_namespace("datagram", &format!("{NOBODY} {NOBODY}"), false);
}

#[test]
fn an_unprivileged_process_outside_the_group_range_is_told_how_to_allow_ping() {
    in_namespace("refused", "1 0", false);
}

#[test]
fn an_address_that_never_answers_is_down_with_all_packets_lost_and_a_bad_name_is_named() {
    in_namespace("unreachable", "1 0", true);
}

/// `base` with the fields of `extra` set over it.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn assert_422_naming(api: &Api, what: &str, reply: super::api::Reply, field: &str) {
    assert_eq!(reply.status, 422, "{what}: {}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/problem+json"),
        "{what}"
    );
    let detail = reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains(field), "{what}: {detail:?} names {field}");
    let list = api.get(MONITORS).expect(200, "the list").json();
    assert_eq!(
        list["monitors"].as_array().map(Vec::len),
        Some(1),
        "{what}: nothing was added or changed"
    );
}

#[test]
fn a_ping_monitor_goes_up_with_its_packets_and_bad_ping_settings_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let created = api
        .post(
            MONITORS,
            &json!({"name": "gateway", "kind": "ping", "host": "127.0.0.1", "interval_s": 2, "timeout_ms": 1500, "count": 2, "packet_timeout_ms": 1000}),
        )
        .expect(201, "creating a ping monitor")
        .json();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["kind"], "ping");
    assert_eq!(created["count"], 2);
    assert_eq!(created["packet_timeout_ms"], 1000);
    assert_eq!(created["max_loss_percent"], Value::Null);

    let valid = json!({"name": "p", "kind": "ping", "host": "127.0.0.1"});
    let invalid: [(&str, Value, &str); 8] = [
        ("count 0", json!({"count": 0}), "count"),
        ("count 1000", json!({"count": 1000}), "count"),
        (
            "count of the wrong type",
            json!({"count": "three"}),
            "count",
        ),
        ("an empty host", json!({"host": ""}), "host"),
        ("no host", json!({"host": null}), "host"),
        (
            "packet_timeout_ms 0",
            json!({"packet_timeout_ms": 0}),
            "packet_timeout_ms",
        ),
        (
            "max_loss_percent 101",
            json!({"max_loss_percent": 101}),
            "max_loss_percent",
        ),
        (
            "count on an http monitor",
            json!({"kind": "http", "url": "http://127.0.0.1:9/", "count": 3}),
            "count",
        ),
    ];
    for (what, fields, field) in invalid {
        let reply = api.post(MONITORS, &with(valid.clone(), fields));
        assert_422_naming(&api, what, reply, field);
    }
    let reply = api.command(
        "PATCH",
        &format!("{MONITORS}/{id}"),
        Some(&json!({"count": 11})),
        None,
    );
    assert_422_naming(&api, "a patch to count 11", reply, "count");

    let up = wait_for("the ping monitor up", || {
        let m = api
            .get(&format!("{MONITORS}/{id}"))
            .expect(200, "the monitor")
            .json();
        (m["status"] == "up" && m["last_check"]["ping"].is_object()).then_some(m)
    });
    let ping = &up["last_check"]["ping"];
    assert_eq!(ping["sent"], 2, "{up}");
    assert_eq!(ping["received"], 2, "{up}");
    assert_eq!(ping["loss_percent"], 0.0);
    assert!(ping["rtt_min_ms"].as_f64() <= ping["rtt_max_ms"].as_f64());
    let checks = api
        .get(&format!("{MONITORS}/{id}/checks?limit=5"))
        .expect(200, "the checks")
        .json();
    let first = &checks["checks"][0];
    assert_eq!(first["ok"], true);
    assert_eq!(first["ping"]["received"], 2, "{checks}");

    let patched = api
        .command(
            "PATCH",
            &format!("{MONITORS}/{id}"),
            Some(&json!({"max_loss_percent": 50})),
            None,
        )
        .expect(200, "setting a loss threshold")
        .json();
    assert_eq!(patched["max_loss_percent"], 50);
    assert_eq!(patched["count"], 2, "a patch keeps what it does not name");
    drop(server);
}
