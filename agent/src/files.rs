//! Files, read and written by the agent — which runs as the sandbox user, so
//! the kernel applies exactly that user's rights: a symlink cannot carry a
//! write outside what the sandbox user may write, and what it may not read
//! is refused.

use crate::frames::{Receiver, Sender};
use sockt_agent::protocol::{
    json_frame, Entry, Kind, Refusal, Reply, MAX_FRAME, MAX_LISTED_ENTRIES,
};
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

/// Open without blocking: a FIFO would otherwise wait for its other end
/// (forever), and a socket or device is nothing to serve. What is not a
/// regular file is refused at once — checked on the opened file, so no
/// rename in between can swap one in.
fn open_regular(path: &str, options: &mut std::fs::OpenOptions) -> Result<std::fs::File, Refused> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // A FIFO without a reader, a socket.
            Some(code) if code == rustix::io::Errno::NXIO.raw_os_error() => {
                Refused(Refusal::NotRegular, e.to_string())
            }
            _ => Refused::from(e),
        })?;
    let metadata = file.metadata().map_err(Refused::from)?;
    if metadata.is_dir() {
        return Err(Refused(Refusal::IsDirectory, String::new()));
    }
    if !metadata.is_file() {
        return Err(Refused(Refusal::NotRegular, String::new()));
    }
    Ok(file)
}

pub fn read(path: &str, max_bytes: u64, sender: &Sender) -> std::io::Result<()> {
    // A special file is refused before it is opened (opening a device
    // may act on it); the opened file is checked again.
    if let Ok(found) = std::fs::metadata(path) {
        if !found.is_file() && !found.is_dir() {
            return sender.refuse(Refusal::NotRegular, path.into());
        }
    }
    let mut file = match open_regular(path, std::fs::OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(Refused(refusal, detail)) => {
            return sender.refuse(refusal, format!("{path}: {detail}"))
        }
    };
    let metadata = match file.metadata() {
        Ok(metadata) => metadata,
        Err(e) => return refuse(sender, path, &e),
    };
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
    // Truncated only once it is known to be a regular file.
    let opened = prepare(target, create_dirs).and_then(|()| {
        let file = open_regular(path, std::fs::OpenOptions::new().write(true).create(true))?;
        file.set_len(0).map_err(Refused::from)?;
        Ok(file)
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
    match std::fs::metadata(target) {
        Ok(found) if found.is_dir() => Err(Refused(Refusal::IsDirectory, String::new())),
        Ok(found) if !found.is_file() => Err(Refused(Refusal::NotRegular, String::new())),
        _ => Ok(()),
    }
}

pub fn list(path: &str, max_depth: u32, sender: &Sender) -> std::io::Result<()> {
    let root = Path::new(path);
    match std::fs::metadata(root) {
        Err(e) => return refuse(sender, path, &e),
        Ok(m) if !m.is_dir() => return sender.refuse(Refusal::NotADirectory, path.into()),
        Ok(_) => {}
    }
    let mut entries = Vec::new();
    let too_many = || {
        sender.refuse(
            Refusal::TooManyEntries,
            format!("{path}: more than {MAX_LISTED_ENTRIES} entries"),
        )
    };
    if walk(root, "", max_depth, &mut entries).is_err() {
        return too_many();
    }
    let reply = Reply::Entries { entries };
    // Long names can fill a frame before the count is reached.
    if json_frame(&reply).len() > MAX_FRAME + 5 {
        return too_many();
    }
    sender.reply(&reply)
}

/// The listing is longer than a reply may be.
struct TooMany;

/// Entries under `dir` (named relative to the listed root), `depth` levels
/// down; stops as soon as there are more than a listing may hold.
fn walk(dir: &Path, prefix: &str, depth: u32, entries: &mut Vec<Entry>) -> Result<(), TooMany> {
    if depth == 0 {
        return Ok(());
    }
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in read.flatten() {
        if entries.len() >= MAX_LISTED_ENTRIES {
            return Err(TooMany);
        }
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
            walk(&entry.path(), &format!("{name}/"), depth - 1, entries)?;
        }
    }
    Ok(())
}
