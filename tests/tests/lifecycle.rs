//! A sandbox's whole life over REST against real Docker containers, with
//! credits billing: create, run, files, pause, resume, ledger, terminate.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tests::{docker, stream_text, TestServer};

fn sum(entries: &[Value], kind: &str) -> u64 {
    entries
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["amount_msats"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn credits_sandbox_lifecycle() {
    lifecycle_under(&[], "docker").await;
}

/// The same life under gVisor, for the tier the sandbox uses: Sockt runs
/// sandboxes under any OCI runtime the engine knows, per tier. The test
/// script installs gVisor (Debian's `runsc`) and registers it with Docker.
#[tokio::test(flavor = "multi_thread")]
async fn credits_sandbox_lifecycle_under_gvisor() {
    let runtimes = docker(&["info", "--format", "{{json .Runtimes}}"]);
    assert!(
        runtimes.contains("\"runsc\""),
        "gVisor is not registered with Docker ({runtimes}); scripts/test.sh installs and registers it"
    );
    lifecycle_under(&["--tier-runtimes", "small=runsc"], "runsc").await;
}

async fn lifecycle_under(server_args: &[&str], runtime: &str) {
    let server = TestServer::start_with(server_args).await;
    let key = server.account(300).await;

    // Asking for more credits than the account holds is refused, nothing allocated.
    let (status, body) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "small", "initial_credits_cents": 301}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["code"], "insufficient_credits");
    let (_, account) = server.get("/v1/account", &key).await;
    assert_eq!(account["credits_cents"], 300);

    let (status, created) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "small", "initial_credits_cents": 200, "label": "job-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "creating");
    assert_eq!(created["label"], "job-1");
    assert_eq!(created["billing_method"], "credits");
    assert!(created["sandbox_token"]
        .as_str()
        .unwrap()
        .starts_with("sbx_"));
    assert!(created["proxy_url"]
        .as_str()
        .unwrap()
        .contains("/v1/sandboxes/"));
    let id = created["sandbox_id"].as_str().unwrap().to_string();
    let running = server.wait_for_state(&key, &id, "running").await;
    assert_eq!(running["tier"], "small");
    assert_eq!(running["msats_per_second"], 2500);
    assert_eq!(running["runtime"], runtime);

    // Commands: stdout and stderr apart, exit codes, the home directory.
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "echo out; echo err >&2; pwd; whoami; exit 7"}),
        )
        .await;
    assert_eq!(poll["status"], "completed");
    assert_eq!(poll["exit_code"], 7);
    assert_eq!(
        stream_text(&poll, "stdout"),
        "out\n/home/sandbox\nsandbox\n"
    );
    assert_eq!(stream_text(&poll, "stderr"), "err\n");
    assert_eq!(poll["stdout_bytes"], 26);

    // Files: text, binary, listing.
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &key,
            json!({"path": "src/main.py", "content": "print('hi')\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["path"], "/home/sandbox/src/main.py");
    let binary: Vec<u8> = (0..=255u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
    let (status, _) = server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &key,
            json!({"path": "data/all.bin", "content": b64, "encoding": "base64"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, read) = server
        .post(
            &format!("/v1/sandboxes/{id}/files/read"),
            &key,
            json!({"path": "data/all.bin", "encoding": "base64"}),
        )
        .await;
    assert_eq!(read["content_b64"], b64);
    assert_eq!(read["size"], 256);
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "python3 main.py", "working_dir": "src"}),
        )
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "hi\n", "{poll}");
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "find data/all.bin -printf '%u:%g\\n' && sha256sum data/all.bin | cut -c1-16"}),
        )
        .await;
    assert_eq!(
        stream_text(&poll, "stdout"),
        "sandbox:sandbox\n40aff2e9d2d8922e\n"
    );
    // The everyday tools an agent starts with work under every runtime
    // (under gVisor, busybox's `ls` and `stat` stand in for coreutils').
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "ls -la data && stat -c '%s %U' data/all.bin && du -s data >/dev/null && cp -a data data2 && ls data2"}),
        )
        .await;
    assert_eq!(poll["exit_code"], 0, "{poll}");
    let out = stream_text(&poll, "stdout");
    assert!(out.contains(" all.bin\n"), "ls -la lists the file: {out}");
    assert!(out.contains("256 sandbox\n"), "stat: {out}");
    assert!(out.ends_with("all.bin\n"), "cp -a: {out}");
    let (_, listing) = server
        .get(
            &format!("/v1/sandboxes/{id}/files?path=.&recursive=true&max_depth=2"),
            &key,
        )
        .await;
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"src/main.py")
            && names.contains(&"data")
            && names.contains(&"data/all.bin"),
        "{names:?}"
    );
    let (_, flat) = server
        .get(&format!("/v1/sandboxes/{id}/files?path=src"), &key)
        .await;
    assert_eq!(flat["entries"][0]["name"], "main.py");
    assert_eq!(flat["entries"][0]["size"], 12);
    assert_eq!(flat["entries"][0]["is_dir"], false);

    // Pause freezes the container and refuses work; resume brings it back.
    let (status, paused) = server
        .post(&format!("/v1/sandboxes/{id}/pause"), &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "paused");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &format!("sockt-{id}")]),
        "paused"
    );
    let consumed_at_pause = paused["consumed_msats"].as_u64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, still) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(
        still["consumed_msats"].as_u64().unwrap(),
        consumed_at_pause,
        "a paused sandbox is not billed"
    );
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "true"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("sandbox_paused"))
    );
    let (status, resumed) = server
        .post(&format!("/v1/sandboxes/{id}/resume"), &key, json!({}))
        .await;
    assert_eq!(
        (status, resumed["status"].as_str()),
        (StatusCode::OK, Some("running"))
    );
    let poll = server
        .exec(&key, &id, json!({"command": "cat src/main.py"}))
        .await;
    assert_eq!(
        stream_text(&poll, "stdout"),
        "print('hi')\n",
        "files survive a pause"
    );

    // Terminate: the container and its volumes go, the rest returns to the account.
    let (status, ended) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["status"], "terminated");
    assert!(ended.to_string().contains("terminated"));
    assert_eq!(
        tests::containers_left(&format!("name=sockt-{id}")).await,
        ""
    );
    for (method, path) in [
        (reqwest::Method::POST, format!("/v1/sandboxes/{id}/exec")),
        (
            reqwest::Method::POST,
            format!("/v1/sandboxes/{id}/files/read"),
        ),
        (reqwest::Method::POST, format!("/v1/sandboxes/{id}/pause")),
        (reqwest::Method::POST, format!("/v1/sandboxes/{id}/resume")),
        (reqwest::Method::DELETE, format!("/v1/sandboxes/{id}")),
    ] {
        let body = json!({"command": "true", "path": "x"});
        let (status, answer) = server
            .call(method.clone(), &path, Some(&key), Some(body))
            .await;
        assert_eq!(status, StatusCode::GONE, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "sandbox_terminated");
    }

    // The ledger: contiguous charge intervals, exact arithmetic, conservation.
    let (_, ledger) = server
        .get(&format!("/v1/sandboxes/{id}/ledger"), &key)
        .await;
    let entries = ledger["entries"].as_array().unwrap();
    let charges: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "charge").collect();
    assert!(!charges.is_empty());
    for charge in &charges {
        let duration = charge["duration_ms"].as_u64().unwrap();
        let rate = charge["msats_per_second"].as_u64().unwrap();
        assert_eq!(
            charge["amount_msats"].as_u64().unwrap(),
            rate * duration / 1000
        );
    }
    for pair in charges.windows(2) {
        assert!(
            pair[0]["to_ms"].as_i64().unwrap() <= pair[1]["from_ms"].as_i64().unwrap(),
            "charges never overlap"
        );
    }
    let paid = sum(entries, "deposit");
    let charged = sum(entries, "charge");
    let refunded = sum(entries, "refund");
    assert_eq!(paid, 2_000_000);
    assert_eq!(
        paid,
        charged + refunded + ledger["totals"]["balance_msats"].as_u64().unwrap()
    );
    assert_eq!(ledger["totals"]["balance_msats"], 0);
    let (_, account) = server.get("/v1/account", &key).await;
    assert_eq!(
        account["credits_msats"].as_u64().unwrap(),
        3_000_000 - charged,
        "unused credits returned exactly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ledgers_and_statements_export_as_csv() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    let (_, ledger) = server
        .get(&format!("/v1/sandboxes/{id}/ledger"), &key)
        .await;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/sandboxes/{id}/ledger.csv", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("sequence,kind,from_ms,to_ms"));
    assert_eq!(lines.len() - 1, ledger["entries"].as_array().unwrap().len());
    assert!(
        lines.iter().any(|l| l.contains(",charge,"))
            && lines.iter().any(|l| l.contains(",refund,"))
    );

    let (status, statement) = server.get("/v1/account/statement", &key).await;
    assert_eq!(status, StatusCode::OK, "{statement}");
    let kinds: Vec<&str> = statement["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["deposit", "allocation", "return"]);
    let (_, csv) = server.get("/v1/account/statement.csv", &key).await;
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("sequence,kind,sandbox_id,amount_msats"));
    assert!(csv.contains(&format!(",allocation,{id},100000,")), "{csv}");
    let (status, _) = server
        .get(
            &format!("/v1/sandboxes/{id}/ledger.csv"),
            &server.account(1).await,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// By default, under the engine's cgroupfs driver, the sandboxes share
/// Sockt's own cgroup weighted like eight busy host processes (under
/// systemd they stay in the engine's); and the server, started in the root
/// group, moves into a group of its own with the same weight (this test
/// process is the server: one a supervisor placed elsewhere stays there).
#[tokio::test(flavor = "multi_thread")]
async fn sandboxes_and_the_server_run_in_weighted_cgroups() {
    let server = TestServer::start().await;
    let key = server.account(10).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let name = format!("sockt-{id}");
    let parent = docker(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", &name]);
    let v2 = docker(&["info", "-f", "{{.CgroupVersion}}"]) == "2";
    let weight_of = |group: &str| {
        let file = if v2 {
            format!("/sys/fs/cgroup{group}/cpu.weight")
        } else {
            format!("/sys/fs/cgroup/cpu{group}/cpu.shares")
        };
        std::fs::read_to_string(&file).unwrap().trim().to_string()
    };
    let eight = if v2 { "800" } else { "8192" };
    if docker(&["info", "-f", "{{.CgroupDriver}}"]) == "cgroupfs" {
        assert_eq!(parent, "/sockt");
        assert_eq!(weight_of("/sockt"), eight);
        let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &name]);
        let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(groups.contains("/sockt/"), "{groups}");
    } else {
        assert_eq!(parent, "");
    }
    let group = adapters::docker::cpu_group::own_cpu_group().unwrap();
    let group = group.as_str();
    assert_ne!(group, "/", "the server left the root group");
    if group == "/sockt-server" {
        assert_eq!(weight_of(group), eight);
    }
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_are_hardened_and_limited_by_tier() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let id = server.running_sandbox(&key, json!({"tier": "nano"})).await;
    let name = format!("sockt-{id}");
    let inspect = docker(&["inspect", &name]);
    let info: Value = serde_json::from_str(&inspect).unwrap();
    let host = &info[0]["HostConfig"];
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert!(host["CapAdd"].is_null());
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["Privileged"], false);
    assert!(host["SecurityOpt"]
        .to_string()
        .contains("no-new-privileges"));
    assert_eq!(host["NanoCpus"], 250_000_000);
    assert_eq!(host["Memory"], 256 << 20);
    assert_eq!(host["PidsLimit"], 128);
    // The only host paths: the agent binary and the name-resolution files
    // (read-only), and the agent socket's directory, the sandbox's own.
    let binds: Vec<String> = serde_json::from_value(host["Binds"].clone()).unwrap();
    assert_eq!(binds.len(), 4, "{binds:?}");
    assert!(binds.iter().any(|b| b.ends_with(":/opt/sockt/agent:ro")));
    assert!(binds
        .iter()
        .any(|b| b.ends_with(":/run/sockt") && b.contains("/agents/")));
    assert!(binds
        .iter()
        .any(|b| b.ends_with("/names/hosts:/etc/hosts:ro")));
    assert!(binds
        .iter()
        .any(|b| b.ends_with("/names/resolv.conf:/etc/resolv.conf:ro")));
    // Networking is Sockt's (a routed link), none of the engine's.
    assert_eq!(info[0]["Config"]["NetworkDisabled"], true);
    assert_eq!(info[0]["NetworkSettings"]["Networks"], json!({}));
    assert!(!inspect.contains("docker.sock"));
    assert_eq!(info[0]["Config"]["User"], "sandbox");
    let poll = server.exec(&key, &id, json!({"command": "id -u; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status; touch /usr/x 2>/dev/null || echo ro; touch /tmp/t ~/h && echo rw; getent hosts localhost sandbox | wc -l; (echo x >> /etc/hosts || echo x >> /etc/resolv.conf) 2>/dev/null || echo names-ro"})).await;
    assert_eq!(
        stream_text(&poll, "stdout"),
        "1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nro\nrw\n2\nnames-ro\n"
    );
    // The pids limit holds against a fork burst.
    let burst = "import os, time\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n            time.sleep(3)\n            os._exit(0)\n        n += 1\nexcept OSError:\n    pass\nprint(n)\n";
    server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &key,
            json!({"path": "burst.py", "content": burst}),
        )
        .await;
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "python3 burst.py", "timeout_ms": 20000}),
        )
        .await;
    let count: u64 = stream_text(&poll, "stdout").trim().parse().unwrap();
    assert!(
        count < 128,
        "{count} processes were forked under a limit of 128"
    );
}

/// `wait_ms` on a create answers once the sandbox runs: a usable sandbox in
/// one round trip, woken by its events rather than by polling; a bad wait is
/// refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_with_wait_ms_answers_once_running() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let (status, ready) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "initial_credits_cents": 5, "wait_ms": 60000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ready}");
    assert_eq!(ready["status"], "running", "{ready}");
    assert!(ready["sandbox_token"].is_string(), "{ready}");
    let id = ready["sandbox_id"].as_str().unwrap();
    let poll = server
        .exec(&key, id, json!({"command": "echo ready"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "ready\n");

    let (status, quick) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "initial_credits_cents": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{quick}");

    let (status, refused) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "initial_credits_cents": 5, "wait_ms": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    for id in [id, quick["sandbox_id"].as_str().unwrap()] {
        let (status, ended) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
        assert_eq!(status, StatusCode::OK, "{ended}");
    }
    server.assert_audit_passes().await;
}
