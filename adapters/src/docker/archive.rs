//! Tar archives for Docker's archive API: building one file (with its parent
//! directories, owned by the sandbox user) and reading the first entry of a
//! download without reading more than needed.

use std::io;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EntryKind {
    File,
    Directory,
    Symlink(String),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub kind: EntryKind,
    /// The entry's whole size.
    pub size: u64,
    /// At most the requested number of bytes of its content.
    pub data: Vec<u8>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header(kind: tar::EntryType, mode: u32, size: u64, uid: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(uid);
    header.set_gid(uid);
    header.set_mtime(now_secs());
    header
}

/// An archive holding `relative` (with `bytes`), and, when `with_parents`,
/// every parent directory of it, all owned by `uid`.
pub(super) fn file_archive(
    relative: &str,
    bytes: &[u8],
    uid: u64,
    with_parents: bool,
) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    if with_parents {
        let parts: Vec<&str> = relative.split('/').collect();
        for depth in 1..parts.len() {
            let dir = parts[..depth].join("/");
            let mut h = header(tar::EntryType::Directory, 0o755, 0, uid);
            builder.append_data(&mut h, format!("{dir}/"), io::empty())?;
        }
    }
    let mut h = header(tar::EntryType::Regular, 0o644, bytes.len() as u64, uid);
    builder.append_data(&mut h, relative, bytes)?;
    builder.into_inner()
}

fn padded(size: u64) -> usize {
    (size as usize).div_ceil(512) * 512
}

/// The `linkpath` record of a PAX extended header, if any.
fn pax_linkpath(data: &[u8]) -> Option<String> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len == 0 || len > rest.len() {
            return None;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"linkpath=") {
            return Some(String::from_utf8_lossy(value).into_owned());
        }
        rest = &rest[len..];
    }
    None
}

/// Parse the first real entry of a (possibly partial) archive. `Ok(None)`
/// means more bytes are needed.
pub(super) fn first_entry(buffer: &[u8], max_bytes: u64) -> Result<Option<Entry>, String> {
    let mut offset = 0usize;
    let mut long_link: Option<String> = None;
    loop {
        let Some(block) = buffer.get(offset..offset + 512) else {
            return Ok(None);
        };
        if block.iter().all(|b| *b == 0) {
            return Err("the engine sent an empty archive".into());
        }
        let header = tar::Header::from_byte_slice(block);
        let size = header
            .entry_size()
            .map_err(|e| format!("bad archive header: {e}"))?;
        let kind = header.entry_type();
        let data_start = offset + 512;
        if kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            let Some(data) = buffer.get(data_start..data_start + size as usize) else {
                return Ok(None);
            };
            if kind.is_pax_local_extensions() {
                long_link = pax_linkpath(data).or(long_link);
            } else if kind.is_gnu_longlink() {
                long_link = Some(
                    String::from_utf8_lossy(data)
                        .trim_end_matches('\0')
                        .to_string(),
                );
            }
            offset = data_start + padded(size);
            continue;
        }
        let entry = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let wanted = size.min(max_bytes) as usize;
                let Some(data) = buffer.get(data_start..data_start + wanted) else {
                    return Ok(None);
                };
                Entry {
                    kind: EntryKind::File,
                    size,
                    data: data.to_vec(),
                }
            }
            tar::EntryType::Directory => Entry {
                kind: EntryKind::Directory,
                size: 0,
                data: vec![],
            },
            tar::EntryType::Symlink => {
                let target = long_link.or_else(|| {
                    header
                        .link_name()
                        .ok()
                        .flatten()
                        .map(|p| p.to_string_lossy().into_owned())
                });
                Entry {
                    kind: EntryKind::Symlink(target.unwrap_or_default()),
                    size: 0,
                    data: vec![],
                }
            }
            _ => Entry {
                kind: EntryKind::Other,
                size,
                data: vec![],
            },
        };
        return Ok(Some(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_archive_reads_back() {
        let tar = file_archive("a/b/c.bin", &[0, 1, 2, 255], 1000, true).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<(String, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("a/".into(), 1000),
                ("a/b/".into(), 1000),
                ("a/b/c.bin".into(), 1000)
            ]
        );
    }

    #[test]
    fn the_first_entry_needs_only_what_was_asked() {
        let tar = file_archive("f.txt", b"hello world", 1000, false).unwrap();
        assert_eq!(first_entry(&tar[..100], 5), Ok(None));
        let entry = first_entry(&tar[..600], 5).unwrap().unwrap();
        assert_eq!(
            entry,
            Entry {
                kind: EntryKind::File,
                size: 11,
                data: b"hello".to_vec()
            }
        );
    }

    #[test]
    fn long_unicode_names_with_newlines_survive() {
        let name = format!("{}/ünï code\nline.txt", "d".repeat(150));
        let tar = file_archive(&name, b"x", 1000, false).unwrap();
        let entry = first_entry(&tar, 10).unwrap().unwrap();
        assert_eq!(entry.data, b"x");
    }

    #[test]
    fn pax_linkpath_is_found() {
        let record = b"30 linkpath=/home/sandbox/tgt\n";
        assert_eq!(pax_linkpath(record), Some("/home/sandbox/tgt".into()));
    }
}
