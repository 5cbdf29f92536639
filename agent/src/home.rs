//! The sandbox's home starts empty (a fresh tmpfs): before serving, the
//! agent gives it the image's usual dotfiles from `/etc/skel` (PATH for
//! `~/.local/bin`, the prompt) — what `cp -n /etc/skel/.[!.]* ~/` did in a
//! shell before the agent, without starting a shell and `cp` first. Only
//! regular files at the top level; nothing already there is replaced, and
//! nothing is written through a link.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Copy `skel`'s top-level dotfiles into `home`, leaving any file that is
/// already there; returns how many were copied.
pub fn furnish(skel: &Path, home: &Path) -> io::Result<usize> {
    let mut copied = 0;
    for entry in fs::read_dir(skel)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_dotfile =
            name.as_encoded_bytes().first() == Some(&b'.') && name != "." && name != "..";
        let metadata = entry.metadata()?;
        if !is_dotfile || !metadata.is_file() {
            continue;
        }
        // create_new fails on anything already there, a link included.
        let target = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(metadata.permissions().mode() & 0o777)
            .open(home.join(&name));
        let Ok(mut target) = target else { continue };
        io::copy(&mut fs::File::open(entry.path())?, &mut target)?;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::furnish;
    use std::fs;

    #[test]
    fn dotfiles_are_copied_without_replacing_anything() {
        let root = std::env::temp_dir().join(format!("sockt-home-{}", std::process::id()));
        let (skel, home) = (root.join("skel"), root.join("home"));
        fs::create_dir_all(skel.join(".config")).unwrap();
        fs::create_dir_all(&home).unwrap();
        fs::write(skel.join(".bashrc"), "from skel").unwrap();
        fs::write(skel.join(".profile"), "profile").unwrap();
        fs::write(skel.join("visible"), "not a dotfile").unwrap();
        fs::write(home.join(".profile"), "mine").unwrap();
        std::os::unix::fs::symlink("/nowhere", home.join(".bashrc.lnk")).unwrap();
        fs::write(skel.join(".bashrc.lnk"), "not through a link").unwrap();

        assert_eq!(furnish(&skel, &home).unwrap(), 1);
        assert_eq!(
            fs::read_to_string(home.join(".bashrc")).unwrap(),
            "from skel"
        );
        assert_eq!(fs::read_to_string(home.join(".profile")).unwrap(), "mine");
        assert!(!home.join("visible").exists());
        assert!(!home.join(".config").exists(), "directories stay out");
        assert!(fs::symlink_metadata(home.join(".bashrc.lnk"))
            .unwrap()
            .is_symlink());
        fs::remove_dir_all(&root).unwrap();
    }
}
