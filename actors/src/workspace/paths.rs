//! Path safety (WORKSPACE.md, "Safety"): every path a caller names is resolved against the
//! project root, following symlinks and `..` as the system would, and refused when it leaves
//! the root — including through a symlink inside the tree that points out of it.

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
    /// Writing inside `.git` is refused: it would let a caller change hooks and config.
    #[error("`{0}` is inside `.git`: use the git tools")]
    GitDir(String),
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
    let said = || requested.to_owned();
    if requested.contains('\0') {
        return Err(PathError::Invalid(said(), "it contains a NUL byte"));
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
                    Err(e) => return Err(PathError::Io(said(), e.to_string())),
                }
            }
        }
    }
    if current.starts_with(&root) {
        Ok(current)
    } else {
        Err(PathError::Outside(said()))
    }
}

/// As [`contain`], for a path about to be written or deleted: the root itself and anything
/// inside the repository's `.git` are refused too.
pub fn contain_for_write(root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    let path = contain(root, requested)?;
    let real_root =
        std::fs::canonicalize(root).map_err(|e| PathError::Io(requested.into(), e.to_string()))?;
    let inside = path.strip_prefix(&real_root).unwrap_or(Path::new(""));
    match inside.components().next() {
        None => Err(PathError::Invalid(
            requested.into(),
            "it names the project root itself",
        )),
        Some(Component::Normal(first)) if first == ".git" => {
            Err(PathError::GitDir(requested.into()))
        }
        _ => Ok(path),
    }
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
}
