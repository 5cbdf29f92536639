//! Routed sandbox links against the real kernel: a server's start-up
//! sweep removes only reservations no container holds — never a link
//! whose end has moved into a namespace (a live sandbox's), nor one a
//! container is labelled with, nor one made after it looked. Uses
//! addresses of 10.99.0.0/24, outside every server's subnet, and a network
//! namespace of the test's own in place of a container.
#![allow(clippy::unwrap_used)]

use adapters::docker::routed::{host_end, reservations, sweep};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {}", args.join(" "));
}

fn exists(address: Ipv4Addr) -> bool {
    std::path::Path::new("/sys/class/net")
        .join(host_end(address))
        .exists()
}

/// A pair for `address` as `Routed::reserve` makes it (both ends here).
fn reserve(address: Ipv4Addr) {
    let hex = format!("{:08x}", u32::from(address));
    ip(&[
        "link",
        "add",
        &format!("sbx{hex}"),
        "type",
        "veth",
        "peer",
        "name",
        &format!("sbw{hex}"),
    ]);
}

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[tokio::test]
async fn the_start_up_sweep_removes_only_reservations_no_container_holds() {
    let address = |last: u8| Ipv4Addr::new(10, 99, 0, last);
    let (orphan, labelled, live, later) = (address(11), address(12), address(13), address(14));
    for a in [orphan, labelled, live, later] {
        let _ = Command::new("ip")
            .args(["link", "del", &host_end(a)])
            .stderr(std::process::Stdio::null())
            .status();
    }
    let namespace = Namespace(format!("sockt-routed{}", std::process::id() % 10_000));
    let _ = Command::new("ip")
        .args(["netns", "del", &namespace.0])
        .stderr(std::process::Stdio::null())
        .status();
    ip(&["netns", "add", &namespace.0]);

    reserve(orphan);
    reserve(labelled);
    reserve(live);
    // The live one's end moves into "its container".
    ip(&[
        "link",
        "set",
        "dev",
        &format!("sbw{:08x}", u32::from(live)),
        "netns",
        &namespace.0,
    ]);
    // (Only this test's: other servers may be reserving right now.)
    let ours = BTreeSet::from([orphan, labelled, live, later]);
    let seen: BTreeSet<Ipv4Addr> = reservations().intersection(&ours).copied().collect();
    assert!(seen.contains(&orphan) && seen.contains(&labelled));
    assert!(
        !seen.contains(&live),
        "a link that moved in is no reservation"
    );
    // Made after the server looked (and before it listed the containers).
    reserve(later);
    let in_use = BTreeSet::from([labelled]);
    // Even were the live address among what it saw, it is kept.
    let mut seen_with_live = seen.clone();
    seen_with_live.insert(live);
    sweep(&seen_with_live, &in_use).await;

    assert!(!exists(orphan), "an orphaned reservation is removed");
    assert!(exists(labelled), "a labelled reservation is kept");
    assert!(exists(live), "a live link is kept");
    assert!(exists(later), "a reservation made meanwhile is kept");
    for a in [labelled, live, later] {
        let _ = Command::new("ip")
            .args(["link", "del", &host_end(a)])
            .status();
    }
}
