//! `watchfire backup`, `verify --backup` and `restore` with the real binary: a backup taken
//! through a running server's socket while monitors check a local target and an agent
//! pushes, restored into a new data directory whose server shows the original's dashboard
//! at the backup's position; the same records as a backup of the stopped server's
//! directory; a log after retention; damaged files and bad targets refused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use watchfire::events::backup::{verify_backup, BackupReader};
use watchfire::events::{ExpectedVersion, Position};

use super::api::{start_server, wait_for, Api, ADMIN_TOKEN};
use super::helpers::{
    fact, observation, open_store, run_cli, runtime, stream, wait_until_unlocked, Server,
    TestServer,
};
use super::targets::HttpTarget;

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Every record of a backup file, read and checked by the library.
fn records(file: &Path) -> Vec<(Position, Vec<u8>)> {
    let mut reader = BackupReader::open(file).expect("the backup opens");
    let mut out = Vec::new();
    while let Some(record) = reader.next_record().expect("the backup reads") {
        out.push(record);
    }
    out
}

/// Runs `watchfire backup` of `dir` into `out`, which must succeed: the manifest it prints.
fn backup(dir: &Path, out: &Path) -> Value {
    let (code, stdout, stderr) = run_cli(&["backup", "--data-dir", s(dir), "--out", s(out)]);
    assert_eq!(code, 0, "backup succeeds; stderr: {stderr}");
    assert!(stderr.contains("records/s"), "a summary: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The dashboard as `GET /audit/state?at=position` answers it.
fn state_at(api: &Api, position: u64) -> Value {
    let body = api
        .get(&format!("/api/v1/audit/state?at={position}"))
        .expect(200, "the state at the backup's position")
        .json();
    assert_eq!(body["position"], position, "{body}");
    body["state"].clone()
}

/// A host push as the agent sends it.
fn push(api: &Api, hostname: &str, n: u64) {
    let body = json!({
        "timestamp": Utc::now(),
        "interval_s": 600,
        "cpu": {"cpu_percent_total": (n % 100) as f64, "load_average": [1.5, 1.2, 1.0]},
        "memory": {"memory_total": 1000, "memory_used": 400, "memory_percent": 40.0},
        "io": {"network": {"bytes_sent": n * 10, "bytes_recv": n * 20}}
    });
    api.post(&format!("/api/v1/hosts/{hostname}/metrics"), &body)
        .expect(200, "a host push");
}

#[test]
fn a_backup_through_the_socket_under_load_restores_to_the_dashboard_at_its_position() {
    let original = tempfile::tempdir().expect("temp dir");
    let work = tempfile::tempdir().expect("temp dir");
    let target = HttpTarget::start();
    let server = start_server(original.path(), &[]);
    let api = Api::new(&server);
    for name in ["shop", "blog", "api"] {
        api.post(
            "/api/v1/monitors",
            &json!({"name": name, "kind": "http", "url": target.url(&format!("/{name}")),
                    "interval_s": 1, "timeout_ms": 900}),
        )
        .expect(201, "a monitor");
    }
    // An agent pushing as fast as it is answered, all through the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let pushed = Arc::new(AtomicU64::new(0));
    let agent = {
        let (stop, pushed, base) = (stop.clone(), pushed.clone(), server.base.clone());
        std::thread::spawn(move || {
            let api = Api::at(&base);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                push(&api, &format!("web-{}", n % 3), n);
                pushed.store(n, Ordering::Relaxed);
            }
        })
    };
    wait_for("monitors up and pushes flowing", || {
        let view = api.get("/api/v1/dashboard").expect(200, "dashboard").json();
        let up = view["monitors"]
            .as_object()
            .is_some_and(|m| m.len() == 3 && m.values().all(|m| m["status"] == "up"));
        (up && pushed.load(Ordering::Relaxed) > 50).then_some(())
    });

    let through_socket = work.path().join("socket.wfbackup");
    let pushed_before = pushed.load(Ordering::Relaxed);
    let manifest = backup(original.path(), &through_socket);
    let position = manifest["position"].as_u64().expect("a position");
    let count = manifest["count"].as_u64().expect("a count");
    assert!(count > 50 && count <= position, "{manifest}");
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["watchfire_version"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["facts_head"]["hash"]
        .as_str()
        .is_some_and(|h| h.len() == 64));
    assert!(
        !through_socket.with_extension("wfbackup.partial").exists(),
        "no partial file is left"
    );
    // Appends carried on: the log went past the backup while the agent kept pushing.
    wait_for("the log to go past the backup", || {
        let p = api
            .get("/api/v1/dashboard")
            .expect(200, "dashboard")
            .position();
        (p > position && pushed.load(Ordering::Relaxed) > pushed_before).then_some(())
    });

    let (code, stdout, stderr) = run_cli(&["verify", "--backup", s(&through_socket)]);
    assert_eq!(code, 0, "the backup verifies; {stdout} {stderr}");
    assert!(
        stdout.contains(&format!("{count} records up to position {position}")),
        "{stdout}"
    );
    let original_then = state_at(&api, position);

    stop.store(true, Ordering::Relaxed);
    agent.join().expect("the agent thread ends");
    assert!(server.terminate().success(), "the server stops cleanly");
    wait_until_unlocked(original.path());

    // The stopped server's log read directly: the same records up to the socket's position.
    let offline = work.path().join("offline.wfbackup");
    let offline_manifest = backup(original.path(), &offline);
    assert!(offline_manifest["position"].as_u64() > Some(position));
    let socket_records = records(&through_socket);
    let offline_records: Vec<_> = records(&offline)
        .into_iter()
        .filter(|(p, _)| p.0 <= position)
        .collect();
    assert_eq!(socket_records.len() as u64, count);
    assert!(
        socket_records == offline_records,
        "the backup through the socket is the offline backup's prefix, byte for byte"
    );

    let restored = work.path().join("restored");
    let (code, _, stderr) = run_cli(&[
        "restore",
        "--from",
        s(&through_socket),
        "--data-dir",
        s(&restored),
    ]);
    assert_eq!(code, 0, "restore succeeds; stderr: {stderr}");
    assert!(stderr.contains("verified intact"), "{stderr}");
    assert!(
        !restored.join("node.id").exists(),
        "a restored data directory is a new node"
    );
    let (code, stdout, stderr) = run_cli(&["verify", "--data-dir", s(&restored)]);
    assert_eq!(code, 0, "verify passes on the restore: {stdout} {stderr}");
    assert!(
        stdout.contains(&format!("{count} events checked, last position {position}")),
        "{stdout}"
    );

    // No admin token is set: the original's comes back with the log, and no new one is made.
    let restarted = Server::start(&restored, &[], &[]);
    assert!(
        !restarted.stderr().iter().any(|l| l.contains("wf_")),
        "a restored log is not bootstrapped again: {:?}",
        restarted.stderr()
    );
    let api = Api::new(&restarted);
    let view = api
        .get("/api/v1/dashboard")
        .expect(200, "the restored dashboard");
    assert!(view.position() >= position);
    assert_eq!(
        state_at(&api, position),
        original_then,
        "the restored server's dashboard at the backup's position is the original's"
    );
}

/// A log in `dir` of facts and observations, with the oldest observations expired by
/// retention, then more of both: its last position.
fn log_after_retention(dir: &Path) -> u64 {
    let rt = runtime();
    let store = open_store(dir);
    let append = |n: u64, events| {
        rt.block_on(store.append(stream(&format!("s-{n}")), ExpectedVersion::Any, events))
            .expect("append")
    };
    for n in 0..20 {
        append(n, vec![fact(n), observation(n), observation(n + 100)]);
    }
    let outcome = rt
        .block_on(store.apply_retention(Utc::now() + chrono::Duration::seconds(1), 10_000))
        .expect("retention runs");
    assert_eq!(outcome.removed, 40);
    let mut last = 0;
    for n in 20..40 {
        last = append(n, vec![observation(n), fact(n)]).last_position.0;
    }
    rt.block_on(store.close());
    drop(store);
    wait_until_unlocked(dir);
    last
}

#[test]
fn a_log_after_retention_backs_up_and_restores_with_its_chains() {
    let original = tempfile::tempdir().expect("temp dir");
    let work = tempfile::tempdir().expect("temp dir");
    let last = log_after_retention(original.path());
    let file = work.path().join("b.wfbackup");
    let manifest = backup(original.path(), &file);
    assert_eq!(manifest["position"], last);
    assert_eq!(manifest["count"], 60, "20 facts, then 20 of each kind");
    assert!(manifest["retention_anchor"]["position"].as_u64().is_some());
    assert_eq!(verify_backup(&file).expect("verifies").count, 60);

    let restored = work.path().join("r");
    let (code, _, stderr) = run_cli(&["restore", "--from", s(&file), "--data-dir", s(&restored)]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = run_cli(&["verify", "--data-dir", s(&restored)]);
    assert_eq!(code, 0, "{stdout}");
    // The restored log, backed up again, is the same records and the same chains.
    let again = work.path().join("again.wfbackup");
    let second = backup(&restored, &again);
    assert!(records(&file) == records(&again), "byte-identical records");
    for key in [
        "position",
        "count",
        "facts_head",
        "observations_head",
        "retention_anchor",
    ] {
        assert_eq!(manifest[key], second[key], "{key}");
    }
    // A restored store takes appends after the backup's position, on the same chains.
    let rt = runtime();
    let store = open_store(&restored);
    let next = rt
        .block_on(store.append(stream("after"), ExpectedVersion::Any, vec![fact(99)]))
        .expect("append");
    assert_eq!(next.first_position.0, last + 1);
    assert!(store.verify().expect("verify").intact());
    rt.block_on(store.close());
}

/// A small offline backup of a fresh log in `work`: its path.
fn small_backup(work: &Path) -> PathBuf {
    let dir = work.join("log");
    log_after_retention(&dir);
    let file = work.join("small.wfbackup");
    backup(&dir, &file);
    file
}

#[test]
fn damaged_truncated_and_foreign_backups_are_refused() {
    let work = tempfile::tempdir().expect("temp dir");
    let file = small_backup(work.path());
    let bytes = std::fs::read(&file).expect("read");

    let check = |name: &str, content: &[u8], says: &str| {
        let bad = work.path().join(name);
        std::fs::write(&bad, content).expect("write");
        let (code, stdout, stderr) = run_cli(&["verify", "--backup", s(&bad)]);
        assert_eq!(code, 1, "{name} is refused: {stdout} {stderr}");
        assert!(stdout.contains("BAD BACKUP"), "{name}: {stdout}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        let target = work.path().join(format!("restore-{name}"));
        let (code, _, stderr) = run_cli(&["restore", "--from", s(&bad), "--data-dir", s(&target)]);
        assert_eq!(code, 1, "{name} is not restored: {stderr}");
        assert!(!target.exists(), "{name}: nothing is created");
    };
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    check("flipped", &flipped, "damaged or was changed");
    check("cut", &bytes[..bytes.len() - 100], "truncated");
    check("cut-early", &bytes[..12], "truncated");
    check("empty", b"", "is not a watchfire backup");
    check(
        "foreign",
        b"{\"not\": \"a backup\"}",
        "is not a watchfire backup",
    );

    // A consistent checksum over changed records: the chains still catch it.
    let mut reader = BackupReader::open(&file).expect("opens");
    let manifest = reader.manifest().clone();
    let mut all = Vec::new();
    while let Some(r) = reader.next_record().expect("reads") {
        all.push(r);
    }
    let forged = work.path().join("forged.wfbackup");
    let mut writer = watchfire::events::backup::BackupWriter::create(
        &forged,
        Position(manifest.position),
        Default::default(),
    )
    .expect("create");
    // Without the retention anchor, the first observation no longer chains.
    let refused = all.iter().try_for_each(|(p, b)| writer.record(*p, b));
    assert!(
        refused.is_err(),
        "a writer refuses records that do not chain"
    );
    drop(writer);
    assert!(!forged.exists(), "and leaves no file");

    let (code, _, stderr) = run_cli(&["verify", "--backup", s(&work.path().join("missing"))]);
    assert_eq!(code, 2, "a missing file: {stderr}");
    assert!(stderr.contains("missing"), "{stderr}");
}

#[test]
fn restore_refuses_a_non_empty_directory_and_a_running_server() {
    let work = tempfile::tempdir().expect("temp dir");
    let file = small_backup(work.path());

    let occupied = work.path().join("occupied");
    std::fs::create_dir(&occupied).expect("mkdir");
    std::fs::write(occupied.join("notes.txt"), "mine").expect("write");
    let (code, _, stderr) = run_cli(&["restore", "--from", s(&file), "--data-dir", s(&occupied)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    let (code, _, stderr) = run_cli(&[
        "restore",
        "--from",
        s(&file),
        "--data-dir",
        s(&occupied),
        "--force",
    ]);
    assert_eq!(
        code, 2,
        "--force replaces only a watchfire data directory: {stderr}"
    );
    assert!(
        stderr.contains("not a watchfire data directory"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(occupied.join("notes.txt")).expect("untouched"),
        "mine"
    );

    let running = work.path().join("running");
    let server = TestServer::start(&running, ADMIN_TOKEN, |_| {});
    for force in [false, true] {
        let mut args = vec!["restore", "--from", s(&file), "--data-dir", s(&running)];
        if force {
            args.push("--force");
        }
        let (code, _, stderr) = run_cli(&args);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("server is running"), "{stderr}");
    }
    server.stop("the test is done with it").expect("stops");
    wait_until_unlocked(&running);
    // The in-process server's last handle on sled's files may be dropped by one of its
    // threads a moment after the data directory's lock: a refusal naming sled's lock is
    // that moment, and the restore is asked again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (code, stderr) = loop {
        let (code, _, stderr) = run_cli(&[
            "restore",
            "--from",
            s(&file),
            "--data-dir",
            s(&running),
            "--force",
        ]);
        if code == 0 || !stderr.contains("could not acquire lock") || Instant::now() > deadline {
            break (code, stderr);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, 0, "--force replaces a stopped server's log: {stderr}");
    let (code, stdout, _) = run_cli(&["verify", "--data-dir", s(&running)]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("60 events checked"),
        "the backup's log, not the old one: {stdout}"
    );
}

#[test]
fn backup_commands_explain_bad_arguments() {
    let work = tempfile::tempdir().expect("temp dir");
    let missing = work.path().join("nowhere");
    let out = work.path().join("b.wfbackup");
    let (code, _, stderr) = run_cli(&["backup", "--data-dir", s(&missing), "--out", s(&out)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no watchfire data directory"), "{stderr}");
    assert!(!out.exists());

    let (code, _, stderr) = run_cli(&["backup", "--data-dir", s(&missing)]);
    assert_eq!(code, 2, "--out is required: {stderr}");
    assert!(stderr.contains("--out"), "{stderr}");

    let (code, _, stderr) = run_cli(&["backup", "--out", s(&out), "--compress", "9"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unexpected argument '--compress'"),
        "{stderr}"
    );

    let (code, _, stderr) = run_cli(&[
        "restore",
        "--from",
        s(&work.path().join("none.wfbackup")),
        "--data-dir",
        s(&work.path().join("r")),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("none.wfbackup"), "{stderr}");

    let dir = work.path().join("log");
    log_after_retention(&dir);
    let (code, _, stderr) = run_cli(&["backup", "--data-dir", s(&dir), "--out", s(&dir)]);
    assert_eq!(code, 2, "--out names a directory: {stderr}");
    assert!(
        !work.path().join("log.partial").exists(),
        "no partial file is left"
    );
    let unwritable = work.path().join("no-such-dir").join("b.wfbackup");
    let (code, _, stderr) = run_cli(&["backup", "--data-dir", s(&dir), "--out", s(&unwritable)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no-such-dir"), "{stderr}");
}

#[test]
fn a_clusters_shared_log_backs_up_while_a_node_runs_and_restores_into_a_data_directory() {
    let url = crate::postgres::shared().create_database("backup_shared_log");
    let node_dir = tempfile::tempdir().expect("temp dir");
    let work = tempfile::tempdir().expect("temp dir");
    let node = Server::start(
        node_dir.path(),
        &[
            ("WATCHFIRE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("WATCHFIRE_STORE", &url),
        ],
        &[],
    );
    let api = Api::new(&node);
    for n in 0..20 {
        push(&api, "db-1", n);
    }
    let file = work.path().join("shared.wfbackup");
    let (code, stdout, stderr) = run_cli(&["backup", "--store", &url, "--out", s(&file)]);
    assert_eq!(code, 0, "{stderr}");
    let manifest: Value = serde_json::from_str(stdout.trim()).expect("the manifest");
    let position = manifest["position"].as_u64().expect("a position");
    assert!(manifest["count"].as_u64() >= Some(20), "{manifest}");
    let original_then = state_at(&api, position);
    node.terminate();

    let restored = work.path().join("restored");
    let (code, _, stderr) = run_cli(&["restore", "--from", s(&file), "--data-dir", s(&restored)]);
    assert_eq!(code, 0, "{stderr}");
    let again = work.path().join("again.wfbackup");
    backup(&restored, &again);
    assert!(
        records(&file) == records(&again),
        "the shared log's records, byte for byte, in a sled data directory"
    );
    let single = Server::start(&restored, &[], &[]);
    let api = Api::new(&single);
    assert_eq!(
        state_at(&api, position),
        original_then,
        "a single node on the restored log shows the cluster's dashboard at the backup's position"
    );
}
