//! The default sandbox image, built without a registry: a Debian bookworm
//! root filesystem bootstrapped with mmdebstrap from Debian's package
//! registry, imported into Docker. Any other image reference is pulled.

use anyhow::{bail, Context};
use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::{body_try_stream, Docker};
use futures::StreamExt;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The image `sockt serve` uses unless `SOCKT_SANDBOX_IMAGE` names another.
pub const DEFAULT_IMAGE: &str = "sockt-sandbox:bookworm";
const RECIPE_LABEL: &str = "sockt.recipe";

/// Debian packages in the default image.
const PACKAGES: &[&str] = &[
    "bash",
    "coreutils",
    "findutils",
    "procps",
    "util-linux",
    "python3",
    "python3-pip",
    "python3-venv",
    // `python` runs python3, as agents and examples expect.
    "python-is-python3",
    "curl",
    "git",
    "ca-certificates",
    "less",
    "nano",
    // `ls -l` and `stat` where coreutils' fail (gVisor, see HOOKS).
    "busybox",
];
/// After the packages: the sandbox user; busybox's `ls` and `stat` in
/// /usr/lib/sockt/statx-free for runtimes that refuse coreutils' `statx`
/// (Debian's gVisor 20221219 refuses `AT_NO_AUTOMOUNT`: "Invalid
/// argument"), which a login shell puts first on PATH only where
/// coreutils' `stat` fails — runc sandboxes keep coreutils; no package
/// caches.
const HOOKS: &[&str] = &[
    "chroot \"$1\" useradd --create-home --uid 1000 --user-group --shell /bin/bash sandbox",
    "mkdir -p \"$1\"/usr/lib/sockt/statx-free && for tool in ls stat; do ln -s /bin/busybox \"$1\"/usr/lib/sockt/statx-free/$tool; done",
    "printf '%s\\n' '# Sockt: where coreutils cannot statx (older gVisor), busybox ls and stat come first.' 'if ! /usr/bin/stat / >/dev/null 2>&1; then PATH=/usr/lib/sockt/statx-free:$PATH; fi' > \"$1\"/etc/profile.d/sockt-statx.sh",
    "rm -rf \"$1\"/var/cache/apt/archives/*.deb \"$1\"/var/lib/apt/lists/*",
];

/// A fingerprint of the recipe: a changed recipe builds a new image.
fn recipe() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ("bookworm", PACKAGES, HOOKS).hash(&mut h);
    format!("{:016x}", h.finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageOutcome {
    AlreadyPresent,
    Built,
    Pulled,
}

/// Make sure `image` exists locally: reuse it, build it (the default) or pull it.
pub async fn ensure_image(
    docker: &Docker,
    image: &str,
    work_dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<ImageOutcome> {
    let is_default = image == DEFAULT_IMAGE;
    if let Ok(found) = docker.inspect_image(image).await {
        let current = found
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(RECIPE_LABEL).cloned());
        if !is_default || current.as_deref() == Some(recipe().as_str()) {
            return Ok(ImageOutcome::AlreadyPresent);
        }
        progress("the default image's recipe changed; rebuilding it");
    }
    if is_default {
        build_default(docker, work_dir, progress).await?;
        return Ok(ImageOutcome::Built);
    }
    progress(&format!("pulling {image}"));
    let options = CreateImageOptionsBuilder::new().from_image(image).build();
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("pulling {image} (set SOCKT_SANDBOX_IMAGE to an image this engine can reach, or leave it unset to build {DEFAULT_IMAGE})"))?;
        if let Some(status) = info.status {
            progress(&status);
        }
    }
    Ok(ImageOutcome::Pulled)
}

async fn build_default(
    docker: &Docker,
    work_dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<()> {
    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let rootfs = work_dir.join("rootfs.tar");
    progress("bootstrapping a Debian bookworm root filesystem with mmdebstrap (about a minute)");
    let mut command = tokio::process::Command::new("mmdebstrap");
    command
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")));
    for hook in HOOKS {
        command.arg(format!("--customize-hook={hook}"));
    }
    command
        .arg("bookworm")
        .arg(&rootfs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .context("running mmdebstrap: install it first (apt-get install mmdebstrap) or set SOCKT_SANDBOX_IMAGE")?;
    if let Some(stderr) = child.stderr.take() {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            progress(&format!("mmdebstrap: {line}"));
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("mmdebstrap failed ({status}); see its output above");
    }

    progress(&format!("importing the root filesystem as {DEFAULT_IMAGE}"));
    let (repo, tag) = DEFAULT_IMAGE
        .split_once(':')
        .unwrap_or((DEFAULT_IMAGE, "latest"));
    let changes = vec![
        "USER sandbox".to_string(),
        "WORKDIR /home/sandbox".to_string(),
        "ENV LANG=C.UTF-8".to_string(),
        "CMD [\"sleep\", \"infinity\"]".to_string(),
        format!("LABEL {RECIPE_LABEL}={}", recipe()),
    ];
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    let file = tokio::fs::File::open(&rootfs)
        .await
        .with_context(|| format!("opening {}", rootfs.display()))?;
    let body = body_try_stream(tokio_util::io::ReaderStream::new(file));
    let mut stream = docker.create_image(Some(options), Some(body), None);
    while let Some(item) = stream.next().await {
        item.context("importing the sandbox image into Docker")?;
    }
    let _ = std::fs::remove_file(&rootfs);
    progress(&format!("built {DEFAULT_IMAGE}"));
    Ok(())
}
