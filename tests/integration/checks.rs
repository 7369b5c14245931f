//! Check executors against real local targets: every kind, every expectation both ways,
//! timeouts and certificates; plus the validation helpers the API uses.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use watchfire::actors::monitor::checks::{CheckOutcome, Checker};
use watchfire::domain::expect::{
    parse_record_type, parse_resolver, parse_status_range, validate_json_path, validate_json_value,
    validate_regex, DnsRecordType,
};
use watchfire::events::{Expectations, JsonPathExpectation, MonitorConfig, MonitorKind};

use super::targets::{DnsTarget, HttpTarget, HttpsTarget, TcpTarget};

/// Long enough that nothing on a slow shared machine hits it unless a test means to.
const GENEROUS_TIMEOUT_MS: u32 = 10_000;

fn config(kind: MonitorKind) -> MonitorConfig {
    MonitorConfig {
        name: "test".to_owned(),
        kind,
        url: None,
        host: None,
        port: None,
        record_type: None,
        resolver: None,
        interval_s: 60,
        timeout_ms: GENEROUS_TIMEOUT_MS,
        retries: 1,
        recover_after: 1,
        method: "GET".to_owned(),
        headers: BTreeMap::new(),
        body: None,
        follow_redirects: true,
        ignore_tls_errors: false,
        expect: Expectations::default(),
        cert_expiry_days: None,
        grace_s: 0,
        tags: Vec::new(),
        ping: None,
    }
}

fn http(url: String) -> MonitorConfig {
    MonitorConfig {
        url: Some(url),
        ..config(MonitorKind::Http)
    }
}

fn tcp(port: u16) -> MonitorConfig {
    MonitorConfig {
        host: Some("127.0.0.1".to_owned()),
        port: Some(port),
        ..config(MonitorKind::Tcp)
    }
}

fn dns(target: &DnsTarget, host: &str, record_type: &str) -> MonitorConfig {
    MonitorConfig {
        host: Some(host.to_owned()),
        record_type: Some(record_type.to_owned()),
        resolver: Some(target.resolver()),
        ..config(MonitorKind::Dns)
    }
}

async fn run(config: &MonitorConfig) -> CheckOutcome {
    Checker::new().expect("a checker").check(config).await
}

fn assert_ok(outcome: &CheckOutcome) {
    assert!(outcome.ok, "expected ok, got {outcome:?}");
    assert_eq!(outcome.error, None);
}

fn assert_fails_with(outcome: &CheckOutcome, reason: &str) {
    assert!(!outcome.ok, "expected a failure, got {outcome:?}");
    let error = outcome.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(reason),
        "error {error:?} should mention {reason:?}"
    );
}

// HTTP: status

#[tokio::test]
async fn http_check_is_ok_on_200_and_reports_status_and_latency() {
    let target = HttpTarget::start();
    let outcome = run(&http(target.url("/health"))).await;
    assert_ok(&outcome);
    assert_eq!(outcome.status_code, Some(200));
    assert!(outcome.latency_ms > 0.0);
    assert_eq!(outcome.cert_expires_at, None);
}

#[tokio::test]
async fn http_check_fails_on_503_outside_the_default_range() {
    let target = HttpTarget::start();
    target.set_status(503);
    let outcome = run(&http(target.url("/"))).await;
    assert_fails_with(&outcome, "status 503 not in 200-299");
    assert_eq!(outcome.status_code, Some(503));
}

#[tokio::test]
async fn http_check_fails_when_the_target_fails() {
    let target = HttpTarget::start();
    target.fail();
    let outcome = run(&http(target.url("/"))).await;
    assert_fails_with(&outcome, "status 500 not in 200-299");
}

#[tokio::test]
async fn http_check_accepts_a_status_listed_in_expectations() {
    let target = HttpTarget::start();
    target.set_status(404);
    let mut config = http(target.url("/"));
    config.expect.status = vec!["200-299".to_owned(), "404".to_owned()];
    assert_ok(&run(&config).await);
}

#[tokio::test]
async fn http_check_rejects_a_status_outside_every_listed_range() {
    let target = HttpTarget::start();
    target.set_status(404);
    let mut config = http(target.url("/"));
    config.expect.status = vec!["200-299".to_owned(), "301".to_owned()];
    let outcome = run(&config).await;
    assert_fails_with(&outcome, "status 404 not in 200-299, 301");
    assert_eq!(outcome.status_code, Some(404));
}

#[tokio::test]
async fn http_check_with_a_bad_status_spec_fails_without_panicking() {
    let target = HttpTarget::start();
    let mut config = http(target.url("/"));
    config.expect.status = vec!["2xx".to_owned()];
    assert_fails_with(&run(&config).await, "not an HTTP status code");
}

// HTTP: body

#[tokio::test]
async fn http_check_passes_when_the_body_contains_the_text() {
    let target = HttpTarget::start();
    target.set_body("text/plain", "all systems nominal");
    let mut config = http(target.url("/"));
    config.expect.body_contains = Some("nominal".to_owned());
    assert_ok(&run(&config).await);
}

#[tokio::test]
async fn http_check_fails_when_the_body_lacks_the_text() {
    let target = HttpTarget::start();
    target.set_body("text/plain", "degraded");
    let mut config = http(target.url("/"));
    config.expect.body_contains = Some("ok".to_owned());
    let outcome = run(&config).await;
    assert_fails_with(&outcome, r#"body does not contain "ok""#);
    assert_eq!(outcome.status_code, Some(200));
}

#[tokio::test]
async fn http_check_passes_when_the_body_matches_the_regex() {
    let target = HttpTarget::start();
    target.set_body("text/plain", "version 2.14.1 up");
    let mut config = http(target.url("/"));
    config.expect.body_regex = Some(r"version \d+\.\d+\.\d+".to_owned());
    assert_ok(&run(&config).await);
}

#[tokio::test]
async fn http_check_fails_when_the_body_does_not_match_the_regex() {
    let target = HttpTarget::start();
    target.set_body("text/plain", "version unknown");
    let mut config = http(target.url("/"));
    config.expect.body_regex = Some(r"version \d+".to_owned());
    assert_fails_with(&run(&config).await, "body does not match");
}

#[tokio::test]
async fn http_check_with_an_invalid_regex_fails_without_panicking() {
    let target = HttpTarget::start();
    let mut config = http(target.url("/"));
    config.expect.body_regex = Some("(unclosed".to_owned());
    assert_fails_with(&run(&config).await, "invalid regular expression");
}

#[tokio::test]
async fn http_check_reads_at_most_one_mebibyte_of_body() {
    let target = HttpTarget::start();
    let body = format!("head{}tail", "x".repeat(1024 * 1024));
    target.set_body("text/plain", &body);
    let mut config = http(target.url("/"));
    config.expect.body_contains = Some("head".to_owned());
    assert_ok(&run(&config).await);
    config.expect.body_contains = Some("tail".to_owned());
    assert_fails_with(&run(&config).await, r#"body does not contain "tail""#);
}

// HTTP: JSON path

fn json_path(path: &str, equals: &str) -> Option<JsonPathExpectation> {
    Some(JsonPathExpectation {
        path: path.to_owned(),
        equals: equals.to_owned(),
    })
}

#[tokio::test]
async fn http_check_passes_when_the_json_path_equals_the_value() {
    let target = HttpTarget::start();
    target.set_body(
        "application/json",
        r#"{"status":"green","nodes":[{"up":true},{"up":false}]}"#,
    );
    let mut config = http(target.url("/"));
    config.expect.json_path = json_path("$.status", r#""green""#);
    assert_ok(&run(&config).await);
    config.expect.json_path = json_path("$.nodes[0].up", "true");
    assert_ok(&run(&config).await);
}

#[tokio::test]
async fn http_check_fails_when_the_json_path_has_another_value() {
    let target = HttpTarget::start();
    target.set_body("application/json", r#"{"status":"red"}"#);
    let mut config = http(target.url("/"));
    config.expect.json_path = json_path("$.status", r#""green""#);
    assert_fails_with(
        &run(&config).await,
        r#"$.status is "red", expected "green""#,
    );
}

#[tokio::test]
async fn http_check_fails_when_the_json_path_matches_nothing() {
    let target = HttpTarget::start();
    target.set_body("application/json", r#"{"state":"green"}"#);
    let mut config = http(target.url("/"));
    config.expect.json_path = json_path("$.status", r#""green""#);
    assert_fails_with(&run(&config).await, "$.status matches nothing");
}

#[tokio::test]
async fn http_check_fails_when_a_json_path_is_expected_of_a_non_json_body() {
    let target = HttpTarget::start();
    target.set_body("text/html", "<html>green</html>");
    let mut config = http(target.url("/"));
    config.expect.json_path = json_path("$.status", r#""green""#);
    assert_fails_with(&run(&config).await, "body is not JSON");
}

// HTTP: latency and timeout

#[tokio::test]
async fn http_check_fails_when_slower_than_max_latency() {
    let target = HttpTarget::start();
    target.slow_down(Duration::from_millis(1500));
    let mut config = http(target.url("/"));
    config.expect.max_latency_ms = Some(300);
    let outcome = run(&config).await;
    assert_fails_with(&outcome, "over 300 ms");
    assert_eq!(outcome.status_code, Some(200));
    assert!(outcome.latency_ms >= 1500.0, "{outcome:?}");
}

#[tokio::test]
async fn http_check_passes_when_within_max_latency() {
    let target = HttpTarget::start();
    let mut config = http(target.url("/"));
    config.expect.max_latency_ms = Some(GENEROUS_TIMEOUT_MS);
    assert_ok(&run(&config).await);
}

#[tokio::test]
async fn http_check_times_out_and_returns_about_when_the_timeout_ends() {
    let target = HttpTarget::start();
    target.slow_down(Duration::from_secs(5));
    let mut config = http(target.url("/"));
    config.timeout_ms = 300;
    let started = Instant::now();
    let outcome = run(&config).await;
    let waited = started.elapsed();
    assert_fails_with(&outcome, "timed out after 300 ms");
    assert_eq!(outcome.status_code, None);
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
    assert!(outcome.latency_ms >= 300.0, "{outcome:?}");
}

// HTTP: redirects, request contents, connection failures

#[tokio::test]
async fn http_check_follows_redirects_when_asked() {
    let target = HttpTarget::start();
    let outcome = run(&http(target.url("/redirect"))).await;
    assert_ok(&outcome);
    assert_eq!(outcome.status_code, Some(200));
    let paths: Vec<String> = target.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/redirect", "/"]);
}

#[tokio::test]
async fn http_check_reports_the_redirect_itself_when_not_following() {
    let target = HttpTarget::start();
    let mut config = http(target.url("/redirect"));
    config.follow_redirects = false;
    let outcome = run(&config).await;
    assert_fails_with(&outcome, "status 302 not in 200-299");
    assert_eq!(outcome.status_code, Some(302));
    config.expect.status = vec!["302".to_owned()];
    assert_ok(&run(&config).await);
    assert!(target.requests().iter().all(|r| r.path == "/redirect"));
}

#[tokio::test]
async fn http_check_sends_the_method_headers_and_body() {
    let target = HttpTarget::start();
    let mut config = http(target.url("/hook"));
    config.method = "POST".to_owned();
    config
        .headers
        .insert("X-Probe".to_owned(), "watchfire".to_owned());
    config.body = Some(r#"{"ping":1}"#.to_owned());
    assert_ok(&run(&config).await);
    let requests = target.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].header("x-probe"), Some("watchfire"));
    assert_eq!(requests[0].body, r#"{"ping":1}"#);
}

#[tokio::test]
async fn http_check_reports_connection_refused() {
    let mut closed = TcpTarget::start();
    closed.close();
    let outcome = run(&http(format!("http://127.0.0.1:{}/", closed.port()))).await;
    assert_fails_with(&outcome, "connection refused");
    assert_eq!(outcome.status_code, None);
}

#[tokio::test]
async fn http_check_with_bad_settings_fails_without_panicking() {
    let checker = Checker::new().expect("a checker");
    let no_url = config(MonitorKind::Http);
    assert_fails_with(&checker.check(&no_url).await, "no url");
    let bad_url = http("not a url".to_owned());
    assert_fails_with(&checker.check(&bad_url).await, "invalid url");
    let ftp = http("ftp://127.0.0.1/".to_owned());
    assert_fails_with(&checker.check(&ftp).await, "unsupported url scheme");
    let mut bad_method = http("http://127.0.0.1/".to_owned());
    bad_method.method = "GE T".to_owned();
    assert_fails_with(&checker.check(&bad_method).await, "invalid HTTP method");
    let mut bad_header = http("http://127.0.0.1/".to_owned());
    bad_header
        .headers
        .insert("X-Bad".to_owned(), "line\nbreak".to_owned());
    assert_fails_with(
        &checker.check(&bad_header).await,
        "invalid value for header",
    );
}

// HTTPS

#[tokio::test]
async fn https_check_ignoring_tls_errors_reports_the_certificate_expiry() {
    let target = HttpsTarget::start(30);
    let mut config = http(target.url("/"));
    config.ignore_tls_errors = true;
    let outcome = run(&config).await;
    assert_ok(&outcome);
    assert_eq!(outcome.status_code, Some(200));
    let expires = outcome.cert_expires_at.expect("a certificate expiry");
    let off_by = (expires - target.expires_at()).num_seconds().abs();
    assert!(off_by <= 60, "expiry {expires} vs {}", target.expires_at());
}

#[tokio::test]
async fn https_check_reports_the_certificate_expiry_even_when_the_status_fails() {
    let target = HttpsTarget::start(3);
    target.set_status(503);
    let mut config = http(target.url("/"));
    config.ignore_tls_errors = true;
    let outcome = run(&config).await;
    assert_fails_with(&outcome, "status 503");
    assert!(outcome.cert_expires_at.is_some(), "{outcome:?}");
}

#[tokio::test]
async fn https_check_verifying_certificates_rejects_a_self_signed_one() {
    let target = HttpsTarget::start(30);
    let outcome = run(&http(target.url("/"))).await;
    assert_fails_with(&outcome, "certificate");
    assert_eq!(outcome.status_code, None);
    assert_eq!(outcome.cert_expires_at, None);
    assert!(target.requests().is_empty());
}

// TCP

#[tokio::test]
async fn tcp_check_passes_when_the_port_accepts() {
    let target = TcpTarget::start();
    let outcome = run(&tcp(target.port())).await;
    assert_ok(&outcome);
    assert_eq!(outcome.status_code, None);
}

#[tokio::test]
async fn tcp_check_fails_with_connection_refused_once_closed() {
    let mut target = TcpTarget::start();
    let checker = Checker::new().expect("a checker");
    assert_ok(&checker.check(&tcp(target.port())).await);
    target.close();
    assert_fails_with(
        &checker.check(&tcp(target.port())).await,
        "connection refused",
    );
}

#[tokio::test]
async fn tcp_check_without_a_port_fails_without_panicking() {
    let mut config = tcp(1);
    config.port = None;
    assert_fails_with(&run(&config).await, "no port");
}

// DNS

#[tokio::test]
async fn dns_check_passes_when_an_a_record_has_the_expected_address() {
    let target = DnsTarget::start();
    let host = "api.watchfire.test";
    target.set_a(
        host,
        &[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
    );
    let mut config = dns(&target, host, "A");
    assert_ok(&run(&config).await);
    config.expect.contains = Some("10.0.0.2".to_owned());
    assert_ok(&run(&config).await);
}

#[tokio::test]
async fn dns_check_fails_when_no_a_record_has_the_expected_address() {
    let target = DnsTarget::start();
    let host = "api.watchfire.test";
    target.set_a(host, &[Ipv4Addr::new(10, 0, 0, 1)]);
    let mut config = dns(&target, host, "a");
    config.expect.contains = Some("192.0.2.7".to_owned());
    assert_fails_with(&run(&config).await, r#"no A answer contains "192.0.2.7""#);
}

#[tokio::test]
async fn dns_check_fails_on_nxdomain() {
    let target = DnsTarget::start();
    target.set_a("api.watchfire.test", &[Ipv4Addr::new(10, 0, 0, 1)]);
    let config = dns(&target, "missing.watchfire.test", "A");
    assert_fails_with(&run(&config).await, "NXDOMAIN");
}

#[tokio::test]
async fn dns_check_fails_when_the_name_has_no_records_of_the_type() {
    let target = DnsTarget::start();
    target.set_a("api.watchfire.test", &[Ipv4Addr::new(10, 0, 0, 1)]);
    let config = dns(&target, "api.watchfire.test", "TXT");
    assert_fails_with(&run(&config).await, "no TXT records");
}

#[tokio::test]
async fn dns_check_passes_when_a_txt_record_contains_the_text() {
    let target = DnsTarget::start();
    let host = "watchfire.test";
    target.set_txt(host, &["v=spf1 -all", "site-verification=abc123"]);
    let mut config = dns(&target, host, "TXT");
    config.expect.contains = Some("verification=abc".to_owned());
    assert_ok(&run(&config).await);
    config.expect.contains = Some("verification=zzz".to_owned());
    assert_fails_with(&run(&config).await, "no TXT answer contains");
}

#[tokio::test]
async fn dns_check_asks_the_server_every_time() {
    let target = DnsTarget::start();
    let host = "api.watchfire.test";
    let checker = Checker::new().expect("a checker");
    let mut config = dns(&target, host, "A");
    config.expect.contains = Some("10.0.0.1".to_owned());
    target.set_a(host, &[Ipv4Addr::new(10, 0, 0, 1)]);
    assert_ok(&checker.check(&config).await);
    target.set_a(host, &[Ipv4Addr::new(10, 0, 0, 9)]);
    assert_fails_with(&checker.check(&config).await, "no A answer contains");
}

#[tokio::test]
async fn dns_check_times_out_when_the_server_never_answers() {
    // Bound but never read: queries vanish without an ICMP refusal.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free loopback port");
    let addr: SocketAddr = silent.local_addr().expect("a bound address");
    let mut config = config(MonitorKind::Dns);
    config.host = Some("api.watchfire.test".to_owned());
    config.resolver = Some(addr.to_string());
    config.timeout_ms = 300;
    let started = Instant::now();
    let outcome = run(&config).await;
    let waited = started.elapsed();
    assert_fails_with(&outcome, "timed out after 300 ms");
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
}

#[tokio::test]
async fn dns_check_with_bad_settings_fails_without_panicking() {
    let target = DnsTarget::start();
    let checker = Checker::new().expect("a checker");
    let bad_type = dns(&target, "watchfire.test", "SRV");
    assert_fails_with(&checker.check(&bad_type).await, "unknown DNS record type");
    let mut bad_resolver = dns(&target, "watchfire.test", "A");
    bad_resolver.resolver = Some("dns.example".to_owned());
    assert_fails_with(&checker.check(&bad_resolver).await, "invalid DNS server");
    let mut no_host = dns(&target, "watchfire.test", "A");
    no_host.host = None;
    assert_fails_with(&checker.check(&no_host).await, "no host");
}

#[tokio::test]
async fn push_monitors_are_not_checked() {
    assert_fails_with(&run(&config(MonitorKind::Push)).await, "heartbeats");
}

#[test]
fn checker_built_outside_a_runtime_works_in_one_runtime_after_another() {
    let checker = Checker::new().expect("a checker");
    let tcp_target = TcpTarget::start();
    let dns_target = DnsTarget::start();
    dns_target.set_a("api.watchfire.test", &[Ipv4Addr::new(10, 0, 0, 1)]);
    let config = dns(&dns_target, "api.watchfire.test", "A");
    // Like actix arbiters: the shared resolver must outlive the runtime that first used it.
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        assert_ok(&runtime.block_on(checker.check(&tcp(tcp_target.port()))));
        assert_ok(&runtime.block_on(checker.check(&config)));
    }
}

// Validation helpers

#[test]
fn parse_status_range_accepts_single_codes_and_ranges() {
    assert_eq!(parse_status_range("301"), Ok(301..=301));
    assert_eq!(parse_status_range("200-299"), Ok(200..=299));
    assert_eq!(parse_status_range(" 200 - 204 "), Ok(200..=204));
}

#[test]
fn parse_status_range_rejects_bad_specs() {
    for spec in [
        "",
        "abc",
        "2xx",
        "99",
        "1000",
        "200-",
        "-299",
        "299-200",
        "200-300-400",
    ] {
        let err = parse_status_range(spec).expect_err(spec);
        assert!(!err.is_empty(), "{spec:?} gives an empty error");
    }
    assert!(parse_status_range("299-200")
        .expect_err("backwards")
        .contains("backwards"));
}

#[test]
fn validate_json_path_accepts_rfc_9535_paths_only() {
    assert_eq!(validate_json_path("$.status"), Ok(()));
    assert_eq!(validate_json_path("$.nodes[?@.up == true].name"), Ok(()));
    for bad in ["", "status", "$.[", "$..", "$[?@.a ==]"] {
        let err = validate_json_path(bad).expect_err(bad);
        assert!(err.contains("invalid JSON path"), "{err}");
    }
}

#[test]
fn validate_json_value_rejects_text_that_is_not_json() {
    assert_eq!(validate_json_value(r#""green""#), Ok(()));
    assert_eq!(validate_json_value("{\"a\": [1, null]}"), Ok(()));
    assert!(validate_json_value("green").is_err());
    assert!(validate_json_value("").is_err());
}

#[test]
fn validate_regex_rejects_invalid_and_oversized_expressions() {
    assert_eq!(validate_regex(r"^ok\b"), Ok(()));
    assert!(validate_regex("(unclosed").is_err());
    assert!(validate_regex("[z-a]").is_err());
    assert!(validate_regex(r"\w{1000}{1000}").is_err());
}

#[test]
fn parse_record_type_is_case_insensitive_and_knows_six_types() {
    assert_eq!(parse_record_type("a"), Ok(DnsRecordType::A));
    assert_eq!(parse_record_type("AAAA"), Ok(DnsRecordType::Aaaa));
    assert_eq!(parse_record_type("Cname"), Ok(DnsRecordType::Cname));
    assert_eq!(parse_record_type("mx"), Ok(DnsRecordType::Mx));
    assert_eq!(parse_record_type("txt"), Ok(DnsRecordType::Txt));
    assert_eq!(parse_record_type("NS"), Ok(DnsRecordType::Ns));
    for bad in ["", "SRV", "PTR", "A A"] {
        assert!(parse_record_type(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn parse_resolver_defaults_to_port_53() {
    let parse = |s| parse_resolver(s).expect(s).to_string();
    assert_eq!(parse("9.9.9.9"), "9.9.9.9:53");
    assert_eq!(parse("127.0.0.1:5353"), "127.0.0.1:5353");
    assert_eq!(parse("::1"), "[::1]:53");
    assert_eq!(parse("[::1]:5353"), "[::1]:5353");
    for bad in ["", "dns.google", "1.1.1.1:99999", "1.1.1", "1.1.1.1:"] {
        assert!(parse_resolver(bad).is_err(), "{bad:?}");
    }
}
