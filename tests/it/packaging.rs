//! What a user installing att relies on: `att --version` names the commit, the completion
//! scripts generate, and the README's systemd unit and container recipe are valid and run a
//! command line att accepts (the unit through `systemd-analyze verify` where it is
//! installed; the test says when it is not).

use std::path::Path;
use std::process::Command;

use att::cli::{Cli, Command as AttCommand};
use clap::Parser;

const ATT: &str = env!("CARGO_BIN_EXE_att");

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The first fenced block of `lang` in the README.
fn block(readme: &str, lang: &str) -> String {
    let open = format!("```{lang}\n");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} block"))
        + open.len();
    let len = readme[start..].find("```").expect("closed block");
    readme[start..start + len].to_owned()
}

/// `att` plus `args` parsed as att's command line: a `serve`, with its options.
fn parses_as_serve(args: &[String]) {
    let argv = std::iter::once("att".to_owned()).chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: AttCommand::Serve(_),
        }) => {}
        Ok(other) => panic!("{args:?} is not `att serve`: {other:?}"),
        Err(e) => panic!("att refuses {args:?}: {e}"),
    }
}

#[test]
fn version_names_the_commit_att_was_built_from() {
    let out = Command::new(ATT).arg("--version").output().expect("att");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let commit = text
        .trim()
        .strip_prefix(concat!("att ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line {text:?}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(head) => assert_eq!(commit, head),
        None => eprintln!("packaging: not a git checkout; commit {commit:?} not compared"),
    }
}

#[test]
fn completion_scripts_cover_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef att"),
        ("fish", "complete -c att"),
    ] {
        let out = Command::new(ATT)
            .args(["completions", shell])
            .output()
            .expect("att");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).expect("utf-8");
        assert!(script.contains(marker), "{shell}: {marker}");
        for sub in ["serve", "launch", "bootstrap", "completions"] {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
    }
    let out = Command::new(ATT)
        .args(["completions", "cmd.exe"])
        .output()
        .expect("att");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_readme_systemd_unit_is_valid_and_runs_att_serve() {
    let unit = block(&readme(), "ini");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words = exec.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/att"));
    parses_as_serve(&words.collect::<Vec<_>>());

    let verify = Command::new("systemd-analyze").arg("--version").output();
    if !verify.is_ok_and(|o| o.status.success()) {
        eprintln!("packaging: SKIPPED `systemd-analyze verify` (not installed)");
        return;
    }
    // The unit as installed, pointing at the att under test.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("att.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/att", ATT)).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // It warns (exit 0) about a bad setting: any line naming the unit is a finding.
    let findings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("att.service"))
        .collect();
    assert!(
        out.status.success() && findings.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_readme_container_recipe_builds_att_and_runs_att_serve() {
    let recipe = block(&readme(), "dockerfile");
    // Logical lines: continuations joined.
    let joined = recipe.replace("\\\n", " ");
    let instructions: Vec<(&str, &str)> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(' ').unwrap_or((l, "")))
        .collect();
    const KNOWN: &[&str] = &[
        "FROM",
        "WORKDIR",
        "COPY",
        "ARG",
        "RUN",
        "USER",
        "VOLUME",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
        "ENV",
        "LABEL",
    ];
    for (keyword, _) in &instructions {
        assert!(KNOWN.contains(keyword), "unknown instruction {keyword}");
    }
    let all = |k: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(kw, _)| *kw == k)
            .map(|(_, rest)| *rest)
            .collect()
    };
    assert_eq!(all("FROM").len(), 2, "a build stage and a runtime stage");
    assert!(
        all("RUN")
            .iter()
            .any(|r| r.contains("cargo build --release --locked --bin att"))
    );
    assert!(
        all("COPY")
            .iter()
            .any(|c| c.starts_with("--from=build /src/target/release/att "))
    );
    let json = |k: &str| -> Vec<String> {
        let rest = all(k).pop().unwrap_or_else(|| panic!("no {k}"));
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("{k} is not exec form: {e}"))
    };
    let entry = json("ENTRYPOINT");
    assert_eq!(entry, ["att"]);
    parses_as_serve(&json("CMD"));
}
