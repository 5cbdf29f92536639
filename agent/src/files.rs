//! Files, read and written by the agent — which runs as the sandbox user, so
//! the kernel applies exactly that user's rights: a symlink cannot carry a
//! write outside what the sandbox user may write, and what it may not read
//! is refused.

use crate::conn::{Receiver, Sender};
use sockt_agent::protocol::{Entry, Kind, Refusal, Reply};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const CHUNK: usize = 64 * 1024;

fn refusal_of(error: &std::io::Error) -> Refusal {
    match error.kind() {
        ErrorKind::NotFound => Refusal::NotFound,
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Refusal::PermissionDenied,
        ErrorKind::IsADirectory => Refusal::IsDirectory,
        ErrorKind::NotADirectory => Refusal::NotADirectory,
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Refusal::NoSpace,
        _ => Refusal::Failed,
    }
}

fn refuse(sender: &Sender, path: &str, error: &std::io::Error) -> std::io::Result<()> {
    sender.refuse(refusal_of(error), format!("{path}: {error}"))
}

pub fn read(path: &str, max_bytes: u64, sender: &Sender) -> std::io::Result<()> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return refuse(sender, path, &e),
    };
    let metadata = match file.metadata() {
        Ok(metadata) => metadata,
        Err(e) => return refuse(sender, path, &e),
    };
    if metadata.is_dir() {
        return sender.refuse(Refusal::IsDirectory, path.into());
    }
    if !metadata.is_file() {
        return sender.refuse(Refusal::NotRegular, path.into());
    }
    sender.reply(&Reply::Size {
        size: metadata.len(),
    })?;
    let mut left = max_bytes;
    if let Ok(sending) = usize::try_from(left.min(metadata.len())) {
        sender.make_room(sending);
    }
    let mut buffer = vec![0u8; CHUNK];
    while left > 0 {
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let n = match file.read(&mut buffer[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        sender.send(Kind::Data, &buffer[..n])?;
        left -= n as u64;
    }
    sender.send(Kind::End, &[])
}

pub fn write(
    path: &str,
    create_dirs: bool,
    sender: &Sender,
    receiver: &mut Receiver,
) -> std::io::Result<()> {
    let target = Path::new(path);
    let opened = prepare(target, create_dirs).and_then(|()| {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(target)
            .map_err(Refused::from)
    });
    let mut failure: Option<Refused> = None;
    let mut file = match opened {
        Ok(file) => Some(file),
        Err(refused) => {
            failure = Some(refused);
            None
        }
    };
    // Take every frame the server sends, even after a failure, so the
    // connection stays in step.
    loop {
        match receiver.next()? {
            Some((Kind::Data, bytes)) => {
                if let Some(open) = file.as_mut() {
                    if let Err(e) = open.write_all(&bytes) {
                        failure = Some(Refused::from(e));
                        file = None;
                    }
                }
            }
            Some((Kind::End, _)) => break,
            Some(_) => {}
            None => return Ok(()),
        }
    }
    match failure {
        None => sender.reply(&Reply::Done),
        Some(Refused(refusal, detail)) => sender.refuse(refusal, format!("{path}: {detail}")),
    }
}

struct Refused(Refusal, String);

impl From<std::io::Error> for Refused {
    fn from(error: std::io::Error) -> Self {
        Refused(refusal_of(&error), error.to_string())
    }
}

/// The parent directory exists (made when asked) and the target is not a directory.
fn prepare(target: &Path, create_dirs: bool) -> Result<(), Refused> {
    let parent = target.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        if !create_dirs {
            return Err(Refused(
                Refusal::MissingParent,
                parent.display().to_string(),
            ));
        }
        std::fs::create_dir_all(parent).map_err(|e| match refusal_of(&e) {
            Refusal::NoSpace => Refused(Refusal::NoSpace, e.to_string()),
            _ => Refused(Refusal::PermissionDenied, e.to_string()),
        })?;
    }
    if target.is_dir() {
        return Err(Refused(Refusal::IsDirectory, String::new()));
    }
    Ok(())
}

pub fn list(path: &str, max_depth: u32, sender: &Sender) -> std::io::Result<()> {
    let root = Path::new(path);
    match std::fs::metadata(root) {
        Err(e) => return refuse(sender, path, &e),
        Ok(m) if !m.is_dir() => return sender.refuse(Refusal::NotADirectory, path.into()),
        Ok(_) => {}
    }
    let mut entries = Vec::new();
    walk(root, "", max_depth, &mut entries);
    sender.reply(&Reply::Entries { entries })
}

/// Entries under `dir` (named relative to the listed root), `depth` levels down.
fn walk(dir: &Path, prefix: &str, depth: u32, entries: &mut Vec<Entry>) {
    if depth == 0 {
        return;
    }
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let Ok(metadata) = entry.path().symlink_metadata() else {
            continue;
        };
        let is_dir = metadata.is_dir();
        entries.push(Entry {
            name: name.clone(),
            size: metadata.len(),
            mod_ts: metadata.mtime(),
            is_dir,
        });
        if is_dir {
            walk(&entry.path(), &format!("{name}/"), depth - 1, entries);
        }
    }
}
