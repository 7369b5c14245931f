//! The invariants of ARCHITECTURE.md that the source itself can show, checked by reading it:
//! where sled, the clock and the upper layers may appear, and that no stream id falls back
//! silently to another stream.

use std::path::{Path, PathBuf};

use regex::Regex;

/// One source file: its path under the crate and its text.
struct Source {
    path: String,
    text: String,
}

/// A rule: files it covers, and the pattern that must not occur in their code.
struct Rule {
    /// What the rule keeps, as ARCHITECTURE.md says it.
    what: &'static str,
    /// Whether the rule covers a file, by its path under the crate (`src/...`).
    covers: fn(&str) -> bool,
    /// What must not appear in the code (comments are not code).
    forbidden: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        what: "only src/events opens sled",
        covers: |p| !p.starts_with("src/events/"),
        forbidden: r"\bsled::|\buse sled\b|\bextern crate sled\b",
    },
    Rule {
        what: "only src/events talks to PostgreSQL",
        covers: |p| !p.starts_with("src/events/"),
        forbidden: r"\btokio_postgres\b|\bpostgres::",
    },
    Rule {
        what: "projections and the domain never read the clock",
        covers: |p| p.starts_with("src/projections/") || p.starts_with("src/domain/"),
        forbidden: r"\b(Utc|Local|SystemTime|Instant|OffsetDateTime)::now\b|\bchrono::offset::",
    },
    Rule {
        what: "the domain does no I/O, draws no randomness and stands below every other layer but events",
        covers: |p| p.starts_with("src/domain/"),
        forbidden: r"\bstd::(fs|process)\b|\bstd::net::(Tcp|Udp)|\btokio::|\bactix|\breqwest::(Client|ClientBuilder|get|blocking)\b|\brand::|Uuid::new_v4|\bcrate::(actors|http|server|projections|command|notify|agent|cluster)\b",
    },
    Rule {
        what: "events know nothing of the layers above them",
        covers: |p| p.starts_with("src/events/"),
        forbidden: r"\bcrate::(server|http|command|actors|projections|domain|notify|agent|cluster)\b",
    },
    Rule {
        what: "projections never write the log",
        covers: |p| p.starts_with("src/projections/"),
        forbidden: r"\.append\(|command::",
    },
    Rule {
        what: "no stream id falls back silently to another stream",
        covers: |p| p.starts_with("src/"),
        forbidden: r"unwrap_or(_else)?\(\s*(\|[^|]*\|\s*)?StreamId::|StreamId::[a-z_]+\([^)]*\)\s*\.unwrap_or",
    },
    Rule {
        what: "event payloads never use serde flatten, skip or untagged",
        covers: |p| {
            ["event.rs", "alerting.rs", "channel_settings.rs", "people.rs", "types.rs"]
                .iter()
                .any(|f| p == format!("src/events/{f}"))
        },
        forbidden: r"#\[serde\([^\]]*\b(flatten|skip|skip_serializing_if|untagged)\b",
    },
    Rule {
        what: "every queue is bounded",
        covers: |p| p.starts_with("src/"),
        forbidden: r"\bunbounded_channel\b|\bmpsc::channel\(\)|\bunbounded\(\)",
    },
];

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry reads").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate's own sources, with paths relative to the crate.
fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| Source {
            path: file
                .strip_prefix(root)
                .expect("under the crate")
                .to_string_lossy()
                .replace('\\', "/"),
            text: std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        })
        .collect()
}

/// The text with every line comment (`//`, `///`, `//!`) blanked, lines kept in place.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with("//") {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every breach of `rules` in `sources`, as `path:line: rule: the line`.
fn breaches(rules: &[Rule], sources: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for rule in rules {
        let pattern = Regex::new(rule.forbidden).expect("the rule's pattern compiles");
        for source in sources.iter().filter(|s| (rule.covers)(&s.path)) {
            let code = code_of(&source.text);
            for m in pattern.find_iter(&code) {
                let line = code[..m.start()].matches('\n').count() + 1;
                let text = code.lines().nth(line - 1).unwrap_or_default().trim();
                found.push(format!("{}:{line}: {}: {text}", source.path, rule.what));
            }
        }
    }
    found
}

#[test]
fn the_source_keeps_the_architecture_invariants() {
    let sources = sources();
    assert!(
        sources.iter().any(|s| s.path == "src/events/store.rs"),
        "the sources are found"
    );
    let found = breaches(RULES, &sources);
    assert!(found.is_empty(), "invariants broken:\n{}", found.join("\n"));
}

#[test]
fn each_invariant_catches_a_breach_of_it() {
    let planted = [
        ("src/http/users.rs", "let t: sled::Tree = todo;"),
        (
            "src/cluster.rs",
            "let c = tokio_postgres::connect(url, NoTls);",
        ),
        ("src/projections/hosts.rs", "let now = Utc::now();"),
        ("src/domain/monitor.rs", "let id = Uuid::new_v4();"),
        ("src/events/remote.rs", "use crate::server::run;"),
        (
            "src/projections/tokens.rs",
            "store.append(stream, any, events)",
        ),
        (
            "src/http/alerts.rs",
            "StreamId::new(s).unwrap_or_else(|_| StreamId::system())",
        ),
        ("src/events/event.rs", "#[serde(flatten)]"),
        (
            "src/actors/health.rs",
            "let (tx, rx) = mpsc::unbounded_channel();",
        ),
    ];
    for (path, line) in planted {
        let sources = [Source {
            path: path.to_owned(),
            text: format!("fn f() {{\n    {line}\n}}\n"),
        }];
        let found = breaches(RULES, &sources);
        assert_eq!(found.len(), 1, "{path}: `{line}` is caught once: {found:?}");
        assert!(found[0].starts_with(&format!("{path}:2: ")), "{found:?}");
    }
}

#[test]
fn comments_and_allowed_places_are_not_breaches() {
    let sources = [
        Source {
            path: "src/events/store.rs".to_owned(),
            text: "fn open() { let db = sled::Config::new(); }\n".to_owned(),
        },
        Source {
            path: "src/projections/rollups.rs".to_owned(),
            text: "/// Saved in a sled:: tree, never Utc::now().\nfn f() {}\n".to_owned(),
        },
        Source {
            path: "src/actors/monitor/actor.rs".to_owned(),
            text: "fn due() -> DateTime<Utc> { Utc::now() }\n".to_owned(),
        },
    ];
    assert_eq!(breaches(RULES, &sources), Vec::<String>::new());
}
