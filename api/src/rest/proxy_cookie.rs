//! Cookies a sandbox's app sets through the proxy stay on the app's own
//! origin: the `Domain` attribute of every `Set-Cookie` is dropped, which
//! makes the cookie host-only, so no app can set cookies for another
//! sandbox's origin or the API's (cookie tossing). Every other attribute is
//! kept as the app wrote it.

use axum::http::{header, HeaderMap, HeaderValue};

/// Make every `Set-Cookie` of `headers` host-only.
pub fn host_only(headers: &mut HeaderMap) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let rewritten: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(without_domain)
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in rewritten {
        headers.append(header::SET_COOKIE, value);
    }
}

/// One `Set-Cookie` value without its `Domain` attributes (matched
/// case-insensitively, spaces around the name allowed). The first part is
/// the cookie itself, never an attribute. None (the cookie is dropped) only
/// if what is left were not a valid header value.
fn without_domain(value: &HeaderValue) -> Option<HeaderValue> {
    let kept: Vec<&[u8]> = value
        .as_bytes()
        .split(|b| *b == b';')
        .enumerate()
        .filter(|(index, part)| *index == 0 || !is_domain(part))
        .map(|(_, part)| part)
        .collect();
    HeaderValue::from_bytes(&kept.join(&b';')).ok()
}

/// Whether a cookie attribute is `Domain` (`Domain=x`, `domain = x`, `DOMAIN`).
fn is_domain(attribute: &[u8]) -> bool {
    let name = attribute.split(|b| *b == b'=').next().unwrap_or(attribute);
    name.trim_ascii().eq_ignore_ascii_case(b"domain")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(value: &str) -> String {
        without_domain(&HeaderValue::from_str(value).unwrap())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_domain_attribute_is_dropped_in_any_spelling() {
        assert_eq!(
            rewritten("a=1; Domain=localhost; Path=/; HttpOnly"),
            "a=1; Path=/; HttpOnly"
        );
        assert_eq!(rewritten("a=1; domain=.localhost"), "a=1");
        assert_eq!(rewritten("a=1;DOMAIN = example.com ;Secure"), "a=1;Secure");
        assert_eq!(rewritten("a=1; Path=/; dOmAiN"), "a=1; Path=/");
        assert_eq!(
            rewritten("a=1; Domain=x; Max-Age=60; domain=y; SameSite=Lax"),
            "a=1; Max-Age=60; SameSite=Lax",
            "every Domain attribute goes"
        );
    }

    #[test]
    fn everything_else_is_kept_as_written() {
        for value in [
            "a=1",
            "a=1; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=10",
            "domain=x; Path=/",
            "a=domain=x",
            "a=1; Domainx=y; X-Domain=z",
        ] {
            assert_eq!(rewritten(value), value);
        }
    }

    #[test]
    fn every_set_cookie_header_is_rewritten() {
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, "a=1; Domain=localhost".parse().unwrap());
        headers.append(header::SET_COOKIE, "b=2; Path=/".parse().unwrap());
        headers.append(
            header::SET_COOKIE,
            "c=3; path=/; domain=sbx-8000.localhost".parse().unwrap(),
        );
        headers.insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
        host_only(&mut headers);
        let cookies: Vec<&str> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2; Path=/", "c=3; path=/"]);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html");
    }

    #[test]
    fn a_value_that_is_not_text_is_still_rewritten() {
        let value = HeaderValue::from_bytes(b"a=\xe9; Domain=x; Path=/").unwrap();
        assert_eq!(
            without_domain(&value).unwrap().as_bytes(),
            b"a=\xe9; Path=/"
        );
    }
}
