//! Containment at the moment of use. [`crate::paths::contain`] checks a caller's path and
//! answers its real path; but between that check and the use a part of the path can be
//! replaced by a symlink (by anything else writing in the tree), and a name att makes up (a
//! temporary file) can be planted as a link in advance. A check alone would then be followed
//! out of the project.
//!
//! So every file operation of the workspace tools goes through a [`Beneath`]: the project's
//! real root opened once as a directory descriptor, the checked path walked from it one
//! component at a time with `O_NOFOLLOW` (a path `contain` answered has no link left in it),
//! and the operation done relative to the last directory's descriptor. A link that appears
//! after the check makes the walk fail with `ELOOP` or `ENOTDIR` ([`crate::paths::refusal`]
//! turns those into the caller's refusal) instead of leading out. New files are created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` under a random name and renamed into place inside the same
//! directory: a rename replaces a name, it never follows a link at it.
//!
//! Files are opened with `O_NONBLOCK` so that opening a FIFO cannot hang; callers look at the
//! opened file's own metadata (`fstat`) before reading it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::paths::{self, PathError};

/// A directory: read-only, never through a link, closed on exec.
const DIR: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A file to read: never through a link, and a FIFO opens without waiting for a writer.
const READ: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// A project's root, open; the paths [`paths::contain`] answers for it are used through it.
#[derive(Debug)]
pub struct Beneath {
    root: OwnedFd,
    real_root: PathBuf,
}

impl Beneath {
    /// Opens the real root of `root` (the project's own directory; links in the path to it
    /// are the configuration's, so they are followed here once).
    pub fn open(root: &Path) -> io::Result<Self> {
        let real_root = std::fs::canonicalize(root)?;
        let fd = rustix::fs::open(&real_root, DIR, Mode::empty())?;
        Ok(Self {
            root: fd,
            real_root,
        })
    }

    /// The root's real path.
    pub fn real_root(&self) -> &Path {
        &self.real_root
    }

    /// Checks `requested` ([`paths::contain`]): the real path to use with this root.
    pub fn contain(&self, requested: &str) -> Result<PathBuf, PathError> {
        paths::contain(&self.real_root, requested)
    }

    /// Checks `requested` for a write ([`paths::contain_for_write`]).
    pub fn contain_for_write(&self, requested: &str) -> Result<PathBuf, PathError> {
        paths::contain_for_write(&self.real_root, requested)
    }

    /// The names from the root down to `resolved`, a real path inside it.
    fn names<'a>(&self, resolved: &'a Path) -> io::Result<Vec<&'a OsStr>> {
        let inside = resolved.strip_prefix(&self.real_root).map_err(|_| {
            io::Error::other(format!(
                "`{}` is not inside `{}`",
                resolved.display(),
                self.real_root.display()
            ))
        })?;
        inside
            .components()
            .map(|c| match c {
                Component::Normal(name) => Ok(name),
                // `contain` answers real paths: no `.`, `..` or root in the middle.
                _ => Err(io::Error::other(format!(
                    "`{}` is not a resolved path",
                    resolved.display()
                ))),
            })
            .collect()
    }

    /// Opens the directory reached by `names` from the root, each step without following a
    /// link; missing directories are made on the way when `create`.
    fn walk(&self, names: &[&OsStr], create: bool) -> io::Result<OwnedFd> {
        let mut current = rustix::fs::openat(&self.root, c".", DIR, Mode::empty())?;
        for name in names {
            current = match dir_at(current.as_fd(), name) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    match rustix::fs::mkdirat(&current, *name, Mode::from_raw_mode(0o777)) {
                        // Made meanwhile by someone else: as good.
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    dir_at(current.as_fd(), name)?
                }
                other => other?,
            };
        }
        Ok(current)
    }

    /// Opens the directory `resolved`.
    pub fn dir(&self, resolved: &Path) -> io::Result<OwnedFd> {
        self.walk(&self.names(resolved)?, false)
    }

    /// What `resolved` is (a link is described, not followed).
    pub fn lstat(&self, resolved: &Path) -> io::Result<rustix::fs::Stat> {
        let names = self.names(resolved)?;
        match names.split_last() {
            None => Ok(rustix::fs::fstat(&self.root)?),
            Some((name, parents)) => lstat_at(self.walk(parents, false)?.as_fd(), name),
        }
    }

    /// Opens `resolved` for reading ([`open_at`]).
    pub fn open_file(&self, resolved: &Path) -> io::Result<File> {
        let names = self.names(resolved)?;
        match names.split_last() {
            None => Ok(File::from(rustix::fs::openat(
                &self.root,
                c".",
                READ,
                Mode::empty(),
            )?)),
            Some((name, parents)) => open_at(self.walk(parents, false)?.as_fd(), name),
        }
    }

    /// Replaces (or creates) the file `resolved` with `content`, atomically: a reader sees the
    /// old or the new content, never a mix; concurrent writers each write a temporary of
    /// their own and the last rename wins. Missing parent directories are made. Answers
    /// whether the file is new. A directory at the name is `EISDIR`; a link that appeared
    /// there since the check is `ELOOP`.
    pub fn write(&self, resolved: &Path, content: &[u8]) -> io::Result<bool> {
        let names = self.names(resolved)?;
        let Some((name, parents)) = names.split_last() else {
            return Err(Errno::ISDIR.into());
        };
        let dir = self.walk(parents, true)?;
        let old = match rustix::fs::statat(&dir, *name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(e.into()),
        };
        let mode = match &old {
            None => None,
            Some(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => return Err(Errno::ISDIR.into()),
                FileType::Symlink => return Err(Errno::LOOP.into()),
                // The file keeps its permissions (set-id bits dropped: the content is new).
                FileType::RegularFile => Some(Mode::from_raw_mode(st.st_mode & 0o777)),
                _ => None,
            },
        };
        let (tmp, mut file) = create_temporary(dir.as_fd(), name)?;
        let written = (|| {
            file.write_all(content)?;
            if let Some(mode) = mode {
                rustix::fs::fchmod(&file, mode)?;
            }
            file.sync_all()?;
            rustix::fs::renameat(&dir, &tmp, &dir, *name)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&dir, &tmp, AtFlags::empty());
            return Err(e);
        }
        // The rename itself is durable once the directory is.
        let _ = rustix::fs::fsync(&dir);
        Ok(old.is_none())
    }
}

/// What `name` in `dir` is (a link is described, not followed).
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<rustix::fs::Stat> {
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Opens `name` in `dir` for reading: a link is refused (`ELOOP`), and a FIFO opens at once
/// (no waiting for a writer) — look at the file's metadata before reading.
pub fn open_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        READ,
        Mode::empty(),
    )?))
}

/// Opens the directory `name` in `dir`, never through a link: a link there is `ELOOP` (the
/// kernel says `ENOTDIR` for a link with `O_DIRECTORY`; a link is what it is).
pub fn dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    match rustix::fs::openat(dir, name, DIR, Mode::empty()) {
        Err(Errno::NOTDIR)
            if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink) =>
        {
            Err(Errno::LOOP.into())
        }
        other => Ok(other?),
    }
}

/// The thing `name` in `dir` itself, for its metadata: a link is not followed.
pub fn path_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::empty(),
    )?))
}

/// Where the link `name` in `dir` points.
pub fn link_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<PathBuf> {
    let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
    Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
}

/// The names in the directory `dir` (not `.` and `..`), sorted.
pub fn names_in(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Creates a new temporary file beside `name` in `dir`: a random name, made with `O_EXCL |
/// O_NOFOLLOW` so that nothing already there — a link planted at a guessable name — is
/// opened. Answers its name and the open file.
fn create_temporary(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<(OsString, File)> {
    // Long names keep their start: the temporary's name must fit too.
    let stem = &name.as_bytes()[..name.len().min(64)];
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut last = Errno::EXIST;
    for _ in 0..8 {
        let mut tmp = OsString::from(".");
        tmp.push(OsStr::from_bytes(stem));
        tmp.push(format!(".att-write-{:016x}", random()));
        match rustix::fs::openat(dir, &tmp, flags, Mode::from_raw_mode(0o666)) {
            Ok(fd) => return Ok((tmp, File::from(fd))),
            Err(Errno::EXIST) => last = Errno::EXIST,
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.into())
}

/// 64 unpredictable bits: std's per-process random hash keys over a counter (no extra
/// dependency; an attacker who cannot read att's memory cannot guess them).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project `p` with `sub/file.txt`, and `outside/` beside it holding a victim file.
    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("p");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).expect("sub");
        std::fs::create_dir_all(&outside).expect("outside");
        std::fs::write(root.join("sub/file.txt"), "inside\n").expect("file");
        std::fs::write(outside.join("file.txt"), "victim\n").expect("victim");
        (dir, root, outside)
    }

    /// Replaces the directory `sub` with a link to `outside`, as a racing process could.
    fn swap_in_link(root: &Path, outside: &Path) {
        std::fs::rename(root.join("sub"), root.join("sub-moved")).expect("move");
        std::os::unix::fs::symlink(outside, root.join("sub")).expect("link");
    }

    #[test]
    fn a_symlink_swapped_in_after_the_check_is_not_followed() {
        let (_dir, root, outside) = tree();
        let b = Beneath::open(&root).expect("root");
        let resolved = b.contain("sub/file.txt").expect("inside at check time");
        let resolved_new = b.contain("sub/new.txt").expect("inside at check time");
        let resolved_dir = b.contain("sub").expect("inside at check time");
        swap_in_link(&root, &outside);

        let e = b.write(&resolved, b"overwritten\n").expect_err("write");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = b.write(&resolved_new, b"planted\n").expect_err("create");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = b.open_file(&resolved).expect_err("read");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = b.dir(&resolved_dir).expect_err("list");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = b.lstat(&resolved).expect_err("stat");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");

        assert_eq!(
            std::fs::read_to_string(outside.join("file.txt")).expect("victim"),
            "victim\n"
        );
        assert!(!outside.join("new.txt").exists());
        let left: Vec<_> = std::fs::read_dir(&outside)
            .expect("outside")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["file.txt"], "nothing was created outside");
        assert_eq!(
            paths::refusal("sub/file.txt", &e),
            PathError::Moved("sub/file.txt".into())
        );
    }

    #[test]
    fn a_link_at_the_final_name_after_the_check_is_refused_not_replaced() {
        let (_dir, root, outside) = tree();
        let b = Beneath::open(&root).expect("root");
        let resolved = b.contain("sub/file.txt").expect("checked");
        std::fs::remove_file(root.join("sub/file.txt")).expect("rm");
        std::os::unix::fs::symlink(outside.join("file.txt"), root.join("sub/file.txt"))
            .expect("link");
        let e = b.write(&resolved, b"x").expect_err("write");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = b.open_file(&resolved).expect_err("read");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert_eq!(
            std::fs::read_to_string(outside.join("file.txt")).expect("victim"),
            "victim\n"
        );
        assert!(
            std::fs::symlink_metadata(root.join("sub/file.txt"))
                .expect("link")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn writes_make_parents_keep_permissions_and_leave_no_temporary() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, root, _outside) = tree();
        let b = Beneath::open(&root).expect("root");
        let new = b.contain_for_write("a/b/c.txt").expect("checked");
        assert!(b.write(&new, b"one\n").expect("created"));
        assert_eq!(
            std::fs::read(root.join("a/b/c.txt")).expect("read"),
            b"one\n"
        );
        std::fs::set_permissions(
            root.join("a/b/c.txt"),
            std::fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
        assert!(!b.write(&new, b"two\n").expect("replaced"));
        let meta = std::fs::metadata(root.join("a/b/c.txt")).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(
            std::fs::read(root.join("a/b/c.txt")).expect("read"),
            b"two\n"
        );
        let names: Vec<_> = std::fs::read_dir(root.join("a/b"))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["c.txt"]);
        let sub = b.contain_for_write("sub").expect("checked");
        let e = b.write(&sub, b"x").expect_err("a directory");
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
    }
}
