//! Golden files: the bytes of every event type and schema version ever written, and of
//! one whole record, must keep decoding. Run with `WATCHFIRE_BLESS=1` to write a file
//! for a new type or version; existing files are never rewritten.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use watchfire::events::*;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("fixed time parses")
        .with_timezone(&Utc)
}

/// A monitor configuration with every field set.
fn sample_monitor_config() -> MonitorConfig {
    MonitorConfig {
        name: "shop".into(),
        kind: MonitorKind::Http,
        url: Some("https://shop.example/health".into()),
        host: Some("shop.example".into()),
        port: Some(443),
        record_type: Some("A".into()),
        resolver: Some("127.0.0.1:53".into()),
        interval_s: 30,
        timeout_ms: 5000,
        retries: 2,
        recover_after: 1,
        method: "GET".into(),
        headers: [("accept".to_owned(), "application/json".to_owned())].into(),
        body: Some("{}".into()),
        follow_redirects: true,
        ignore_tls_errors: false,
        expect: Expectations {
            status: vec!["200-299".into()],
            body_contains: Some("ok".into()),
            body_regex: Some("o+k".into()),
            json_path: Some(JsonPathExpectation {
                path: "$.status".into(),
                equals: "\"green\"".into(),
            }),
            max_latency_ms: Some(2000),
            contains: Some("1.2.3.4".into()),
        },
        cert_expiry_days: Some(14),
        grace_s: 10,
        tags: vec!["prod".into()],
        ping: Some(PingSettings {
            count: 3,
            packet_timeout_ms: 2000,
            max_loss_percent: Some(50),
        }),
    }
}

/// The same configuration as schema 1 wrote it (before ping settings).
fn sample_monitor_config_v1() -> MonitorConfigV1 {
    let c = sample_monitor_config();
    MonitorConfigV1 {
        name: c.name,
        kind: c.kind,
        url: c.url,
        host: c.host,
        port: c.port,
        record_type: c.record_type,
        resolver: c.resolver,
        interval_s: c.interval_s,
        timeout_ms: c.timeout_ms,
        retries: c.retries,
        recover_after: c.recover_after,
        method: c.method,
        headers: c.headers,
        body: c.body,
        follow_redirects: c.follow_redirects,
        ignore_tls_errors: c.ignore_tls_errors,
        expect: c.expect,
        cert_expiry_days: c.cert_expiry_days,
        grace_s: c.grace_s,
        tags: c.tags,
    }
}

/// A check as schema 1 of `MonitorChecked` wrote it (before ping stats).
fn sample_checked_v1() -> MonitorCheckedV1 {
    MonitorCheckedV1 {
        monitor_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        ok: false,
        latency_ms: 123.5,
        status_code: Some(503),
        error: Some("status 503 not in 200-299".into()),
        cert_expires_at: Some(at("2026-12-01T12:00:00Z")),
    }
}

/// The sample payload of each event type as the current schema decodes it.
fn sample(type_name: &str) -> Event {
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    match type_name {
        "SystemInitialized" => Event::SystemInitialized(SystemInitialized {
            server_version: "0.1.0".into(),
        }),
        "ServerStarted" => Event::ServerStarted(ServerStarted {
            server_version: "0.1.0".into(),
            listen: "127.0.0.1:8080".into(),
        }),
        "ServerStopped" => Event::ServerStopped(ServerStopped {
            reason: "SIGTERM".into(),
        }),
        "SystemHealthChanged" => Event::SystemHealthChanged(SystemHealthChanged {
            ready: false,
            reasons: vec!["disk almost full".into()],
        }),
        "RetentionApplied" => Event::RetentionApplied(RetentionApplied {
            cutoff: at("2026-11-01T00:00:00Z"),
            removed: 42,
            through_position: 4242,
        }),
        "TokenCreated" => Event::TokenCreated(TokenCreated {
            token_id: id,
            name: "admin".into(),
            role: Role::Admin,
            token_hash: "ab".repeat(32),
            expires_at: Some(at("2027-01-01T00:00:00Z")),
        }),
        "TokenRevoked" => Event::TokenRevoked(TokenRevoked { token_id: id }),
        "MonitorChecked" => Event::MonitorChecked(MonitorChecked {
            monitor_id: id,
            ok: false,
            latency_ms: 123.5,
            status_code: Some(503),
            error: Some("status 503 not in 200-299".into()),
            cert_expires_at: Some(at("2026-12-01T12:00:00Z")),
            ping: Some(PingStats {
                sent: 3,
                received: 2,
                rtt_min_ms: Some(0.5),
                rtt_avg_ms: Some(0.75),
                rtt_max_ms: Some(1.0),
            }),
        }),
        "HeartbeatReceived" => Event::HeartbeatReceived(HeartbeatReceived {
            monitor_id: id,
            up: true,
            msg: Some("ok".into()),
            ping_ms: Some(12.0),
        }),
        "HostMetricsReported" => Event::HostMetricsReported(Box::new(HostMetricsReported {
            hostname: "web-1".into(),
            sampled_at: at("2026-11-06T10:00:00Z"),
            cpu_percent: Some(45.2),
            cpu_percent_per_core: vec![40.0, 50.0],
            cpu_count: Some(2),
            load_average: Some([1.5, 1.2, 1.0]),
            memory_total: Some(8_589_934_592),
            memory_used: Some(4_294_967_296),
            memory_percent: Some(50.0),
            disks: vec![DiskUsage {
                mountpoint: "/".into(),
                total: 100,
                used: 50,
                percent: 50.0,
            }],
            counters: [Some(1), Some(2), Some(3), None],
            rates: [Some(10.0), None, Some(0.5), Some(0.0)],
            details: SampleDetails {
                filesystems: vec![FilesystemDetails {
                    mountpoint: "/".into(),
                    device: Some("/dev/sda1".into()),
                    fstype: Some("ext4".into()),
                    free: Some(45),
                }],
                network: [Some(10), Some(20), Some(0), Some(1), None, Some(2)],
                disk_io: [Some(5), Some(6), Some(70), None],
            },
        })),
        "HostRegistered" => Event::HostRegistered(HostRegistered {
            hostname: "web-1".into(),
            scrape_url: Some("http://web-1:9100/metrics".into()),
            interval_s: Some(15),
            stale_after_s: Some(60),
            tags: vec!["prod".into()],
        }),
        "HostDeleted" => Event::HostDeleted(HostRef {
            hostname: "web-1".into(),
        }),
        "HostWentStale" => Event::HostWentStale(HostWentStale {
            hostname: "web-1".into(),
            last_seen: Some(at("2026-11-06T10:00:00Z")),
            window_s: 45,
        }),
        "HostRecovered" => Event::HostRecovered(HostRef {
            hostname: "web-1".into(),
        }),
        "HostScrapeFailed" => Event::HostScrapeFailed(HostScrapeFailed {
            hostname: "web-1".into(),
            error: "connection refused".into(),
        }),
        "AlertRuleCreated" | "AlertRuleUpdated" => {
            let defined = AlertRuleDefined {
                rule_id: id,
                rule: AlertRule {
                    name: "cpu hot".into(),
                    severity: Severity::Warning,
                    condition: Condition {
                        kind: ConditionKind::HostMetric,
                        monitor: Some(id),
                        host: Some("web-1".into()),
                        tag: Some("prod".into()),
                        metric: Some("cpu_percent".into()),
                        op: Some(Comparison::Ge),
                        threshold: Some(90.0),
                        for_s: 300,
                        after_s: Some(600),
                        days: Some(14),
                    },
                    channels: vec![id],
                    repeat_interval_s: 3600,
                },
            };
            if type_name == "AlertRuleCreated" {
                Event::AlertRuleCreated(defined)
            } else {
                Event::AlertRuleUpdated(defined)
            }
        }
        "AlertRuleDeleted" => Event::AlertRuleDeleted(IdRef { id }),
        "ChannelCreated" => Event::ChannelCreated(ChannelCreated {
            channel_id: id,
            config: ChannelConfig {
                name: "ops".into(),
                kind: ChannelType::Telegram,
                to: vec!["ops@example.com".into()],
                url: Some("https://hooks.example/x".into()),
                secret: Some("s3cret".into()),
                settings: Some(ChannelSettings::Telegram(TelegramSettings {
                    bot_token: "123456:ABC-DEF".into(),
                    chat_id: "-1001234567890".into(),
                    message_thread_id: Some(7),
                    parse_mode: Some("HTML".into()),
                    disable_notification: true,
                    api_url: Some("https://api.telegram.org".into()),
                })),
            },
        }),
        "ChannelDeleted" => Event::ChannelDeleted(IdRef { id }),
        "SilenceCreated" => Event::SilenceCreated(SilenceCreated {
            silence_id: id,
            matchers: [("tag".to_owned(), "prod".to_owned())].into(),
            starts_at: at("2026-11-06T10:00:00Z"),
            ends_at: at("2026-11-06T12:00:00Z"),
            comment: "maintenance".into(),
        }),
        "SilenceDeleted" => Event::SilenceDeleted(IdRef { id }),
        "AlertOpened" => Event::AlertOpened(AlertOpened {
            alert_id: id,
            rule_id: id,
            rule_name: "shop down".into(),
            severity: Severity::Critical,
            subject_kind: SubjectKind::Monitor,
            subject_id: id.to_string(),
            subject_name: "shop".into(),
            tags: vec!["prod".into()],
            cause: "HTTP 503".into(),
        }),
        "AlertFired" => Event::AlertFired(AlertChanged {
            alert_id: id,
            cause: "HTTP 503".into(),
        }),
        "AlertAcknowledged" => Event::AlertAcknowledged(AlertAcknowledged {
            alert_id: id,
            comment: Some("on it".into()),
        }),
        "AlertResolved" => Event::AlertResolved(AlertChanged {
            alert_id: id,
            cause: "HTTP 200".into(),
        }),
        "NotificationRequested" => Event::NotificationRequested(NotificationRequested {
            alert_id: id,
            channels: vec![id],
            reason: NotifyReason::Repeat,
            repeat: 2,
        }),
        "NotificationSent" => Event::NotificationSent(NotificationSent {
            channel_id: id,
            alert_id: id,
            request: 42,
            attempt: 3,
        }),
        "NotificationFailed" => Event::NotificationFailed(NotificationFailed {
            channel_id: id,
            alert_id: id,
            request: 42,
            attempt: 3,
            error: "connection refused".into(),
            gave_up: true,
        }),
        "UserCreated" => Event::UserCreated(UserCreated {
            username: "ada".into(),
            role: Role::Operator,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        }),
        "UserDeleted" => Event::UserDeleted(UserRef {
            username: "ada".into(),
        }),
        "SessionOpened" => Event::SessionOpened(SessionOpened {
            session_id: id,
            username: "ada".into(),
            token_hash: "ab".repeat(32),
            expires_at: at("2026-11-07T10:00:00Z"),
        }),
        "SessionClosed" => Event::SessionClosed(IdRef { id }),
        "MonitorCreated" => Event::MonitorCreated(Box::new(MonitorCreated {
            monitor_id: id,
            config: sample_monitor_config(),
            paused: false,
            push_token: Some("pt_abc".into()),
        })),
        "MonitorUpdated" => Event::MonitorUpdated(Box::new(MonitorUpdated {
            monitor_id: id,
            config: sample_monitor_config(),
        })),
        "MonitorPaused" => Event::MonitorPaused(MonitorRef { monitor_id: id }),
        "MonitorResumed" => Event::MonitorResumed(MonitorRef { monitor_id: id }),
        "MonitorDeleted" => Event::MonitorDeleted(MonitorRef { monitor_id: id }),
        "MonitorWentUp" => Event::MonitorWentUp(MonitorRef { monitor_id: id }),
        "MonitorWentDown" => Event::MonitorWentDown(MonitorWentDown {
            monitor_id: id,
            reason: "status 503".into(),
        }),
        "MonitorRecovered" => Event::MonitorRecovered(MonitorRef { monitor_id: id }),
        "ChannelUpdated" => Event::ChannelUpdated(ChannelCreated {
            channel_id: id,
            config: ChannelConfig {
                name: "on-call".into(),
                kind: ChannelType::Sms,
                to: Vec::new(),
                url: None,
                secret: None,
                settings: Some(ChannelSettings::Sms(SmsSettings {
                    account_sid: format!("AC{}", "0".repeat(32)),
                    auth_token: "token".into(),
                    from: Some("+15017122661".into()),
                    messaging_service_sid: None,
                    to: "+15558675310".into(),
                    api_url: None,
                })),
            },
        }),
        "UserUpdated" => Event::UserUpdated(UserCreated {
            username: "ada".into(),
            role: Role::Viewer,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        }),
        "StatusPageCreated" | "StatusPageUpdated" => {
            let page = StatusPageDefined {
                slug: "acme".into(),
                title: "Acme status".into(),
                description: "Our services".into(),
                groups: vec![StatusGroup {
                    name: "Web".into(),
                    monitors: vec![id],
                }],
                show_errors: false,
            };
            if type_name == "StatusPageCreated" {
                Event::StatusPageCreated(page)
            } else {
                Event::StatusPageUpdated(page)
            }
        }
        "StatusPageDeleted" => Event::StatusPageDeleted(StatusPageRef {
            slug: "acme".into(),
        }),
        "IncidentOpened" => Event::IncidentOpened(IncidentOpened {
            slug: "acme".into(),
            incident_id: id,
            title: "Slow checkout".into(),
            impact: "minor".into(),
            status: "investigating".into(),
            message: "We are looking into it".into(),
        }),
        "IncidentUpdated" => Event::IncidentUpdated(IncidentUpdated {
            slug: "acme".into(),
            incident_id: id,
            status: "resolved".into(),
            message: "Fixed".into(),
        }),
        "MaintenanceScheduled" => Event::MaintenanceScheduled(MaintenanceScheduled {
            slug: "acme".into(),
            maintenance_id: id,
            title: "Database upgrade".into(),
            message: "A short outage".into(),
            starts_at: at("2026-11-07T10:00:00Z"),
            ends_at: at("2026-11-07T11:00:00Z"),
        }),
        "MaintenanceUpdated" => Event::MaintenanceUpdated(MaintenanceScheduled {
            slug: "acme".into(),
            maintenance_id: id,
            title: "Database upgrade, moved".into(),
            message: "A shorter outage".into(),
            starts_at: at("2026-11-08T10:00:00Z"),
            ends_at: at("2026-11-08T10:30:00Z"),
        }),
        "MaintenanceCancelled" => Event::MaintenanceCancelled(MaintenanceRef {
            slug: "acme".into(),
            maintenance_id: id,
        }),
        "IncidentEdited" => Event::IncidentEdited(IncidentEdited {
            slug: "acme".into(),
            incident_id: id,
            title: "Slow checkout in Europe".into(),
            impact: "major".into(),
        }),
        other => panic!("no golden sample for {other}: add one here and bless it"),
    }
}

/// The bytes of a sample as an older schema wrote them, and what they upcast to.
fn old_sample(type_name: &str, schema: u16) -> Option<(Vec<u8>, Event)> {
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    match (type_name, schema) {
        ("TokenCreated", 1) => {
            let v1 = TokenCreatedV1 {
                token_id: id,
                name: "admin".into(),
                role: Role::Admin,
                token_hash: "ab".repeat(32),
            };
            Some((encode_payload(&v1), Event::TokenCreated(v1.into())))
        }
        ("ChannelCreated", 1) | ("ChannelUpdated", 1) => {
            let v1 = if type_name == "ChannelCreated" {
                ChannelCreatedV1 {
                    channel_id: id,
                    config: ChannelConfigV1 {
                        name: "ops".into(),
                        kind: ChannelType::Webhook,
                        to: vec!["ops@example.com".into()],
                        url: Some("https://hooks.example/x".into()),
                        secret: Some("s3cret".into()),
                    },
                }
            } else {
                ChannelCreatedV1 {
                    channel_id: id,
                    config: ChannelConfigV1 {
                        name: "on-call".into(),
                        kind: ChannelType::Email,
                        to: vec!["oncall@example.com".into()],
                        url: None,
                        secret: None,
                    },
                }
            };
            let bytes = encode_payload(&v1);
            let upcast: ChannelCreated = v1.into();
            let event = if type_name == "ChannelCreated" {
                Event::ChannelCreated(upcast)
            } else {
                Event::ChannelUpdated(upcast)
            };
            Some((bytes, event))
        }
        ("HostMetricsReported", 1) => {
            let v1 = HostMetricsReportedV1 {
                hostname: "web-1".into(),
                sampled_at: at("2026-11-06T10:00:00Z"),
                cpu_percent: Some(45.2),
                cpu_percent_per_core: vec![40.0, 50.0],
                load_average: Some([1.5, 1.2, 1.0]),
                memory_total: Some(8_589_934_592),
                memory_used: Some(4_294_967_296),
                memory_percent: Some(50.0),
                disks: vec![DiskUsage {
                    mountpoint: "/".into(),
                    total: 100,
                    used: 50,
                    percent: 50.0,
                }],
                counters: [Some(1), Some(2), Some(3), None],
                rates: [Some(10.0), None, Some(0.5), Some(0.0)],
            };
            Some((
                encode_payload(&v1),
                Event::HostMetricsReported(Box::new(v1.into())),
            ))
        }
        ("MonitorChecked", 1) => {
            let v1 = sample_checked_v1();
            Some((encode_payload(&v1), Event::MonitorChecked(v1.into())))
        }
        ("MonitorCreated", 1) => {
            let v1 = MonitorCreatedV1 {
                monitor_id: id,
                config: sample_monitor_config_v1(),
                paused: false,
                push_token: Some("pt_abc".into()),
            };
            Some((
                encode_payload(&v1),
                Event::MonitorCreated(Box::new(v1.into())),
            ))
        }
        ("MonitorUpdated", 1) => {
            let v1 = MonitorUpdatedV1 {
                monitor_id: id,
                config: sample_monitor_config_v1(),
            };
            Some((
                encode_payload(&v1),
                Event::MonitorUpdated(Box::new(v1.into())),
            ))
        }
        ("HostMetricsReported", 2) => {
            let v2 = HostMetricsReportedV2 {
                hostname: "web-1".into(),
                sampled_at: at("2026-11-06T10:00:00Z"),
                cpu_percent: Some(45.2),
                cpu_percent_per_core: vec![40.0, 50.0],
                cpu_count: Some(2),
                load_average: Some([1.5, 1.2, 1.0]),
                memory_total: Some(8_589_934_592),
                memory_used: Some(4_294_967_296),
                memory_percent: Some(50.0),
                disks: vec![DiskUsage {
                    mountpoint: "/".into(),
                    total: 100,
                    used: 50,
                    percent: 50.0,
                }],
                counters: [Some(1), Some(2), Some(3), None],
                rates: [Some(10.0), None, Some(0.5), Some(0.0)],
            };
            Some((
                encode_payload(&v2),
                Event::HostMetricsReported(Box::new(v2.into())),
            ))
        }
        _ => None,
    }
}

fn check_or_bless(name: &str, current: &[u8]) -> Vec<u8> {
    let path = golden_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(_) if std::env::var_os("WATCHFIRE_BLESS").is_some() => {
            std::fs::create_dir_all(golden_dir()).expect("golden dir");
            std::fs::write(&path, current).expect("write golden file");
            current.to_vec()
        }
        Err(e) => panic!(
            "missing golden file {}: {e} (a new event type or version? run with WATCHFIRE_BLESS=1)",
            path.display()
        ),
    }
}

/// Every version of every event type has a golden file that still decodes, upcast to today's shape.
#[test]
fn every_event_version_ever_written_still_decodes() {
    for (type_name, current) in EVENT_TYPES {
        for schema in 1..=*current {
            let file = format!("{type_name}.v{schema}.bin");
            let (fresh, expected) = if schema == *current {
                let e = sample(type_name);
                (e.encode_payload(), e)
            } else {
                old_sample(type_name, schema)
                    .unwrap_or_else(|| panic!("no sample for {type_name} v{schema}"))
            };
            let stored = check_or_bless(&file, &fresh);
            let decoded = Event::decode(type_name, schema, &stored)
                .unwrap_or_else(|e| panic!("{file} no longer decodes: {e}"));
            assert_eq!(decoded, expected, "{file} decodes to something else");
            if schema == *current {
                assert_eq!(
                    stored, fresh,
                    "{file}: the current schema now encodes differently; bump the schema version"
                );
            }
        }
    }
}

/// A whole stored record (format byte, chain hash, envelope) keeps decoding to the same envelope.
#[test]
fn a_stored_record_keeps_its_envelope_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = crate::helpers::open_store(dir.path());
    // The golden record was written with schema 1 of `MonitorChecked`: it decodes to its upcast.
    let new = NewEvent {
        event: Event::MonitorChecked(sample_checked_v1().into()),
        actor: Actor("token:00000000-0000-0000-0000-000000000001".into()),
        correlation_id: Uuid::from_u128(7),
        causation: Some(Position(3)),
    };
    rt.block_on(store.append(
        StreamId::new("monitor-1").expect("id"),
        ExpectedVersion::Any,
        vec![new.clone()],
    ))
    .expect("append");
    let (_, fresh) = store.read_raw(Position::START, 1).expect("read").remove(0);
    rt.block_on(store.close());
    let stored = check_or_bless("record.v1.bin", &fresh);
    assert_eq!(stored[0], RECORD_FORMAT);
    let e = decode_record(&stored).expect("the stored record decodes");
    assert_eq!(e.position, Position(1));
    assert_eq!(e.stream.as_str(), "monitor-1");
    assert_eq!(e.version, StreamVersion(0));
    assert_eq!(e.event, new.event);
    assert_eq!(e.actor, new.actor);
    assert_eq!(e.correlation_id, new.correlation_id);
    assert_eq!(e.causation, Some(Position(3)));
    assert_eq!(e.chain, Chain::Observations);
    assert_eq!(e.prev_in_chain, None);
    let report = verify_records(
        ChainState {
            heads: [
                ChainLink::default(),
                ChainLink {
                    position: Some(Position(1)),
                    hash: e.hash,
                },
            ],
            ..Default::default()
        },
        [(Position(1), stored.as_slice())],
    );
    assert!(
        report.intact(),
        "the golden record's hash still verifies: {:?}",
        report.problem
    );
}

/// Unknown types and corrupt payloads are typed errors, never a panic.
#[test]
fn unknown_types_and_corrupt_payloads_are_errors() {
    assert!(matches!(
        Event::decode("NoSuchEvent", 1, &[]),
        Err(CodecError::UnknownType { .. })
    ));
    assert!(matches!(
        Event::decode("TokenCreated", 99, &[]),
        Err(CodecError::UnknownType { .. })
    ));
    let mut bytes = sample("TokenRevoked").encode_payload();
    bytes.truncate(5);
    assert!(Event::decode("TokenRevoked", 1, &bytes).is_err());
    // A length prefix claiming terabytes must not allocate them.
    let huge = u64::MAX.to_le_bytes();
    assert!(Event::decode("ServerStopped", 1, &huge).is_err());
    assert!(decode_record(&[1, 2, 3]).is_err());
    assert!(decode_record(&[9; 40]).is_err());
}
