//! What only a log shared by several nodes must guarantee, on a real PostgreSQL: appends
//! from several nodes at once give one contiguous log that every node follows in the same
//! order, and an append made under a lease another node has taken over is refused.

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;
use watchfire::events::{
    EventStore, ExpectedVersion, Position, StoreError, StoreOptions, StreamVersion,
};

use crate::helpers::{fact, runtime, stream};

/// A handle on the shared log, as one node of a cluster opens it.
fn node(url: &str) -> EventStore {
    EventStore::open_postgres(url, None, StoreOptions::default()).expect("the shared log opens")
}

#[test]
fn three_nodes_appending_at_once_make_one_gapless_log_every_node_follows_in_order() {
    let url = crate::postgres::shared().create_database("shared_log_order");
    let rt = runtime();
    let nodes: Vec<EventStore> = (0..3).map(|_| node(&url)).collect();
    const PER_WRITER: u64 = 40;
    const WRITERS: u64 = 4;
    let total = nodes.len() as u64 * WRITERS * PER_WRITER;
    let followed = rt.block_on(async {
        // Every node follows the log from the start while all of them append.
        let followers: Vec<_> = nodes
            .iter()
            .map(|n| {
                let mut subscription = n.subscribe(Position::START);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    while (seen.len() as u64) < total {
                        let e = tokio::time::timeout(Duration::from_secs(60), subscription.next())
                            .await
                            .expect("the log keeps coming")
                            .expect("the subscription reads");
                        seen.push((e.position, e.stream.as_str().to_owned(), e.version));
                    }
                    seen
                })
            })
            .collect();
        let mut writers = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            for w in 0..WRITERS {
                let n = n.clone();
                writers.push(tokio::spawn(async move {
                    let s = stream(&format!("monitor-n{i}w{w}"));
                    for k in 0..PER_WRITER {
                        n.append(s.clone(), ExpectedVersion::Any, vec![fact(k)])
                            .await
                            .expect("an append on the shared log succeeds");
                    }
                }));
            }
        }
        for w in writers {
            w.await.expect("writer runs");
        }
        let mut followed = Vec::new();
        for f in followers {
            followed.push(f.await.expect("follower runs"));
        }
        followed
    });
    for seen in &followed {
        let positions: Vec<u64> = seen.iter().map(|(p, _, _)| p.0).collect();
        let expected: Vec<u64> = (1..=total).collect();
        assert_eq!(positions, expected, "positions are contiguous and in order");
        let mut streams = HashSet::new();
        for (_, s, v) in seen {
            // Within each stream, versions follow positions with no gap.
            if v.0 == 0 {
                assert!(streams.insert(s.clone()), "{s} starts once");
            }
        }
        assert_eq!(streams.len() as u64, 3 * WRITERS);
    }
    assert_eq!(followed[0], followed[1], "every node follows the same log");
    assert_eq!(followed[1], followed[2], "every node follows the same log");
    let report = nodes[0].verify().expect("verify runs");
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checked, total);
    for n in nodes {
        rt.block_on(n.close());
    }
}

#[test]
fn an_append_under_a_lease_another_node_took_over_is_refused_and_changes_nothing() {
    let url = crate::postgres::shared().create_database("shared_log_fencing");
    let rt = runtime();
    let (a, b) = (node(&url), node(&url));
    let (node_a, node_b) = (Uuid::new_v4(), Uuid::new_v4());
    let membership_a = a.membership().expect("a shared log has membership");
    let membership_b = b.membership().expect("a shared log has membership");
    let resource = "monitor-fenced";
    let s = stream(resource);
    rt.block_on(async {
        // Node A takes a short lease and writes under it.
        let granted = membership_a
            .acquire(node_a, vec![resource.to_owned()], Duration::from_secs(1))
            .await
            .expect("acquire runs");
        assert_eq!(granted.len(), 1, "a free lease is taken");
        let token_a = granted[0].1;
        a.leases().hold(resource, token_a);
        let fenced_a = a.fenced_for(resource);
        fenced_a
            .append(s.clone(), ExpectedVersion::Any, vec![fact(1)])
            .await
            .expect("the holder appends");
        // Node B cannot take a live lease.
        let refused = membership_b
            .acquire(node_b, vec![resource.to_owned()], Duration::from_secs(30))
            .await
            .expect("acquire runs");
        assert!(refused.is_empty(), "a live lease is not taken: {refused:?}");
        // A stops renewing (paused); once the lease expires B takes it, with a new token.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let taken = membership_b
            .acquire(node_b, vec![resource.to_owned()], Duration::from_secs(30))
            .await
            .expect("acquire runs");
        assert_eq!(taken.len(), 1, "an expired lease is taken");
        assert!(taken[0].1 > token_a, "the token rises at a takeover");
        b.leases().hold(resource, taken[0].1);
        let before = a.stream_version(&s).expect("head reads");
        // A wakes up and appends with its old token: refused, nothing written.
        let stale = fenced_a
            .append(s.clone(), ExpectedVersion::Any, vec![fact(2)])
            .await;
        assert!(
            matches!(stale, Err(StoreError::Fenced { ref resource }) if resource == "monitor-fenced"),
            "{stale:?}"
        );
        assert_eq!(a.metrics().fenced.get(), 1);
        // B writes under its lease; A renewing finds no lease of its own.
        b.fenced_for(resource)
            .append(s.clone(), ExpectedVersion::Any, vec![fact(3)])
            .await
            .expect("the new holder appends");
        let renewed = membership_a
            .renew(node_a, Duration::from_secs(30))
            .await
            .expect("renew runs");
        assert!(renewed.is_empty(), "A holds nothing any more: {renewed:?}");
        b.close().await;
        // A handle holding no token for the lease is refused before the log is asked.
        a.leases().forget(resource);
        let unheld = fenced_a
            .append(s.clone(), ExpectedVersion::Any, vec![fact(4)])
            .await;
        assert!(matches!(unheld, Err(StoreError::Fenced { .. })), "{unheld:?}");
        let events = a
            .read_stream(&s, StreamVersion(0), usize::MAX)
            .expect("stream reads");
        assert_eq!(before, Some(StreamVersion(0)));
        assert_eq!(events.len(), 2, "only the holders' appends are in the log");
        a.close().await;
    });
}

#[test]
fn the_command_line_reads_and_writes_the_shared_log_a_running_node_serves() {
    let url = crate::postgres::shared().create_database("shared_log_cli");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = "wf_shared_log_cli_admin_token";
    let server = crate::helpers::Server::start(
        dir.path(),
        &[("WATCHFIRE_ADMIN_TOKEN", admin), ("WATCHFIRE_STORE", &url)],
        &[],
    );
    server.wait_healthy(Duration::from_secs(60));
    // A token made on the shared log works at the node, which follows the log.
    let (code, token, err) = crate::helpers::run_cli(&[
        "token", "create", "--store", &url, "--role", "viewer", "--name", "from-cli",
    ]);
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        let (status, _, _) =
            crate::helpers::blocking_get(&format!("{}/api/v1/me", server.base), Some(&token))
                .expect("the node answers");
        if status == 200 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        status, 200,
        "the node knows the token made on the shared log"
    );
    // replay and verify read the shared log while the node runs.
    let (code, out, err) =
        crate::helpers::run_cli(&["replay", "--store", &url, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let types: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("SystemInitialized"));
    assert!(types.iter().any(|t| t == "ServerStarted"), "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "TokenCreated").count(), 2);
    let (code, out, err) = crate::helpers::run_cli(&["verify", "--store", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("intact: "), "{out}");
    // A store that is not PostgreSQL, or cannot be reached, is refused with exit 2.
    let (code, _, err) = crate::helpers::run_cli(&["verify", "--store", "mysql://x/y"]);
    assert_eq!(code, 2);
    assert!(err.contains("store.url"), "{err}");
    let (code, _, err) =
        crate::helpers::run_cli(&["verify", "--store", "postgres://nobody@127.0.0.1:1/none"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open the log"), "{err}");
    server.terminate();
}

#[test]
fn a_lease_given_up_and_taken_again_gets_a_higher_token_so_an_old_holder_stays_fenced() {
    let url = crate::postgres::shared().create_database("shared_log_release");
    let rt = runtime();
    let store = node(&url);
    let membership = store.membership().expect("a shared log has membership");
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let resource = "host-released";
    rt.block_on(async {
        let ttl = Duration::from_secs(30);
        let first = membership
            .acquire(a, vec![resource.to_owned()], ttl)
            .await
            .expect("acquire runs");
        membership
            .release(a, vec![resource.to_owned()])
            .await
            .expect("release runs");
        assert!(
            membership
                .renew(a, ttl)
                .await
                .expect("renew runs")
                .is_empty(),
            "a released lease is not renewed"
        );
        let second = membership
            .acquire(b, vec![resource.to_owned()], ttl)
            .await
            .expect("acquire runs");
        assert!(second[0].1 > first[0].1, "{first:?} then {second:?}");
        membership.leave(b).await.expect("leave runs");
        let third = membership
            .acquire(a, vec![resource.to_owned()], ttl)
            .await
            .expect("acquire runs");
        assert!(third[0].1 > second[0].1, "{second:?} then {third:?}");
        // The first holder's token is refused by the log.
        store.leases().hold(resource, first[0].1);
        let stale = store
            .fenced_for(resource)
            .append(stream(resource), ExpectedVersion::Any, vec![fact(1)])
            .await;
        assert!(matches!(stale, Err(StoreError::Fenced { .. })), "{stale:?}");
        store.close().await;
    });
}

#[test]
fn a_shared_log_that_goes_away_is_reported_unreachable_and_refuses_appends() {
    let server = crate::postgres::PgServer::start();
    let url = server.create_database("shared_log_gone");
    let rt = runtime();
    let store = node(&url);
    let s = stream("monitor-gone");
    rt.block_on(async {
        store
            .append(s.clone(), ExpectedVersion::Any, vec![fact(1)])
            .await
            .expect("an append while the database runs");
        assert_eq!(store.unreachable_for(Duration::ZERO), None);
    });
    drop(server);
    rt.block_on(async {
        let refused = store
            .append(s.clone(), ExpectedVersion::Any, vec![fact(2)])
            .await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        // The follower keeps trying once a second; readiness names the trouble.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let why = loop {
            if let Some(why) = store.unreachable_for(Duration::from_secs(1)) {
                break why;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the store never says the database is gone"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(why.contains("PostgreSQL"), "{why}");
        // What was acknowledged before is still readable from this node's published log.
        assert_eq!(store.durable_position(), Position(1));
    });
}
