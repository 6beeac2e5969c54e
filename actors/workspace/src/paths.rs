//! Path safety (WORKSPACE.md, "Safety"): every path a caller names is resolved against the
//! project root, following symlinks and `..` as the system would, and refused when it leaves
//! the root — including through a symlink inside the tree that points out of it — or when it
//! names anything in a `.git` (a repository's config, hooks and credentials are the git
//! tools' business, not a file's). [`contain`] is the check that explains a refusal;
//! [`crate::beneath`] makes the check hold at the moment the path is used.
//!
//! A project itself must not be a repository's git directory or lie inside one
//! ([`enclosing_git_dir`]): that would turn a file write into a config or hook write.

use std::path::{Component, Path, PathBuf};

/// Why a caller's path was refused. Each is the caller's mistake (a 4xx, an invalid-params
/// error), except [`PathError::Io`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// An absolute path: paths are relative to the project root.
    #[error("`{0}` is absolute: paths are relative to the project root")]
    Absolute(String),
    /// It leaves the project root (by `..` or through a symlink).
    #[error("`{0}` is outside the project")]
    Outside(String),
    /// A symlink on the way whose target does not exist (it could be created outside).
    #[error("`{0}` goes through a symlink whose target does not exist")]
    Dangling(String),
    /// Not a usable path (empty component, NUL byte).
    #[error("`{0}` is not a valid path: {1}")]
    Invalid(String, &'static str),
    /// Anything in a `.git` is refused: its config and hooks run commands, and its remote URLs
    /// may hold credentials.
    #[error("`{0}` is inside `.git`: use the git tools")]
    GitDir(String),
    /// Longer than the file system allows (a name over 255 bytes, a path over 4096).
    #[error("`{0}` is too long: {1}")]
    TooLong(String, &'static str),
    /// A part of the path that has to be a directory is a file.
    #[error("`{0}` goes through something that is not a directory")]
    NotADirectory(String),
    /// A symlink appeared on the way after the path was checked: the operation is refused
    /// rather than followed out of the project.
    #[error("`{0}` changed while in use (a symlink appeared on the way): refused")]
    Moved(String),
    /// The file system could not be read.
    #[error("`{0}`: {1}")]
    Io(String, String),
}

impl PathError {
    /// Whether the caller is to blame (the request is wrong), as opposed to the system.
    pub fn is_callers(&self) -> bool {
        !matches!(self, Self::Io(..))
    }
}

/// Resolves `requested` against `root` (an existing directory): the real path it names, inside
/// the root's real path. The path need not exist (a file about to be written); every part of
/// it that exists is followed as the system would follow it. `""` and `"."` name the root.
pub fn contain(root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    check_length(requested)?;
    let said = || requested.to_owned();
    if requested.contains('\0') {
        return Err(PathError::Invalid(said(), "it contains a NUL byte"));
    }
    if Path::new(requested)
        .components()
        .any(|c| is_git_name(c.as_os_str()))
    {
        return Err(PathError::GitDir(said()));
    }
    let root = std::fs::canonicalize(root).map_err(|e| PathError::Io(said(), e.to_string()))?;
    let mut current = root.clone();
    for component in Path::new(requested).components() {
        match component {
            Component::Prefix(_) | Component::RootDir => return Err(PathError::Absolute(said())),
            Component::CurDir => {}
            Component::ParentDir => {
                // `current` is always a real path, so its parent is what `..` means.
                if current == root {
                    return Err(PathError::Outside(said()));
                }
                current.pop();
            }
            Component::Normal(name) => {
                let next = current.join(name);
                match std::fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        let target = std::fs::canonicalize(&next)
                            .map_err(|_| PathError::Dangling(said()))?;
                        if !target.starts_with(&root) {
                            return Err(PathError::Outside(said()));
                        }
                        current = target;
                    }
                    Ok(_) => current = next,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => current = next,
                    Err(e) => return Err(refusal(requested, &e)),
                }
            }
        }
    }
    let Ok(inside) = current.strip_prefix(&root) else {
        return Err(PathError::Outside(said()));
    };
    // A link inside the tree may lead into `.git` under another name.
    if inside.components().any(|c| is_git_name(c.as_os_str())) {
        return Err(PathError::GitDir(said()));
    }
    Ok(current)
}

/// The longest path the system takes (`PATH_MAX`) and the longest name (`NAME_MAX`).
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

/// Refuses a path the file system would refuse as too long, before it is tried.
fn check_length(requested: &str) -> Result<(), PathError> {
    if requested.len() >= PATH_MAX {
        return Err(PathError::TooLong(shortened(requested), "over 4096 bytes"));
    }
    if requested.split('/').any(|name| name.len() > NAME_MAX) {
        return Err(PathError::TooLong(
            shortened(requested),
            "a name is over 255 bytes",
        ));
    }
    Ok(())
}

/// The start of a long path, for a message that does not echo kilobytes back.
fn shortened(requested: &str) -> String {
    match requested.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &requested[..at]),
        None => requested.to_owned(),
    }
}

/// The refusal an operating system error means for `requested`, when it is the caller's:
/// a path too long, through a file, or through a symlink that appeared after the check.
pub fn refusal(requested: &str, e: &std::io::Error) -> PathError {
    match e.raw_os_error() {
        Some(libc::ENAMETOOLONG) => {
            PathError::TooLong(shortened(requested), "longer than the file system allows")
        }
        Some(libc::ENOTDIR) => PathError::NotADirectory(requested.to_owned()),
        Some(libc::ELOOP) => PathError::Moved(requested.to_owned()),
        _ => PathError::Io(requested.to_owned(), e.to_string()),
    }
}

/// Whether `name` is `.git` (in any case: a case-insensitive file system would take `.GIT`
/// for it).
pub fn is_git_name(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().eq_ignore_ascii_case(b".git")
}

/// The git directory that `path` is or lies inside, if any: a directory named `.git`, or one
/// that holds a repository's own files (`HEAD`, `objects/`, `refs/`: a bare repository, or a
/// git directory by another name). Both the path as given and its real path are checked (a
/// link may lead into one); a path that does not exist yet (a clone target) is checked through
/// its nearest existing parent.
pub fn enclosing_git_dir(path: &Path) -> Option<PathBuf> {
    let real = path.ancestors().find_map(|existing| {
        let real = std::fs::canonicalize(existing).ok()?;
        let rest = path.strip_prefix(existing).ok()?;
        Some(real.join(rest))
    });
    [Some(path.to_owned()), real]
        .into_iter()
        .flatten()
        .find_map(|p| {
            p.ancestors()
                .find(|a| a.file_name().is_some_and(is_git_name) || holds_a_repository(a))
                .map(Path::to_owned)
        })
}

/// Whether `dir` holds a repository's own files (it is a git directory).
fn holds_a_repository(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

/// As [`contain`], for a path about to be written or deleted: the root itself is refused too.
pub fn contain_for_write(root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    let path = contain(root, requested)?;
    let real_root =
        std::fs::canonicalize(root).map_err(|e| PathError::Io(requested.into(), e.to_string()))?;
    if path == real_root {
        return Err(PathError::Invalid(
            requested.into(),
            "it names the project root itself",
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("src/deep")).expect("dirs");
        std::fs::create_dir_all(root.join(".git")).expect(".git");
        std::fs::write(root.join("src/main.rs"), "fn main() {}").expect("file");
        std::fs::write(dir.path().join("secret"), "outside").expect("outside file");
        std::os::unix::fs::symlink("/etc", root.join("etc")).expect("link");
        std::os::unix::fs::symlink("../secret", root.join("sneaky")).expect("link");
        std::os::unix::fs::symlink("src", root.join("alias")).expect("link");
        std::os::unix::fs::symlink("/nonexistent/x", root.join("dangling")).expect("link");
        (dir, root)
    }

    #[test]
    fn paths_inside_resolve_and_paths_out_are_refused() {
        let (_dir, root) = tree();
        let real = std::fs::canonicalize(&root).expect("real root");
        let ok = |p: &str| contain(&root, p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(ok(""), real);
        assert_eq!(ok("."), real);
        assert_eq!(ok("src/main.rs"), real.join("src/main.rs"));
        assert_eq!(ok("src/deep/../main.rs"), real.join("src/main.rs"));
        assert_eq!(ok("alias/main.rs"), real.join("src/main.rs"));
        assert_eq!(ok("new/dir/file.txt"), real.join("new/dir/file.txt"));
        assert_eq!(ok("new/../src"), real.join("src"));
        for (p, want) in [
            ("../secret", "outside"),
            ("src/../../secret", "outside"),
            ("/etc/passwd", "absolute"),
            ("etc/passwd", "outside"),
            ("etc", "outside"),
            ("sneaky", "outside"),
            ("dangling/file", "symlink"),
            ("a\0b", "NUL"),
        ] {
            let e = contain(&root, p).expect_err(p);
            assert!(e.is_callers(), "{p}");
            assert!(e.to_string().contains(want), "{p}: {e}");
        }
    }

    #[test]
    fn writes_may_not_touch_the_root_or_git() {
        let (_dir, root) = tree();
        assert!(contain_for_write(&root, "src/new.rs").is_ok());
        assert!(matches!(
            contain_for_write(&root, ".git/hooks/pre-commit"),
            Err(PathError::GitDir(_))
        ));
        assert!(matches!(
            contain_for_write(&root, "src/../.git/config"),
            Err(PathError::GitDir(_))
        ));
        assert!(matches!(
            contain_for_write(&root, "."),
            Err(PathError::Invalid(..))
        ));
        assert!(matches!(
            contain_for_write(&root, "../x"),
            Err(PathError::Outside(_))
        ));
    }

    #[test]
    fn git_is_refused_at_any_depth_and_by_any_way_in() {
        let (_dir, root) = tree();
        std::fs::create_dir_all(root.join("vendor/lib/.git")).expect("nested");
        std::os::unix::fs::symlink(".git", root.join("g")).expect("link");
        for p in [
            ".git",
            ".git/config",
            "vendor/lib/.git/config",
            "vendor/.git",
            ".GIT/config",
            "src/../.git/HEAD",
            ".git/../src/main.rs",
            "g/config",
        ] {
            let e = contain(&root, p).expect_err(p);
            assert!(
                matches!(e, PathError::GitDir(_)) && e.is_callers(),
                "{p}: {e}"
            );
        }
        assert!(contain(&root, "src/git/x").is_ok());
        assert!(contain(&root, "src/.gitignore").is_ok());
    }

    #[test]
    fn too_long_paths_and_paths_through_files_are_the_callers() {
        let (_dir, root) = tree();
        let long_name = "n".repeat(256);
        let long_path = vec!["d"; 2100].join("/");
        for p in [long_name.as_str(), long_path.as_str()] {
            let e = contain(&root, p).expect_err("too long");
            assert!(matches!(e, PathError::TooLong(..)) && e.is_callers(), "{e}");
            assert!(e.to_string().len() < 200, "{e}");
        }
        assert!(contain(&root, &"n".repeat(255)).is_ok());
        let e = contain(&root, "src/main.rs/x").expect_err("through a file");
        assert!(
            matches!(e, PathError::NotADirectory(_)) && e.is_callers(),
            "{e}"
        );
    }

    #[test]
    fn git_directories_and_paths_inside_them_are_found() {
        let dir = tempfile::tempdir().expect("dir");
        let work = dir.path().join("work");
        git2::Repository::init(&work).expect("repo");
        let bare = dir.path().join("bare.git");
        git2::Repository::init_bare(&bare).expect("bare");
        std::os::unix::fs::symlink(work.join(".git"), dir.path().join("alias")).expect("link");
        let real = |p: &Path| std::fs::canonicalize(p).expect("real");
        for (path, git_dir) in [
            (work.join(".git"), work.join(".git")),
            (work.join(".git/refs/heads"), work.join(".git")),
            (work.join(".git/not-yet/there"), work.join(".git")),
            (bare.clone(), bare.clone()),
            (bare.join("objects"), bare.clone()),
        ] {
            assert_eq!(
                enclosing_git_dir(&path),
                Some(git_dir),
                "{}",
                path.display()
            );
        }
        // A link to a git directory is one (through it, its files are there).
        assert!(enclosing_git_dir(&dir.path().join("alias")).is_some());
        assert_eq!(
            enclosing_git_dir(&dir.path().join("alias/refs")),
            Some(dir.path().join("alias"))
        );
        std::os::unix::fs::symlink(work.join(".git/refs"), dir.path().join("refs-link"))
            .expect("link");
        assert_eq!(
            enclosing_git_dir(&dir.path().join("refs-link")),
            Some(real(&work.join(".git"))),
            "found through the real path"
        );
        for fine in [work.clone(), work.join("src"), dir.path().join("new")] {
            assert_eq!(enclosing_git_dir(&fine), None, "{}", fine.display());
        }
    }
}
