//! What a check's settings mean, parsed the same way when a monitor is created (to refuse
//! bad settings with the field named) and when it is checked: status ranges, regular
//! expressions, JSON paths and values, DNS record types and resolvers. Pure: no I/O.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use serde_json_path::JsonPath;

/// The most memory one compiled `body_regex` may use.
const MAX_REGEX_BYTES: usize = 1024 * 1024;

/// The DNS record types a `dns` monitor may ask for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DnsRecordType {
    /// An IPv4 address.
    A,
    /// An IPv6 address.
    Aaaa,
    /// A canonical name.
    Cname,
    /// A mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// A name server.
    Ns,
}

/// Parses a status spec like "200-299" or "301" into an inclusive range; Err names the problem. (Used by API validation too.)
pub fn parse_status_range(spec: &str) -> Result<RangeInclusive<u16>, String> {
    let code = |text: &str| -> Result<u16, String> {
        text.trim()
            .parse::<u16>()
            .ok()
            .filter(|code| (100..=999).contains(code))
            .ok_or_else(|| format!("{:?} is not an HTTP status code (100 to 999)", text.trim()))
    };
    match spec.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(format!("status range {spec:?} runs backwards"));
            }
            Ok(low..=high)
        }
        None => code(spec).map(|c| c..=c),
    }
}

/// Checks that `path` is an RFC 9535 JSON path; Err says where it is wrong.
pub fn validate_json_path(path: &str) -> Result<(), String> {
    parse_json_path(path).map(drop)
}

/// Checks that `text` is a JSON value (the `equals` of a JSON path expectation).
pub fn validate_json_value(text: &str) -> Result<(), String> {
    parse_json_value(text).map(drop)
}

/// Checks that `re` is a regular expression a check can use; Err says why not.
pub fn validate_regex(re: &str) -> Result<(), String> {
    compile_regex(re).map(drop)
}

/// Parses a DNS record type (A, AAAA, CNAME, MX, TXT, NS), in any case.
pub fn parse_record_type(s: &str) -> Result<DnsRecordType, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        "A" => Ok(DnsRecordType::A),
        "AAAA" => Ok(DnsRecordType::Aaaa),
        "CNAME" => Ok(DnsRecordType::Cname),
        "MX" => Ok(DnsRecordType::Mx),
        "TXT" => Ok(DnsRecordType::Txt),
        "NS" => Ok(DnsRecordType::Ns),
        _ => Err(format!(
            "unknown DNS record type {s:?}: use A, AAAA, CNAME, MX, TXT or NS"
        )),
    }
}

/// Parses a DNS server address: `ip` (port 53) or `ip:port` (`[v6]:port` for IPv6).
pub fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "invalid DNS server {s:?}: use an IP address, optionally with :port"
    ))
}

pub fn parse_json_path(path: &str) -> Result<JsonPath, String> {
    JsonPath::parse(path).map_err(|e| format!("invalid JSON path {path:?}: {e}"))
}

pub fn parse_json_value(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("expected value {text:?} is not JSON: {e}"))
}

pub fn compile_regex(re: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(re)
        .size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| {
            // The syntax error's text draws a caret under the spot over several lines; its
            // last line says what is wrong, which is what fits in a check's one-line reason.
            let why = match &e {
                regex::Error::Syntax(text) => text
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_owned(),
                regex::Error::CompiledTooBig(_) => "too big".to_owned(),
                other => other.to_string(),
            };
            format!("invalid regular expression {re:?}: {why}")
        })
}
