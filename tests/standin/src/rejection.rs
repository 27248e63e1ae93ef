//! The 406 a stock Trino (`http-server.process-forwarded=false`) sends for an `X-Forwarded-*` header.
//!
//! Jetty refuses the request before Trino sees it, so the answer is Jetty's own error page,
//! shaped by the request's `Accept` header as measured on Trino 476: plain text without an
//! `Accept` (or when text/plain comes first), HTML for `*/*` (what Python's requests sends),
//! JSON for application/json; no body for methods other than GET, POST and HEAD. It never
//! varies on Accept-Encoding and forbids caching. Jetty's HTML page also holds the Java
//! stack trace, which is left out here.

use hyper::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};

use crate::respond::Payload;

/// The message naming the refused header, e.g. `X-Forwarded-Host`.
pub fn message(header: &str) -> String {
    format!("Server configuration does not allow processing of the {header} header")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Text,
    Html,
    Json,
}

/// The first form the client's `Accept` admits, in its order; none at all means text.
fn form(headers: &HeaderMap) -> Option<Form> {
    let Some(accept) = headers.get("accept") else { return Some(Form::Text) };
    String::from_utf8_lossy(accept.as_bytes()).split(',').find_map(|item| {
        match item.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "text/plain" => Some(Form::Text),
            "text/html" | "text/*" | "*/*" => Some(Form::Html),
            "application/json" | "text/json" => Some(Form::Json),
            _ => None,
        }
    })
}

/// The 406 for `header` (canonical case) on this request.
pub fn response(parts: &Parts, header: &str, fallback_host: &str) -> Response<Payload> {
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or(fallback_host);
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let uri = format!("http://{host}{path}");
    let message = message(header);
    let readable = matches!(parts.method, Method::GET | Method::POST | Method::HEAD);
    let page = form(&parts.headers).filter(|_| readable).map(|form| match form {
        Form::Text => (
            "text/plain;charset=iso-8859-1",
            format!("HTTP ERROR 406 {message}\nURI: {uri}\nSTATUS: 406\nMESSAGE: {message}\n"),
        ),
        Form::Json => {
            ("application/json", format!("{{\n\"message\":\"{message}\",\n\"url\":\"{uri}\",\n\"status\":\"406\"\n}}"))
        }
        Form::Html => (
            "text/html;charset=iso-8859-1",
            format!(
                "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n\
                 <title>Error 406 {message}</title>\n</head>\n<body>\n<h2>HTTP ERROR 406 {message}</h2>\n\
                 <table>\n<tr><th>URI:</th><td>{uri}</td></tr>\n<tr><th>STATUS:</th><td>406</td></tr>\n\
                 <tr><th>MESSAGE:</th><td>{message}</td></tr>\n</table>\n\n</body>\n</html>\n"
            ),
        ),
    });
    let (content_type, body) = match page {
        Some((content_type, body)) => (Some(content_type), body),
        None => (None, String::new()),
    };
    let mut resp = Response::new(Payload::sized(body.clone()));
    *resp.status_mut() = StatusCode::NOT_ACCEPTABLE;
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("must-revalidate,no-cache,no-store"));
    if let Some(content_type) = content_type {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn refuse(method: &str, accept: Option<&str>) -> Response<Payload> {
        let mut builder = Request::builder().method(method).uri("/v1/statement?x=1").header("host", "h:1");
        if let Some(accept) = accept {
            builder = builder.header("accept", accept);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        response(&parts, "X-Forwarded-Host", "fallback:2")
    }

    fn body(resp: &Response<Payload>) -> String {
        String::from_utf8(resp.body().bytes().to_vec()).unwrap()
    }

    #[test]
    fn plain_text_without_accept() {
        let resp = refuse("POST", None);
        assert_eq!(resp.status(), 406);
        assert_eq!(resp.headers()["content-type"], "text/plain;charset=iso-8859-1");
        assert_eq!(resp.headers()["cache-control"], "must-revalidate,no-cache,no-store");
        assert!(resp.headers().get("vary").is_none());
        let m = "Server configuration does not allow processing of the X-Forwarded-Host header";
        assert_eq!(
            body(&resp),
            format!("HTTP ERROR 406 {m}\nURI: http://h:1/v1/statement?x=1\nSTATUS: 406\nMESSAGE: {m}\n")
        );
        assert_eq!(body(&refuse("GET", Some("text/plain, */*"))), body(&resp));
    }

    #[test]
    fn accept_picks_html_or_json_and_other_methods_get_no_body() {
        let html = refuse("GET", Some("*/*"));
        assert_eq!(html.headers()["content-type"], "text/html;charset=iso-8859-1");
        assert!(body(&html).contains("<h2>HTTP ERROR 406 Server configuration does not allow processing"));
        let json = refuse("GET", Some("application/json"));
        let v: serde_json::Value = serde_json::from_str(&body(&json)).unwrap();
        assert_eq!((v["status"].as_str(), v["url"].as_str()), (Some("406"), Some("http://h:1/v1/statement?x=1")));
        for method in ["DELETE", "PUT"] {
            let none = refuse(method, None);
            assert!(none.headers().get("content-type").is_none() && body(&none).is_empty());
            assert_eq!(none.headers()["content-length"], "0");
        }
    }
}
