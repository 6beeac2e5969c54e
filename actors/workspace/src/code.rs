//! The `code` area of the workspace tools (WORKSPACE.md): list, read, write, search and diff
//! a project's files. Every path is checked ([`crate::paths`]: inside the project, nothing in
//! `.git`) and then used through the project's open root ([`crate::beneath`]), so that a link
//! appearing after the check is refused rather than followed. Reads and searches take only
//! regular files and read at most what they return, so a FIFO, a device or a huge file
//! cannot hang or exhaust att. Blocking: call from a blocking task.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::FileType;
use serde::{Deserialize, Serialize};

use crate::beneath::{self, Beneath};
use crate::paths::{self, PathError};

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

/// The largest file a search reads; bigger ones are passed over.
pub const SEARCH_FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// Why a code operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The path is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Not there.
    #[error("`{0}` does not exist")]
    NotFound(String),
    /// A directory where a file was expected, a file where a directory was, or something
    /// that is neither a regular file nor a directory (a FIFO, a device, a socket).
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

/// What a failed file operation on `path` means: missing, a directory, the caller's refused
/// path (too long, through a file, through a link that appeared), or att's failure.
fn io(path: &str, e: &std::io::Error) -> CodeError {
    if e.kind() == std::io::ErrorKind::NotFound {
        return CodeError::NotFound(path.to_owned());
    }
    if e.raw_os_error() == Some(libc::EISDIR) {
        return CodeError::WrongKind(path.to_owned(), "a directory");
    }
    match paths::refusal(path, e) {
        PathError::Io(..) => CodeError::Io(path.to_owned(), e.to_string()),
        refused => CodeError::Path(refused),
    }
}

const NOT_REGULAR: &str = "not a regular file (a FIFO, a device or a socket)";

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    /// Relative to the project.
    pub path: String,
    /// `file`, `dir`, `symlink` (links are listed, not followed) or `other` (a FIFO, a
    /// device, a socket).
    pub kind: String,
    /// Bytes, for files.
    pub size: Option<u64>,
}

/// A listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// An entry met by [`walk`]: its directory (open) and name, to be opened through them.
struct Found<'a> {
    dir: BorrowedFd<'a>,
    name: &'a OsStr,
    /// Relative to the project.
    path: String,
    kind: Kind,
    size: u64,
}

/// Walks `start` (a real directory path inside the root) breadth of each directory first, in
/// path order, skipping [`SKIPPED_DIRS`] and anything named `.git`, not following links;
/// calls `visit` for each entry until it says stop. Each directory is opened from the root
/// without following links, so one swapped for a link meanwhile is not entered.
fn walk(b: &Beneath, start: &Path, visit: &mut dyn FnMut(&Found<'_>) -> bool) {
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir_path) = stack.pop() {
        let Ok(dir) = b.dir(&dir_path) else {
            continue;
        };
        let Ok(names) = beneath::names_in(dir.as_fd()) else {
            continue;
        };
        let mut subdirs = Vec::new();
        for name in &names {
            if paths::is_git_name(name) {
                continue;
            }
            let Ok(st) = beneath::lstat_at(dir.as_fd(), name) else {
                continue;
            };
            let kind = match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => Kind::File,
                FileType::Directory => Kind::Dir,
                FileType::Symlink => Kind::Symlink,
                _ => Kind::Other,
            };
            if kind == Kind::Dir && name.to_str().is_some_and(|n| SKIPPED_DIRS.contains(&n)) {
                continue;
            }
            let path = dir_path.join(name);
            let found = Found {
                dir: dir.as_fd(),
                name,
                path: relative(b.real_root(), &path),
                kind,
                size: u64::try_from(st.st_size).unwrap_or(0),
            };
            if !visit(&found) {
                return;
            }
            if kind == Kind::Dir {
                subdirs.push(path);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
}

fn open_root(root: &Path) -> Result<Beneath, CodeError> {
    Beneath::open(root).map_err(|e| CodeError::Io(root.display().to_string(), e.to_string()))
}

/// The files and directories under `dir` (`""`: the whole project), at most `limit`.
pub fn list(root: &Path, dir: &str, limit: usize) -> Result<Listing, CodeError> {
    let b = open_root(root)?;
    let start = b.contain(dir)?;
    let st = b.lstat(&start).map_err(|e| io(dir, &e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(CodeError::WrongKind(
            dir.to_owned(),
            "a file, not a directory",
        ));
    }
    let mut entries = Vec::new();
    let mut truncated = false;
    walk(&b, &start, &mut |found| {
        if entries.len() >= limit {
            truncated = true;
            return false;
        }
        let kind = match found.kind {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Other => "other",
        };
        entries.push(Entry {
            path: found.path.clone(),
            kind: kind.to_owned(),
            size: (found.kind == Kind::File).then_some(found.size),
        });
        true
    });
    Ok(Listing { entries, truncated })
}

/// A file's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Reads a regular text file: at most `limit` bytes of it are read.
pub fn read(root: &Path, path: &str, limit: usize) -> Result<FileText, CodeError> {
    let b = open_root(root)?;
    let real = b.contain(path)?;
    let file = b.open_file(&real).map_err(|e| io(path, &e))?;
    // The opened file's own metadata: what was checked is what is read.
    let meta = file.metadata().map_err(|e| io(path, &e))?;
    if meta.is_dir() {
        return Err(CodeError::WrongKind(path.to_owned(), "a directory"));
    }
    if !meta.is_file() {
        return Err(CodeError::WrongKind(path.to_owned(), NOT_REGULAR));
    }
    // One byte more than the limit tells whether there is more.
    let wanted = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(wanted)).unwrap_or(0));
    file.take(wanted)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, &e))?;
    let truncated = bytes.len() > limit;
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
        truncated,
    })
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Written {
    /// Relative to the project.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
    /// The file is new.
    pub created: bool,
}

/// Writes `content` to `path` (parents created), atomically: a reader sees the old or the
/// new text, never half of it, and of concurrent writes exactly one wins whole.
pub fn write(root: &Path, path: &str, content: &str) -> Result<Written, CodeError> {
    let b = open_root(root)?;
    let real = b.contain_for_write(path)?;
    let created = b
        .write(&real, content.as_bytes())
        .map_err(|e| io(path, &e))?;
    Ok(Written {
        path: path.to_owned(),
        bytes: content.len() as u64,
        created,
    })
}

/// A line that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Match {
    /// Relative to the project.
    pub path: String,
    /// 1-based.
    pub line: u64,
    /// The line (cut to 500 characters).
    pub text: String,
}

/// The content of the regular file `name` in `dir`, when it is one and at most `limit` bytes.
fn small_file(dir: BorrowedFd<'_>, name: &OsStr, limit: u64) -> Option<Vec<u8>> {
    let file = beneath::open_at(dir, name).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= limit).then_some(bytes)
}

/// Searches the project's text files for `pattern` (literal, or a regular expression when
/// `regex`), at most `limit` matches, files in path order. Files over [`SEARCH_FILE_LIMIT`]
/// and anything but regular files are passed over.
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
    let b = open_root(root)?;
    let start = b.real_root().to_path_buf();
    let mut found = Vec::new();
    let mut truncated = false;
    walk(&b, &start, &mut |entry| {
        if entry.kind != Kind::File || entry.size > SEARCH_FILE_LIMIT {
            return true;
        }
        let Some(text) = small_file(entry.dir, entry.name, SEARCH_FILE_LIMIT) else {
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
                    path: entry.path.clone(),
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveInfo {
    /// Regular files.
    pub files: u64,
    /// Their bytes (before compression).
    pub bytes: u64,
    /// Symbolic links, stored as links (never followed).
    pub links: u64,
}

/// Adds one walked entry to `tar` under `name`; answers what it added to `info`.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    entry: &Found<'_>,
    name: &Path,
    info: &mut ArchiveInfo,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    match entry.kind {
        Kind::Symlink => {
            let meta = beneath::path_at(entry.dir, entry.name)?.metadata()?;
            header.set_metadata(&meta);
            let target = beneath::link_at(entry.dir, entry.name)?;
            tar.append_link(&mut header, name, target)?;
            info.links += 1;
        }
        Kind::Dir => {
            let meta = std::fs::File::from(beneath::dir_at(entry.dir, entry.name)?).metadata()?;
            header.set_metadata(&meta);
            header.set_size(0);
            tar.append_data(&mut header, name, std::io::empty())?;
        }
        Kind::File => {
            let file = beneath::open_at(entry.dir, entry.name)?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Ok(()); // swapped for a FIFO or a device meanwhile: not content
            }
            header.set_metadata(&meta);
            let size = meta.len();
            // Exactly `size` bytes whatever happens to the file meanwhile (padded if it
            // shrank), or the archive would be corrupt.
            let data = file.take(size).chain(std::io::repeat(0)).take(size);
            tar.append_data(&mut header, name, data)?;
            info.files += 1;
            info.bytes += size;
        }
        Kind::Other => {} // sockets, FIFOs, devices: not content
    }
    Ok(())
}

/// Writes the project's tree as a gzip-compressed tar to `out`, every entry under `prefix/`:
/// what a listing sees (`.git` and build output skipped), links stored as links and never
/// followed, so nothing outside the project is read.
pub fn archive<W: Write>(root: &Path, prefix: &str, out: W) -> Result<(ArchiveInfo, W), CodeError> {
    let b = open_root(root)?;
    let start = b.real_root().to_path_buf();
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut info = ArchiveInfo::default();
    let mut failed = None;
    walk(&b, &start, &mut |entry| {
        let name: PathBuf = Path::new(prefix).join(&entry.path);
        match append(&mut tar, entry, &name, &mut info) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(CodeError::Io(entry.path.clone(), e.to_string()));
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
    fn a_link_at_the_old_temporary_name_is_not_followed() {
        let (dir, root) = project();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched\n").expect("victim");
        let planted = root.join(format!(".notes.txt.att-write-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).expect("plant");
        let w = write(&root, "notes.txt", "written\n").expect("write");
        assert!(w.created);
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "untouched\n"
        );
        let meta = std::fs::symlink_metadata(root.join("notes.txt")).expect("notes");
        assert!(meta.file_type().is_file(), "{meta:?}");
        assert_eq!(
            std::fs::read_to_string(root.join("notes.txt")).expect("notes"),
            "written\n"
        );
    }

    #[test]
    fn reads_take_at_most_their_limit_and_only_regular_files() {
        let (_dir, root) = project();
        let huge = std::fs::File::create(root.join("huge.txt")).expect("huge");
        (&huge).write_all(b"0123456789abcdef\n").expect("head");
        huge.set_len(10 << 30).expect("sparse 10 GiB");
        let r = read(&root, "huge.txt", 10).expect("read");
        assert_eq!(
            (r.content.as_str(), r.truncated, r.size),
            ("0123456789", true, 10 << 30)
        );
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            root.join("pipe"),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("fifo");
        let e = read(&root, "pipe", 10).expect_err("a FIFO");
        assert!(
            matches!(e, CodeError::WrongKind(_, NOT_REGULAR)) && e.is_callers(),
            "{e}"
        );
        let l = list(&root, "", 100).expect("list");
        let pipe = l.entries.iter().find(|e| e.path == "pipe").expect("listed");
        assert_eq!((pipe.kind.as_str(), pipe.size), ("other", None));
        let (found, _) = search(&root, "0123", false, 10).expect("search");
        assert!(found.is_empty(), "{found:?}");
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
