//! The mock's own HTML pages, for people trying it in a browser: choosing the signed-in user
//! (Bitbucket's login, reduced to a list of the seeded users) and an index of what it holds,
//! with buttons that push to a repository.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::deliveries::lock;
use super::state::State;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
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

fn page(status: u16, title: &str, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
             <style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}\
             button{{margin:.2em}}td,th{{padding:.2em .6em;text-align:left}}</style></head>\
             <body><p><small>Mock Bitbucket (offline stand-in for bitbucket.org)</small></p>\
             {body}</body></html>",
            title = escape(title)
        ),
        "text/html; charset=utf-8",
    )
}

/// Where to go after signing in: only the authorize page or the index (no open redirect).
fn safe_return(to: Option<String>) -> String {
    to.filter(|t| t.starts_with("/site/oauth2/authorize?") || t == "/")
        .unwrap_or_else(|| "/".to_owned())
}

/// The login page: one button per seeded user. Shown by the authorize endpoint when nobody is
/// signed in, with `return_to` set to the authorization request, which then succeeds at once.
pub(crate) fn sign_in_form(state: &State, request: &Request) -> ResponseTemplate {
    let return_to = match request.url.path() {
        "/site/oauth2/authorize" => {
            format!(
                "{}?{}",
                request.url.path(),
                request.url.query().unwrap_or("")
            )
        }
        _ => safe_return(
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == "return_to")
                .map(|(_, v)| v.into_owned()),
        ),
    };
    let mut users: Vec<_> = state.users.values().collect();
    users.sort_by(|a, b| a.nickname.cmp(&b.nickname));
    let mut body = String::from(
        "<h1>Log in to Bitbucket</h1><p>Choose who you are on this mock Bitbucket:</p>",
    );
    for user in users {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/_mock/sign-in\">\
             <input type=\"hidden\" name=\"user\" value=\"{nick}\">\
             <input type=\"hidden\" name=\"return_to\" value=\"{to}\">\
             <button type=\"submit\" id=\"sign-in-{nick}\">Continue as {name} ({nick})</button></form>",
            nick = escape(&user.nickname),
            name = escape(&user.display_name),
            to = escape(&return_to),
        );
    }
    page(200, "Log in to Bitbucket", &body)
}

fn form_field(request: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(&request.body)
        .chain(request.url.query_pairs())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /_mock/sign-in`: the login page; `POST /_mock/sign-in` (`user`, `return_to`): signs
/// that user in and goes back.
struct SignIn(Arc<Mutex<State>>);

impl Respond for SignIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.0);
        if request.method.as_str() == "GET" {
            return sign_in_form(&state, request);
        }
        let wanted = form_field(request, "user").unwrap_or_default();
        let Some(uuid) = state
            .users
            .values()
            .find(|u| u.nickname == wanted)
            .map(|u| u.uuid.clone())
        else {
            return page(400, "Unknown user", "<h1>No such user on this mock</h1>");
        };
        state.signed_in = Some(uuid);
        ResponseTemplate::new(303).insert_header(
            "Location",
            safe_return(form_field(request, "return_to")).as_str(),
        )
    }
}

/// `POST /_mock/sign-out`: nobody is signed in any more (authorizing shows the login page).
struct SignOut(Arc<Mutex<State>>);

impl Respond for SignOut {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        lock(&self.0).signed_in = None;
        ResponseTemplate::new(303).insert_header("Location", "/")
    }
}

/// `GET /`: who is signed in, the workspaces, repositories and hooks, the recent deliveries.
struct Index(Arc<Mutex<State>>);

impl Respond for Index {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let state = lock(&self.0);
        let mut body = String::from("<h1>Mock Bitbucket</h1>");
        match state.signed_in.as_ref().and_then(|u| state.users.get(u)) {
            Some(user) => {
                let _ = write!(
                    body,
                    "<p>Signed in as <b>{}</b> ({}). Authorizations are granted at once.</p>\
                     <form method=\"post\" action=\"/_mock/sign-out\"><button>Sign out</button></form>",
                    escape(&user.display_name),
                    escape(&user.nickname)
                );
            }
            None => body.push_str(
                "<p>Nobody is signed in: authorizing shows a login page. \
                 <a href=\"/_mock/sign-in\">Sign in</a></p>",
            ),
        }
        body.push_str(
            "<h2>Repositories</h2><table><tr><th>repository</th><th>hooks</th><th></th></tr>",
        );
        for (workspace, (_, repos)) in &state.repos.workspaces {
            for repo in repos {
                let full_name = format!("{workspace}/{}", repo.slug);
                let hooks = state.repos.hooks.get(&full_name).map_or(0, Vec::len);
                let _ = write!(
                    body,
                    "<tr><td>{name}</td><td>{hooks}</td><td><form method=\"post\" \
                     action=\"/_mock/push\"><input type=\"hidden\" name=\"repo\" value=\"{name}\">\
                     <button>Push to main</button></form></td></tr>",
                    name = escape(&full_name)
                );
            }
        }
        body.push_str("</table><h2>Recent deliveries</h2><table><tr><th>X-Request-UUID</th><th>repository</th><th>attempt</th><th>answer</th></tr>");
        for record in state.repos.deliveries.iter().rev().take(20) {
            let d = &record.delivery;
            let answer = d
                .status
                .map(|s| s.to_string())
                .or_else(|| d.error.clone())
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.request_uuid),
                escape(&d.repository),
                d.attempt,
                escape(&answer)
            );
        }
        body.push_str("</table>");
        page(200, "Mock Bitbucket", &body)
    }
}

pub(crate) async fn mount(server: &MockServer, state: &Arc<Mutex<State>>) {
    Mock::given(path("/_mock/sign-in"))
        .respond_with(SignIn(state.clone()))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/_mock/sign-out"))
        .respond_with(SignOut(state.clone()))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(Index(state.clone()))
        .mount(server)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn only_local_pages_are_returned_to() {
        assert_eq!(safe_return(Some("https://evil.example/".into())), "/");
        assert_eq!(safe_return(Some("//evil.example/".into())), "/");
        assert_eq!(
            safe_return(Some("/site/oauth2/authorize?client_id=k".into())),
            "/site/oauth2/authorize?client_id=k"
        );
    }
}
