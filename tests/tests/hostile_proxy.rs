//! Part of the hostile suite: the sandbox proxy on origins of its own (`{id}-{port}.localhost`), against
//! a real container: the owner reaches a web server inside it, strangers do
//! not, the API's routes are never served there and the API origin only
//! redirects; a preview token opens it to a browser without the owner's
//! credentials until it is revoked; Sockt's credentials never reach the app;
//! an app's cookies stay on its own origin (no `Domain` gets through).
#![allow(clippy::unwrap_used)]

use reqwest::{header, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tests::traces::Traces;
use tests::TestServer;

/// An app that answers every request with the headers it received.
const ECHO_APP: &str = r#"
import http.server
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("set-cookie", "app=1; Path=/")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Echo).serve_forever()
"#;

/// A client that sends `{id}-{port}.localhost` to the test server, follows
/// no redirect and keeps no cookie.
fn client_for(server: &TestServer, hosts: &[String]) -> reqwest::Client {
    let address: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    for host in hosts {
        builder = builder.resolve(host, address);
    }
    builder.build().unwrap()
}

/// Write `source` to `name` in the sandbox's home and run it there with
/// python3, in the background.
async fn serve_app(server: &TestServer, key: &str, id: &str, name: &str, source: &str) {
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            key,
            json!({"path": name, "content": source}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let started = server
        .exec(
            key,
            id,
            json!({"command": format!("nohup python3 {name} >/dev/null 2>&1 &")}),
        )
        .await;
    assert_eq!(started["exit_code"], 0, "{started}");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxied_apps_live_on_their_own_origin_for_the_owner_or_a_preview_token() {
    let server = TestServer::start().await;
    let key = server.account(50).await;
    let other = server.account(10).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    serve_app(&server, &key, &id, "echo.py", ECHO_APP).await;

    let port = server.url.rsplit(':').next().unwrap().to_string();
    let host = format!("{id}-8000.localhost");
    let closed_host = format!("{id}-9.localhost");
    let origin = format!("http://{host}:{port}");
    let client = client_for(&server, &[host.clone(), closed_host.clone()]);
    let (_, status_json) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(
        status_json["proxy_url_template"],
        format!("http://{id}-{{port}}.localhost:{port}/{{path}}")
    );

    // The owner's key in the header reaches the app; the app never sees it.
    let mut page = String::new();
    for _ in 0..50 {
        let response = client
            .get(format!("{origin}/hello?x=1"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            page = response.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains("Host:") || page.contains("host:"), "{page}");
    assert!(!page.contains(&key), "the app saw the API key: {page}");
    assert!(!page.to_lowercase().contains("authorization"), "{page}");

    // The app's own credentials pass through.
    let own = client
        .get(format!("{origin}/"))
        .bearer_auth(&key)
        .header("x-app", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(own.to_lowercase().contains("x-app: 1"), "{own}");

    // Strangers: nobody (401), another tenant's key (404).
    let nobody = client.get(format!("{origin}/")).send().await.unwrap();
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    let stranger = client
        .get(format!("{origin}/"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    let closed = client
        .get(format!("http://{closed_host}:{port}/"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Sockt's API is never served on a proxy origin: the app answers.
    let api_path = client
        .get(format!("{origin}/v1/sandboxes/tiers"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!api_path.contains("\"tiers\""), "{api_path}");
    assert!(api_path.to_lowercase().contains("host:"), "{api_path}");

    // The path form on the API origin only redirects there.
    let old = client
        .get(format!(
            "{}/v1/sandboxes/{id}/proxy/8000/src/?a=1&sandbox_token=sbx_x",
            server.url
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        old.headers()[header::LOCATION],
        format!("{origin}/src/?a=1")
    );

    // A preview token opens it without the owner's credentials.
    let (status, preview) = server
        .post(&format!("/v1/sandboxes/{id}/preview"), &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{preview}");
    let token = preview["preview_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("spv_"));
    assert_eq!(
        preview["url_template"],
        format!("http://{id}-{{port}}.localhost:{port}/.sockt/preview#{token}")
    );
    let (status, _) = server
        .post(&format!("/v1/sandboxes/{id}/preview"), &other, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the owner issues one");
    let by_header = client
        .get(format!("{origin}/"))
        .header("x-sockt-preview-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    assert!(!by_header.text().await.unwrap().contains(&token));
    // A preview token opens the proxy only, never the API.
    let (status, _) = server.get(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The browser flow: the page, then its script posts the token and gets
    // this origin's cookie, which opens the app and never reaches it.
    let login_page = client
        .get(format!("{origin}/.sockt/preview"))
        .send()
        .await
        .unwrap();
    assert_eq!(login_page.status(), StatusCode::OK);
    assert!(login_page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let login = client
        .post(format!("{origin}/.sockt/preview"))
        .header("x-sockt-preview-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::NO_CONTENT);
    let cookie = login.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.to_lowercase().contains("domain="),
        "a host-only cookie: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = client
        .get(format!("{origin}/"))
        .header(header::COOKIE, format!("{pair}; theme=dark"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::OK);
    let seen = with_cookie.text().await.unwrap();
    assert!(
        seen.contains("theme=dark") && !seen.contains(&token),
        "{seen}"
    );
    let bad_login = client
        .post(format!("{origin}/.sockt/preview"))
        .header("x-sockt-preview-token", "spv_invented")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_login.status(), StatusCode::NOT_FOUND);

    // Revoked: neither the header nor the cookie opens it any more.
    let (status, _) = server
        .delete(&format!("/v1/sandboxes/{id}/preview"), &key)
        .await;
    assert_eq!(status, StatusCode::OK);
    for request in [
        client
            .get(format!("{origin}/"))
            .header("x-sockt-preview-token", &token),
        client
            .get(format!("{origin}/"))
            .header(header::COOKIE, pair.clone()),
    ] {
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }

    let traces = Traces::before_terminating(&[&id]);
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    traces.assert_none_left();
    server.assert_audit_passes().await;
}

/// An app that sets cookies for the proxy's whole domain (and one of its own).
const COOKIE_TOSSING_APP: &str = r#"
import http.server
class Toss(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "2")
        self.send_header("set-cookie", "toss=1; Domain=localhost; Path=/; HttpOnly")
        self.send_header("set-cookie", "spaced=2;path=/; DOMAIN = .localhost ;SameSite=Lax")
        self.send_header("set-cookie", "own=3; Max-Age=60")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Toss).serve_forever()
"#;

/// Cookie tossing: an app setting `Domain=<proxy domain>` would set cookies
/// for every other sandbox's origin. Every Set-Cookie reaches the browser
/// host-only, its other attributes as the app wrote them.
#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_app_cannot_set_cookies_for_other_origins() {
    let server = TestServer::start().await;
    let key = server.account(50).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    serve_app(&server, &key, &id, "toss.py", COOKIE_TOSSING_APP).await;
    let port = server.url.rsplit(':').next().unwrap().to_string();
    let host = format!("{id}-8000.localhost");
    let client = client_for(&server, std::slice::from_ref(&host));
    let mut cookies = Vec::new();
    for _ in 0..50 {
        let response = client
            .get(format!("http://{host}:{port}/"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            cookies = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cookies,
        [
            "toss=1; Path=/; HttpOnly",
            "spaced=2;path=/;SameSite=Lax",
            "own=3; Max-Age=60"
        ]
    );

    let traces = Traces::before_terminating(&[&id]);
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    traces.assert_none_left();
}
