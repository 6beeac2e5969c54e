//! The `code` area of the workspace tools (WORKSPACE.md): list, read, write, search and diff
//! a project's files, every path contained to the project root ([`super::paths`]). Blocking:
//! call from a blocking task.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::paths::{self, PathError};

/// Directories a listing or a search never enters: git's own, and build output. (Anything
/// named `.git`, file or directory, in any case, is left out too.)
pub const SKIPPED_DIRS: [&str; 8] = [
    ".git",
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
    ".pytest_cache",
    "dist",
    ".mypy_cache",
];

/// Why a code operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The path is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Not there.
    #[error("`{0}` does not exist")]
    NotFound(String),
    /// A directory where a file was expected, or the other way round.
    #[error("`{0}` is {1}")]
    WrongKind(String, &'static str),
    /// Not text.
    #[error("`{0}` is not a text file")]
    Binary(String),
    /// The search pattern does not compile.
    #[error("the pattern is not a valid regular expression: {0}")]
    BadPattern(String),
    /// The file system failed.
    #[error("`{0}`: {1}")]
    Io(String, String),
}

impl CodeError {
    /// Whether the caller is to blame (a 4xx).
    pub fn is_callers(&self) -> bool {
        match self {
            Self::Path(p) => p.is_callers(),
            Self::Io(..) => false,
            _ => true,
        }
    }
}

/// What a failed file operation on `path` means: missing, the caller's refused path (too
/// long, through a file), or att's failure.
fn io(path: &str, e: &std::io::Error) -> CodeError {
    if e.kind() == std::io::ErrorKind::NotFound {
        return CodeError::NotFound(path.to_owned());
    }
    match paths::refusal(path, e) {
        PathError::Io(..) => CodeError::Io(path.to_owned(), e.to_string()),
        refused => CodeError::Path(refused),
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// Relative to the project.
    pub path: String,
    /// `file`, `dir` or `symlink` (links are listed, not followed).
    pub kind: String,
    /// Bytes, for files.
    pub size: Option<u64>,
}

/// A listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Listing {
    /// Entries, sorted by path.
    pub entries: Vec<Entry>,
    /// More entries than `limit` exist.
    pub truncated: bool,
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Walks `start` (inside `root`, both real paths) depth-first in path order, skipping
/// [`SKIPPED_DIRS`], not following links; calls `visit` for each entry until it says stop.
fn walk(root: &Path, start: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> bool) {
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<(PathBuf, std::fs::Metadata)> = read
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (path, meta) in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if paths::is_git_name(OsStr::new(name))
                || (meta.is_dir() && SKIPPED_DIRS.contains(&name))
            {
                continue;
            }
            if !visit(&path, &meta) {
                return;
            }
            if meta.is_dir() && path.starts_with(root) {
                subdirs.push(path);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
}

/// The files and directories under `dir` (`""`: the whole project), at most `limit`.
pub fn list(root: &Path, dir: &str, limit: usize) -> Result<Listing, CodeError> {
    let start = paths::contain(root, dir)?;
    let meta = std::fs::metadata(&start).map_err(|e| io(dir, &e))?;
    if !meta.is_dir() {
        return Err(CodeError::WrongKind(
            dir.to_owned(),
            "a file, not a directory",
        ));
    }
    let real_root = std::fs::canonicalize(root).map_err(|e| io("", &e))?;
    let mut entries = Vec::new();
    let mut truncated = false;
    walk(&real_root, &start, &mut |path, meta| {
        if entries.len() >= limit {
            truncated = true;
            return false;
        }
        let kind = if meta.file_type().is_symlink() {
            "symlink"
        } else if meta.is_dir() {
            "dir"
        } else {
            "file"
        };
        entries.push(Entry {
            path: relative(&real_root, path),
            kind: kind.to_owned(),
            size: meta.is_file().then_some(meta.len()),
        });
        true
    });
    Ok(Listing { entries, truncated })
}

/// A file's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileText {
    /// Relative to the project.
    pub path: String,
    /// Its text (the first `limit` bytes, cut at a character boundary).
    pub content: String,
    /// Its size in bytes.
    pub size: u64,
    /// Only the first `limit` bytes are in `content`.
    pub truncated: bool,
}

/// Reads a text file (up to `limit` bytes).
pub fn read(root: &Path, path: &str, limit: usize) -> Result<FileText, CodeError> {
    let real = paths::contain(root, path)?;
    let meta = std::fs::metadata(&real).map_err(|e| io(path, &e))?;
    if meta.is_dir() {
        return Err(CodeError::WrongKind(path.to_owned(), "a directory"));
    }
    let bytes = std::fs::read(&real).map_err(|e| io(path, &e))?;
    let head = bytes.get(..limit.min(bytes.len())).unwrap_or(&bytes);
    if head.contains(&0) {
        return Err(CodeError::Binary(path.to_owned()));
    }
    let content = match std::str::from_utf8(head) {
        Ok(s) => s.to_owned(),
        // Cut inside a character by the limit: keep what is whole.
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(head.get(..e.valid_up_to()).unwrap_or_default()).into_owned()
        }
        Err(_) => return Err(CodeError::Binary(path.to_owned())),
    };
    Ok(FileText {
        path: path.to_owned(),
        content,
        size: meta.len(),
        truncated: head.len() < bytes.len(),
    })
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Written {
    /// Relative to the project.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
    /// The file is new.
    pub created: bool,
}

/// Writes `content` to `path` (parents created), atomically: a reader sees the old or the
/// new text, never half of it.
pub fn write(root: &Path, path: &str, content: &str) -> Result<Written, CodeError> {
    let real = paths::contain_for_write(root, path)?;
    if real.is_dir() {
        return Err(CodeError::WrongKind(path.to_owned(), "a directory"));
    }
    let created = !real.exists();
    let parent = real
        .parent()
        .ok_or_else(|| CodeError::WrongKind(path.to_owned(), "not a file path"))?;
    std::fs::create_dir_all(parent).map_err(|e| io(path, &e))?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.att-write-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        if let Ok(old) = std::fs::metadata(&real) {
            std::fs::set_permissions(&tmp, old.permissions())?;
        }
        std::fs::rename(&tmp, &real)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path, &e));
    }
    Ok(Written {
        path: path.to_owned(),
        bytes: content.len() as u64,
        created,
    })
}

/// A line that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    /// Relative to the project.
    pub path: String,
    /// 1-based.
    pub line: u64,
    /// The line (cut to 500 characters).
    pub text: String,
}

/// Searches the project's text files for `pattern` (literal, or a regular expression when
/// `regex`), at most `limit` matches, files in path order.
pub fn search(
    root: &Path,
    pattern: &str,
    regex: bool,
    limit: usize,
) -> Result<(Vec<Match>, bool), CodeError> {
    let source = if regex {
        pattern.to_owned()
    } else {
        regex::escape(pattern)
    };
    let re = regex::RegexBuilder::new(&source)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| CodeError::BadPattern(e.to_string()))?;
    let real_root = std::fs::canonicalize(root).map_err(|e| io("", &e))?;
    let mut found = Vec::new();
    let mut truncated = false;
    walk(&real_root, &real_root, &mut |path, meta| {
        if !meta.is_file() || meta.len() > 4 * 1024 * 1024 {
            return true;
        }
        let Ok(text) = std::fs::read(path) else {
            return true;
        };
        if text.contains(&0) {
            return true;
        }
        let text = String::from_utf8_lossy(&text);
        for (n, line) in text.lines().enumerate() {
            if re.is_match(line) {
                if found.len() >= limit {
                    truncated = true;
                    return false;
                }
                found.push(Match {
                    path: relative(&real_root, path),
                    line: n as u64 + 1,
                    text: line.chars().take(500).collect(),
                });
            }
        }
        true
    });
    Ok((found, truncated))
}

/// What an archive holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArchiveInfo {
    /// Regular files.
    pub files: u64,
    /// Their bytes (before compression).
    pub bytes: u64,
    /// Symbolic links, stored as links (never followed).
    pub links: u64,
}

/// Writes the project's tree as a gzip-compressed tar to `out`, every entry under `prefix/`:
/// what a listing sees (`.git` and build output skipped), links stored as links and never
/// followed, so nothing outside the project is read.
pub fn archive<W: Write>(root: &Path, prefix: &str, out: W) -> Result<(ArchiveInfo, W), CodeError> {
    let real_root = std::fs::canonicalize(root).map_err(|e| io("", &e))?;
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let mut info = ArchiveInfo::default();
    let mut failed = None;
    walk(&real_root, &real_root, &mut |path, meta| {
        let name = Path::new(prefix).join(relative(&real_root, path));
        let done = if meta.file_type().is_symlink() {
            info.links += 1;
            tar.append_path_with_name(path, &name)
        } else if meta.is_dir() {
            tar.append_dir(&name, path)
        } else if meta.is_file() {
            info.files += 1;
            info.bytes += meta.len();
            tar.append_path_with_name(path, &name)
        } else {
            Ok(()) // sockets, fifos: not content
        };
        match done {
            Ok(()) => true,
            Err(e) => {
                failed = Some(CodeError::Io(relative(&real_root, path), e.to_string()));
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let gz = tar
        .into_inner()
        .map_err(|e| CodeError::Io("archive".into(), e.to_string()))?;
    let out = gz
        .finish()
        .map_err(|e| CodeError::Io("archive".into(), e.to_string()))?;
    Ok((info, out))
}

/// A unified diff of two texts.
pub fn diff_texts(
    old: &str,
    new: &str,
    old_name: &str,
    new_name: &str,
) -> Result<String, CodeError> {
    let patch = git2::Patch::from_buffers(
        old.as_bytes(),
        Some(Path::new(old_name)),
        new.as_bytes(),
        Some(Path::new(new_name)),
        None,
    )
    .map_err(|e| CodeError::Io("diff".into(), e.message().to_owned()))?;
    let mut patch = patch;
    let buf = patch
        .to_buf()
        .map_err(|e| CodeError::Io("diff".into(), e.message().to_owned()))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("p");
        for (path, text) in [
            ("src/main.rs", "fn main() {\n    println!(\"hello\");\n}\n"),
            (
                "src/lib.rs",
                "pub fn hello() -> &'static str { \"hello\" }\n",
            ),
            ("README.md", "# p\nSay hello.\n"),
            ("target/debug/out.txt", "hello from build output\n"),
            (".git/config", "[core]\n"),
        ] {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, text).expect("write");
        }
        std::fs::write(root.join("blob.bin"), [0u8, 1, 2, 3]).expect("bin");
        std::os::unix::fs::symlink("/etc", root.join("etc")).expect("link");
        (dir, root)
    }

    #[test]
    fn listings_skip_git_and_build_output_and_do_not_follow_links() {
        let (_dir, root) = project();
        let l = list(&root, "", 100).expect("list");
        let paths: Vec<&str> = l.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "README.md",
                "blob.bin",
                "etc",
                "src",
                "src/lib.rs",
                "src/main.rs"
            ]
        );
        assert_eq!(l.entries[2].kind, "symlink");
        let l = list(&root, "", 2).expect("list");
        assert!(l.truncated && l.entries.len() == 2);
        assert!(matches!(
            list(&root, "README.md", 10),
            Err(CodeError::WrongKind(..))
        ));
        assert!(matches!(list(&root, "etc", 10), Err(CodeError::Path(_))));
        assert!(matches!(
            list(&root, "nope", 10),
            Err(CodeError::NotFound(_))
        ));
    }

    #[test]
    fn reads_and_writes_stay_inside_and_are_whole() {
        let (_dir, root) = project();
        let r = read(&root, "src/main.rs", 1000).expect("read");
        assert!(r.content.contains("println") && !r.truncated);
        let r = read(&root, "src/main.rs", 5).expect("read");
        assert_eq!((r.content.as_str(), r.truncated), ("fn ma", true));
        assert!(matches!(
            read(&root, "blob.bin", 100),
            Err(CodeError::Binary(_))
        ));
        assert!(matches!(
            read(&root, "src", 100),
            Err(CodeError::WrongKind(..))
        ));
        for bad in ["../x", "/etc/passwd", "etc/passwd"] {
            let e = read(&root, bad, 100).expect_err(bad);
            assert!(e.is_callers(), "{bad}: {e}");
        }
        let w = write(&root, "new/dir/file.txt", "made\n").expect("write");
        assert!(w.created && w.bytes == 5);
        assert_eq!(
            std::fs::read_to_string(root.join("new/dir/file.txt")).expect("read"),
            "made\n"
        );
        let w = write(&root, "new/dir/file.txt", "again\n").expect("write");
        assert!(!w.created);
        for bad in ["../x", "/tmp/x", "etc/x", ".git/hooks/pre-commit", ""] {
            let e = write(&root, bad, "x").expect_err(bad);
            assert!(e.is_callers(), "{bad}: {e}");
        }
        let stray: Vec<_> = std::fs::read_dir(root.join("new/dir"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("att-write"))
            .collect();
        assert!(stray.is_empty(), "temporary files left behind");
    }

    #[test]
    fn searches_find_lines_and_diffs_compare_texts() {
        let (_dir, root) = project();
        let (found, truncated) = search(&root, "hello", false, 10).expect("search");
        let at: Vec<(String, u64)> = found.iter().map(|m| (m.path.clone(), m.line)).collect();
        assert_eq!(
            at,
            [
                ("README.md".to_owned(), 2),
                ("src/lib.rs".to_owned(), 1),
                ("src/main.rs".to_owned(), 2)
            ]
        );
        assert!(!truncated);
        let (found, truncated) = search(&root, "hello", false, 1).expect("search");
        assert!(truncated && found.len() == 1);
        let (found, _) = search(&root, r"fn \w+\(\)", true, 10).expect("regex");
        assert_eq!(found.len(), 2);
        let (found, _) = search(&root, "fn (", false, 10).expect("literal");
        assert!(found.is_empty());
        assert!(matches!(
            search(&root, "fn (", true, 10),
            Err(CodeError::BadPattern(_))
        ));
        let d = diff_texts("a\nb\nc\n", "a\nB\nc\n", "old.txt", "new.txt").expect("diff");
        assert!(d.contains("-b\n+B\n") && d.contains("old.txt"), "{d}");
    }

    #[test]
    fn archives_hold_the_listed_tree_with_links_as_links() {
        let (_dir, root) = project();
        let (info, bytes) = archive(&root, "p", Vec::new()).expect("archive");
        assert_eq!((info.files, info.links), (4, 1), "{info:?}");
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut names = Vec::new();
        for entry in tar.entries().expect("entries") {
            let entry = entry.expect("entry");
            let name = entry.path().expect("path").display().to_string();
            if name == "p/etc" {
                assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
                assert_eq!(
                    entry
                        .link_name()
                        .expect("link")
                        .map(|l| l.display().to_string()),
                    Some("/etc".into())
                );
            }
            names.push(name);
        }
        assert!(names.contains(&"p/src/lib.rs".to_owned()), "{names:?}");
        assert!(names.contains(&"p/blob.bin".to_owned()), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| n.contains(".git") || n.contains("target")),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with("p/etc/")),
            "the link is not followed"
        );
    }
}
