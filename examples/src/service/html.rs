//! Pages: one layout, escaped text.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML content and quoted attributes.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: the navigation, then `body` (already HTML).
#[must_use]
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} · Gemnasium example</title>\
         <style>body{{font-family:sans-serif;max-width:56em;margin:2em auto;padding:0 1em}}\
         nav a{{margin-right:1em}}td,th{{padding:.25em .7em;text-align:left}}\
         .error{{color:#a00}}.ok{{color:#070}}</style></head><body>\
         <nav><a href=\"/\">Home</a><a href=\"/repositories\">Repositories</a>\
         <a href=\"/events\">Push events</a></nav><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    (status, Html(html)).into_response()
}

/// A refusal page: what happened and what to do.
#[must_use]
pub fn refusal(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<p class=\"error\" id=\"refusal\">{}</p><p><a href=\"/\">Start again</a></p>",
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<b a='1'>&\"</b>"),
            "&lt;b a=&#39;1&#39;&gt;&amp;&quot;&lt;/b&gt;"
        );
    }
}
