//! File edge cases against real containers: odd names, missing paths, size
//! limits, partial reads, unwritable places.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::json;
use tests::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn files_edge_cases() {
    let server = TestServer::start_with(&["--max-file-bytes", "4096"]).await;
    let key = server.account(100).await;
    let id = server.running_sandbox(&key, json!({"tier": "micro"})).await;
    let write = format!("/v1/sandboxes/{id}/files/write");
    let read = format!("/v1/sandboxes/{id}/files/read");

    let odd = "dir with space/ünïcødé\nnewline.txt";
    let (status, body) = server
        .post(&write, &key, json!({"path": odd, "content": "ok"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, back) = server.post(&read, &key, json!({"path": odd})).await;
    assert_eq!(back["content"], "ok");
    let (_, listing) = server
        .get(
            &format!("/v1/sandboxes/{id}/files?path=dir%20with%20space"),
            &key,
        )
        .await;
    assert_eq!(listing["entries"][0]["name"], "ünïcødé\nnewline.txt");

    // Absolute paths under /tmp work; elsewhere is refused.
    let (status, _) = server
        .post(
            &write,
            &key,
            json!({"path": "/tmp/scratch/a.txt", "content": "t"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .post(&write, &key, json!({"path": "/etc/passwd", "content": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = server
        .post(&write, &key, json!({"path": "../../etc/x", "content": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Missing things.
    let (status, body) = server.post(&read, &key, json!({"path": "nope.txt"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("file_not_found"))
    );
    let (status, body) = server
        .get(&format!("/v1/sandboxes/{id}/files?path=nowhere"), &key)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("file_not_found"))
    );
    let (status, body) = server
        .post(
            &write,
            &key,
            json!({"path": "a/b/c.txt", "content": "x", "create_dirs": false}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("file_not_found"))
    );
    let (status, body) = server.post(&read, &key, json!({"path": "."})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("is_a_directory"))
    );

    // Size limits and partial reads.
    let (status, body) = server
        .post(
            &write,
            &key,
            json!({"path": "big.txt", "content": "x".repeat(5000)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "head -c 10000 /dev/zero | tr '\\0' y > made.txt"}),
        )
        .await;
    assert_eq!(poll["exit_code"], 0);
    let (status, _) = server.post(&read, &key, json!({"path": "made.txt"})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, part) = server
        .post(&read, &key, json!({"path": "made.txt", "max_bytes": 10}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(part["content"], "yyyyyyyyyy");
    assert_eq!(part["size"], 10000);
    assert_eq!(part["truncated"], true);

    // Binary read as text is a clear error, not mojibake.
    let (_, _) = server
        .post(
            &write,
            &key,
            json!({"path": "b.bin", "content": "/w==", "encoding": "base64"}),
        )
        .await;
    let (status, body) = server.post(&read, &key, json!({"path": "b.bin"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("not_utf8"))
    );
    let (status, body) = server
        .post(
            &write,
            &key,
            json!({"path": "c.bin", "content": "%%%", "encoding": "base64"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_base64"))
    );

    // Symbolic links are followed inside the sandbox.
    server
        .exec(
            &key,
            &id,
            json!({"command": "echo linked > target.txt && ln -s target.txt link.txt"}),
        )
        .await;
    let (_, linked) = server.post(&read, &key, json!({"path": "link.txt"})).await;
    assert_eq!(linked["content"], "linked\n");
}
