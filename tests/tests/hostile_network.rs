//! Network attacks from inside a sandbox (tenant A), against real
//! containers: another tenant's sandbox, the Docker host (its bridge gateway,
//! any port, any of its IPv6 addresses) and a link-local address (a dummy
//! interface of this test's own at 169.254.77.1, never the real metadata
//! address) are all out of reach.
//! Each probe is paired with a control showing the target does answer, so a
//! refusal means isolation, not a dead target. Probes go only to addresses
//! this test set up on this machine.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::process::Command;
use std::time::Duration;
use tests::traces::{policy_rules_for, Traces};
use tests::{docker, stream_text, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-line HTTP server of the test's own on `addr`; answers "host".
async fn listener(addr: &str) -> u16 {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nhost")
                .await;
        }
    });
    port
}

/// `curl` from inside sandbox `id`: (exit code, stdout).
async fn curl_from(server: &TestServer, key: &str, id: &str, url: &str) -> (i64, String) {
    let poll = server
        .exec(
            key,
            id,
            json!({"command": format!("curl -sS --max-time 3 {url}"), "timeout_ms": 20000}),
        )
        .await;
    (
        poll["exit_code"].as_i64().unwrap_or(-1),
        stream_text(&poll, "stdout"),
    )
}

/// The sandbox's address, and an address of the host it would try: its
/// Docker network's gateway, or (on a routed link) the engine's default
/// bridge's — an address of the host's own either way.
fn sandbox_ip(id: &str) -> (String, String) {
    let address = tests::traces::sandbox_address(id);
    let gateway = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
        &format!("sockt-{id}"),
    ]);
    let host = if gateway.is_empty() {
        docker(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
        ])
    } else {
        gateway
    };
    (address, host)
}

/// Under the engine's default runtime, then under gVisor (the test script
/// registers Debian's `runsc`): the kernel's rules hold whatever runtime
/// runs the sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_reaches_no_other_sandbox_no_host_port_and_no_link_local_address() {
    let outside = Outside::add("203.0.113");
    isolation_under(&[], &outside).await;
    isolation_under(&["--oci-runtime", "runsc"], &outside).await;
}

async fn isolation_under(server_args: &[&str], outside: &Outside) {
    let link_local = "169.254.77.1";
    let server = TestServer::start_with(server_args).await;
    let alice = server.account(50).await;
    let bob = server.account(50).await;
    let attacker = server
        .running_sandbox(&alice, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    let victim = server
        .running_sandbox(&bob, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;

    // Another tenant's web server: the host reaches it, the attacker does not.
    let (status, started) = server
        .post(
            &format!("/v1/sandboxes/{victim}/exec"),
            &bob,
            json!({"command": "python3 -m http.server 8000 --bind 0.0.0.0", "timeout_ms": 60000}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{started}");
    let (victim_ip, gateway) = sandbox_ip(&victim);
    let victim_url = format!("http://{victim_ip}:8000/");
    let mut served = false;
    for _ in 0..50 {
        if reqwest::get(&victim_url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served, "control: the victim's server answers the host");
    let (code, body) = curl_from(&server, &alice, &attacker, &victim_url).await;
    assert_ne!(code, 0, "reached another tenant's sandbox: {body}");

    // The host, on its bridge gateway address and any port.
    let port = listener("0.0.0.0:0").await;
    let control = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert!(
        control.status().is_success(),
        "control: the host listener answers"
    );
    let (code, body) = curl_from(
        &server,
        &alice,
        &attacker,
        &format!("http://{gateway}:{port}/"),
    )
    .await;
    assert_ne!(code, 0, "reached the host: {body}");

    // A link-local address of the host (a dummy interface of our own).
    let link = LinkLocal::add(link_local);
    let port = listener(&format!("{link_local}:0")).await;
    let control = reqwest::get(format!("http://{link_local}:{port}/"))
        .await
        .unwrap();
    assert!(
        control.status().is_success(),
        "control: the link-local listener answers"
    );
    let (code, body) = curl_from(
        &server,
        &alice,
        &attacker,
        &format!("http://{link_local}:{port}/"),
    )
    .await;
    assert_ne!(code, 0, "reached a link-local address: {body}");
    drop(link);

    // IPv6: sandboxes speak IPv4 only. The host's side of the attacker's
    // link (its routed end, or the bridge) holds no IPv6 address, and no
    // IPv6 address of the host answers — link-local ones included, which
    // no IPv4 rule covers — though the host reaches the listener on [::1].
    let port = listener("[::]:0").await;
    let control = reqwest::get(format!("http://[::1]:{port}/")).await.unwrap();
    assert!(
        control.status().is_success(),
        "control: the IPv6 listener answers"
    );
    let host_side = if server_args.is_empty() {
        let address: std::net::Ipv4Addr = sandbox_ip(&attacker).0.parse().unwrap();
        format!("sbx{:08x}", u32::from(address))
    } else {
        "sockt-isolated".to_string()
    };
    let on_host_side = Command::new("ip")
        .args(["-6", "-o", "addr", "show", "dev", &host_side])
        .output()
        .unwrap();
    assert!(on_host_side.status.success(), "{host_side} exists");
    assert_eq!(
        String::from_utf8_lossy(&on_host_side.stdout),
        "",
        "no IPv6 address on {host_side}"
    );
    if server_args.is_empty() {
        let poll = server
            .exec(
                &alice,
                &attacker,
                json!({"command": "cat /proc/net/if_inet6"}),
            )
            .await;
        let inside = stream_text(&poll, "stdout");
        assert!(
            !inside.contains("eth0"),
            "the sandbox's end has no IPv6 address either: {inside}"
        );
    }
    let targets = host_ipv6_addresses();
    assert!(!targets.is_empty(), "control: the host has IPv6 addresses");
    let probe = format!(
        "import socket, threading\n\
         def probe(address):\n    \
             host = address + '%eth0' if address.startswith('fe80') else address\n    \
             try:\n        \
                 info = socket.getaddrinfo(host, {port}, socket.AF_INET6, socket.SOCK_STREAM)[0]\n        \
                 s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n        \
                 s.settimeout(3)\n        \
                 s.connect(info[4])\n        \
                 print('reached', address)\n    \
             except OSError:\n        \
                 pass\n\
         threads = [threading.Thread(target=probe, args=(a,)) for a in {targets:?}]\n\
         [t.start() for t in threads]\n\
         [t.join() for t in threads]\n\
         print('probed', len(threads))\n"
    );
    let (status, _) = server
        .post(
            &format!("/v1/sandboxes/{attacker}/files/write"),
            &alice,
            json!({"path": "probe6.py", "content": probe}),
        )
        .await;
    assert!(status.is_success());
    let poll = server
        .exec(
            &alice,
            &attacker,
            json!({"command": "python3 probe6.py", "timeout_ms": 30000}),
        )
        .await;
    let out = stream_text(&poll, "stdout");
    assert!(out.contains("probed"), "{poll}");
    assert!(
        !out.contains("reached"),
        "reached the host over IPv6: {out}"
    );

    // The attacker's sandbox still works, and reaches the internet (an
    // address of the test's own outside every blocked range): the refusals
    // above are isolation, not a sandbox that reaches nothing.
    let poll = server
        .exec(&alice, &attacker, json!({"command": "echo still here"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "still here\n");
    let (code, body) = curl_from(&server, &alice, &attacker, &outside.url(2)).await;
    assert_eq!(code, 0, "control: the internet is reachable: {body}");

    // A datagram sent from the victim's address (bound with IP_FREEBIND,
    // which needs no capability) never leaves the host — the sandbox's
    // kernel may refuse it already, the host end's reverse-path filter
    // drops it otherwise; one from the attacker's own address arrives. (Routed links only: on the Docker bridge gVisor
    // sandboxes join, nothing checks a source address.)
    if server_args.is_empty() {
        let catcher = outside.catch_datagrams();
        let send = format!(
            "import socket\n\
             spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             spoof.setsockopt(socket.SOL_IP, 15, 1)\n\
             spoof.bind(('{victim_ip}', 0))\n\
             own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             for _ in range(5):\n    \
                 try: spoof.sendto(b'spoofed', ('{}', {port}))\n    \
                 except OSError as e: print('refused:', e)\n    \
                 own.sendto(b'honest', ('{}', {port}))\n",
            outside.address(2),
            outside.address(2),
            port = catcher.port,
        );
        let poll = server
            .exec(
                &alice,
                &attacker,
                json!({"command": format!("python3 -c \"{send}\""), "timeout_ms": 20000}),
            )
            .await;
        assert_eq!(poll["exit_code"], 0, "{poll}");
        let caught = catcher.caught();
        assert!(
            caught.contains("honest"),
            "control: datagrams arrive: {caught:?}"
        );
        assert!(
            !caught.contains("spoofed"),
            "a datagram from another sandbox's address left the host"
        );
    }
    let traces = Traces::before_terminating(&[&attacker, &victim]);
    for (key, id) in [(&alice, &attacker), (&bob, &victim)] {
        let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), key).await;
        assert_eq!(status.as_u16(), 200);
    }
    traces.assert_none_left();
}

/// Every IPv6 address of the host but loopback (as `ip` lists them).
fn host_ipv6_addresses() -> Vec<String> {
    let output = Command::new("ip")
        .args(["-6", "-o", "addr", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w != "inet6");
            words.next()?;
            let address = words.next()?.split('/').next()?.to_string();
            (address != "::1").then_some(address)
        })
        .collect()
}

/// An interface of the test's own (a dummy one, or an empty bridge where
/// the kernel has no dummy driver) holding one link-local address; removed
/// when dropped.
struct LinkLocal {
    name: String,
}

impl LinkLocal {
    fn add(address: &str) -> LinkLocal {
        let last = address.rsplit('.').next().unwrap_or("0");
        let name = format!("sockt-ll{}-{last}", std::process::id() % 10_000);
        let ip = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {}", args.join(" "));
        };
        let _ = Command::new("ip")
            .args(["link", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        let dummy = Command::new("ip")
            .args(["link", "add", &name, "type", "dummy"])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        if !dummy.success() {
            ip(&["link", "add", &name, "type", "bridge"]);
        }
        ip(&["addr", "add", &format!("{address}/32"), "dev", &name]);
        ip(&["link", "set", &name, "up"]);
        LinkLocal { name }
    }
}

impl Drop for LinkLocal {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

/// "The internet" of these tests: a network namespace of the test's own
/// behind a veth pair, holding two addresses of a documentation range
/// (`net`.2 and `net`.3, outside every blocked range) and one HTTP server for
/// both. The host routes to it; nothing leaves this machine. Removed when
/// dropped. Tests running at once use different ranges.
struct Outside {
    namespace: String,
    net: String,
    server: std::process::Child,
    port: u16,
}

impl Outside {
    fn add(net: &str) -> Outside {
        let addresses = Command::new("ip").args(["-4", "addr"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&addresses.stdout).contains(&format!("inet {net}.")),
            "this machine already uses {net}.0/24; the test will not touch it"
        );
        let tag = format!("{}{}", std::process::id() % 10_000, &net[net.len() - 1..]);
        let namespace = format!("sockt-out{tag}");
        let (host_end, far_end) = (format!("sockt-oh{tag}"), format!("sockt-of{tag}"));
        let run = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {}", args.join(" "));
        };
        for leftover in [["netns", "del", &namespace], ["link", "del", &host_end]] {
            let _ = Command::new("ip")
                .args(leftover)
                .stderr(std::process::Stdio::null())
                .status();
        }
        run(&["netns", "add", &namespace]);
        run(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", &far_end,
        ]);
        run(&["link", "set", &far_end, "netns", &namespace]);
        run(&["addr", "add", &format!("{net}.1/24"), "dev", &host_end]);
        run(&["link", "set", &host_end, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", namespace.as_str(), "ip"];
            all.extend_from_slice(args);
            run(&all);
        };
        inside(&["addr", "add", &format!("{net}.2/24"), "dev", &far_end]);
        inside(&["addr", "add", &format!("{net}.3/24"), "dev", &far_end]);
        inside(&["link", "set", &far_end, "up"]);
        inside(&["link", "set", "lo", "up"]);
        let port = 18_000 + (std::process::id() % 1000) as u16;
        let server = Command::new("ip")
            .args(["netns", "exec", &namespace, "python3", "-m", "http.server"])
            .args([&port.to_string(), "--bind", "0.0.0.0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let outside = Outside {
            namespace,
            net: net.to_string(),
            server,
            port,
        };
        outside.wait_until_served();
        outside
    }

    /// `net.last`
    fn address(&self, last: u8) -> String {
        format!("{}.{last}", self.net)
    }

    /// A UDP listener in the namespace, noting every payload it receives.
    fn catch_datagrams(&self) -> Datagrams {
        let port = 19_000 + (std::process::id() % 1000) as u16;
        let file = std::env::temp_dir().join(format!("sockt-datagrams-{port}"));
        let _ = std::fs::remove_file(&file);
        let script = format!(
            "import socket\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('0.0.0.0', {port}))\n\
             while True:\n    \
                 data, _ = s.recvfrom(2048)\n    \
                 open('{}', 'ab').write(data + b'\\n')\n",
            file.display()
        );
        let listener = Command::new("ip")
            .args(["netns", "exec", &self.namespace, "python3", "-c", &script])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Datagrams {
            port,
            file,
            listener,
        }
    }

    /// `http://net.last:port/`
    fn url(&self, last: u8) -> String {
        format!("http://{}.{last}:{}/", self.net, self.port)
    }

    fn wait_until_served(&self) {
        for _ in 0..100 {
            let answered = [2, 3].iter().all(|last| {
                let address = format!("{}.{last}:{}", self.net, self.port);
                std::net::TcpStream::connect_timeout(
                    &address.parse().unwrap(),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if answered {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("control: the outside server does not answer the host");
    }
}

/// What a UDP listener of `Outside` received; stopped when dropped.
struct Datagrams {
    port: u16,
    file: std::path::PathBuf,
    listener: std::process::Child,
}

impl Datagrams {
    /// The payloads received (after a moment for the last to land).
    fn caught(&self) -> String {
        std::thread::sleep(Duration::from_millis(500));
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }
}

impl Drop for Datagrams {
    fn drop(&mut self) {
        let _ = self.listener.kill();
        let _ = self.listener.wait();
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandboxs_network_policy_is_enforced_by_the_kernel_survives_a_restart_and_leaves_nothing_behind(
) {
    let outside = Outside::add("198.51.100");
    let (allowed, denied) = (outside.url(2), outside.url(3));

    let server = TestServer::start().await;
    let key = server.account(50).await;
    let (status, refused) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "network": {"internet": false, "allow": ["not a host!"]}}),
        )
        .await;
    assert_eq!(status.as_u16(), 400, "{refused}");
    assert_eq!(refused["code"], "invalid_network_policy", "{refused}");
    let (status, refused) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "network": {"internets": false}}),
        )
        .await;
    assert_eq!(
        status.as_u16(),
        400,
        "an unknown field is refused: {refused}"
    );

    let open = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let closed = server
        .running_sandbox(
            &key,
            json!({"tier": "nano", "initial_credits_cents": 5,
                   "network": {"internet": false, "allow": ["198.51.100.2"]}}),
        )
        .await;
    let narrowed = server
        .running_sandbox(
            &key,
            json!({"tier": "nano", "initial_credits_cents": 5,
                   "network": {"deny_out": ["198.51.100.3/32"]}}),
        )
        .await;
    let (_, shown) = server.get(&format!("/v1/sandboxes/{closed}"), &key).await;
    assert_eq!(
        shown["network"],
        json!({"internet": false, "allow": ["198.51.100.2/32"], "deny": []})
    );
    let (_, shown) = server.get(&format!("/v1/sandboxes/{open}"), &key).await;
    assert_eq!(
        shown["network"],
        json!({"internet": true, "allow": [], "deny": []})
    );

    let reaches = |id: String, url: String| {
        let (server, key) = (&server, &key);
        async move { curl_from(server, key, &id, &url).await.0 == 0 }
    };
    assert!(reaches(open.clone(), allowed.clone()).await, "open → .2");
    assert!(reaches(open.clone(), denied.clone()).await, "open → .3");
    assert!(
        reaches(closed.clone(), allowed.clone()).await,
        "closed → allowed .2"
    );
    assert!(
        !reaches(closed.clone(), denied.clone()).await,
        "closed → .3 refused"
    );
    assert!(
        reaches(narrowed.clone(), allowed.clone()).await,
        "narrowed → .2"
    );
    assert!(
        !reaches(narrowed.clone(), denied.clone()).await,
        "narrowed → denied .3 refused"
    );

    // The kernel's rules are rebuilt at start, even when they were lost.
    let data_dir = server.stop().await;
    let flushed = Command::new("iptables")
        .args(["-w", "5", "-F", "SOCKT-POLICIES"])
        .status()
        .unwrap();
    assert!(flushed.success());
    let server = TestServer::start_in(data_dir, &[]).await;
    let reaches = |id: String, url: String| {
        let (server, key) = (&server, &key);
        async move { curl_from(server, key, &id, &url).await.0 == 0 }
    };
    assert!(
        !reaches(closed.clone(), denied.clone()).await,
        "closed → .3 still refused after a restart"
    );
    assert!(
        reaches(closed.clone(), allowed.clone()).await,
        "closed → .2 after a restart"
    );

    // Terminate removes each sandbox's rules; nothing is left behind.
    let addresses: Vec<String> = [&closed, &narrowed]
        .iter()
        .map(|id| sandbox_ip(id).0)
        .collect();
    for address in &addresses {
        assert!(
            !policy_rules_for(address).is_empty(),
            "{address} has its rules"
        );
    }
    let traces = Traces::before_terminating(&[&open, &closed, &narrowed]);
    for id in [&open, &closed, &narrowed] {
        let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
        assert_eq!(status.as_u16(), 200);
    }
    traces.assert_none_left();
    for address in &addresses {
        assert_eq!(
            policy_rules_for(address),
            Vec::<String>::new(),
            "rules left for {address}"
        );
    }
    server.assert_audit_passes().await;
}

/// Servers starting at once on a fresh machine each make sure the
/// firewall's chains exist: whichever is second finds the chain made, and
/// neither fails (before, one failed with "Chain already exists").
#[test]
fn servers_starting_at_once_all_find_the_firewalls_chains() {
    const CHAIN: &str = "SOCKT-TEST-RACE";
    let delete = || {
        let _ = Command::new("iptables")
            .args(["-w", "5", "-X", CHAIN])
            .status();
    };
    delete();
    for round in 0..5 {
        let outcomes: Vec<_> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| adapters::docker::iptables::ensure_chain(CHAIN)))
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        let listed = Command::new("iptables")
            .args(["-w", "5", "-L", CHAIN, "-n"])
            .status()
            .unwrap();
        delete();
        for outcome in outcomes {
            assert!(outcome.is_ok(), "round {round}: {outcome:?}");
        }
        assert!(listed.success(), "round {round}: the chain was made");
    }
}
