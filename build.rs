//! Builds the dashboard (`web/`) with npm and Vite and embeds its files in the
//! binary: `$OUT_DIR/web_assets.rs` lists every file of the build with its bytes.
//!
//! `WATCHFIRE_WEB_DIST` names an already built `web/dist` to embed instead, for
//! machines that build the binary without Node.js.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let web = root.join("web");
    for input in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.js",
    ] {
        println!("cargo:rerun-if-changed=web/{input}");
    }
    println!("cargo:rerun-if-env-changed=WATCHFIRE_WEB_DIST");

    let out = PathBuf::from(env("OUT_DIR"));
    let dist = match std::env::var_os("WATCHFIRE_WEB_DIST") {
        Some(dist) => PathBuf::from(dist),
        None => {
            let dist = out.join("web");
            build_dashboard(&web, &dist);
            dist
        }
    };
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    if !files.iter().any(|(name, _)| name == "index.html") {
        fail(&format!("{} holds no index.html", dist.display()));
    }

    let mut source = String::from(
        "/// Every file of the dashboard build: its path under the site root and its bytes.\n\
         pub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        let _ = writeln!(source, "    ({name:?}, include_bytes!({path:?})),");
    }
    source.push_str("];\n");
    if let Err(e) = fs::write(out.join("web_assets.rs"), source) {
        fail(&format!("cannot write web_assets.rs: {e}"));
    }
}

/// Installs the locked npm packages when they changed, then runs `vite build` into `dist`.
fn build_dashboard(web: &Path, dist: &Path) {
    // Two cargo builds (debug and release) may run this at once: one at a time in `web/`.
    let lock = fs::File::create(web.join("node_modules.lock"))
        .unwrap_or_else(|e| fail(&format!("cannot create web/node_modules.lock: {e}")));
    if let Err(e) = lock.lock() {
        fail(&format!("cannot lock web/node_modules.lock: {e}"));
    }
    let installed = web.join("node_modules").join(".package-lock.json");
    let stale = match (
        modified(&installed),
        modified(&web.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    };
    if stale {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(web),
            "npm ci",
        );
    }
    run(
        Command::new("node")
            .arg(web.join("node_modules/vite/bin/vite.js"))
            .args(["build", "--logLevel", "warn"])
            .env("WATCHFIRE_WEB_OUT", dist)
            .current_dir(web),
        "vite build",
    );
}

fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!("{what} failed ({status})")),
        Err(e) => fail(&format!(
            "cannot run {what}: {e}. The dashboard needs Node.js and npm to build \
             (or set WATCHFIRE_WEB_DIST to a built web/dist)"
        )),
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Every file under `dir` as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", dir.display())));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((name, path.to_string_lossy().into_owned()));
        }
    }
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| fail(&format!("cargo sets {key}")))
}

fn fail(message: &str) -> ! {
    eprintln!("watchfire build: {message}");
    std::process::exit(1);
}
