use gemnasium_bitbucket::api::{ApiError, Page, PageQuery};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use super::support::{client, server, TOKEN};

fn uuid_of(v: &Value) -> String {
    v["uuid"].as_str().unwrap_or_default().to_owned()
}

fn repos(range: std::ops::Range<u32>) -> Vec<Value> {
    range
        .map(|i| json!({"uuid": format!("{{r{i}}}"), "full_name": format!("acme/r{i}")}))
        .collect()
}

#[tokio::test]
async fn follows_opaque_cursors_verbatim_across_many_pages_with_the_bearer_header() {
    let s = server().await;
    let pages = 12;
    for p in 0..pages {
        let mut body = json!({"values": repos(p * 10..p * 10 + 10), "pagelen": 10});
        if p + 1 < pages {
            body["next"] = json!(format!(
                "{}/2.0/repositories/acme?cursor=Zz{:x}%3D%3D&pagelen=100&fields=x",
                s.uri(),
                (p + 1) * 7919
            ));
        }
        let mut mock = Mock::given(method("GET"))
            .and(path("/2.0/repositories/acme"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()));
        mock = if p == 0 {
            mock.and(query_param_is_missing("cursor"))
                .and(query_param("pagelen", "100"))
        } else {
            mock.and(query_param(
                "cursor",
                format!("Zz{:x}==", p * 7919).as_str(),
            ))
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&s)
            .await;
    }
    let (api, _) = client(&s);
    let query = PageQuery::new().pagelen(100).role("member");
    let items: Vec<Value> = api
        .all_pages(api.url(&["repositories", "acme"]), &query, uuid_of)
        .await
        .unwrap();
    assert_eq!(items.len(), 120);
    for request in s.received_requests().await.unwrap() {
        assert!(
            !request.url.as_str().contains(TOKEN),
            "token in a URL: {}",
            request.url
        );
    }
    assert_eq!(api.metrics().requests(), 12);
}

#[tokio::test]
async fn empty_first_page_empty_last_page_with_next_and_duplicates() {
    let s = server().await;
    Mock::given(path("/2.0/empty"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"values": []})))
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let none: Vec<Value> = api
        .all_pages(api.url(&["empty"]), &PageQuery::new(), uuid_of)
        .await
        .unwrap();
    assert!(none.is_empty());

    let next = |c: &str| format!("{}/2.0/dup?c={c}", s.uri());
    Mock::given(path("/2.0/dup"))
        .and(query_param_is_missing("c"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"values": repos(0..3), "next": next("2")})),
        )
        .mount(&s)
        .await;
    // Unstable order: page 2 repeats r2 and r0.
    let shuffled: Vec<Value> = [repos(2..5), repos(0..1)].concat();
    Mock::given(path("/2.0/dup"))
        .and(query_param("c", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"values": shuffled, "next": next("3")})),
        )
        .mount(&s)
        .await;
    // The last page is empty but still has a next link (a known defect): stop there.
    Mock::given(path("/2.0/dup"))
        .and(query_param("c", "3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"values": [], "next": next("4")})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let items: Vec<Value> = api
        .all_pages(api.url(&["dup"]), &PageQuery::new(), uuid_of)
        .await
        .unwrap();
    let names: Vec<_> = items.iter().map(uuid_of).collect();
    assert_eq!(names, ["{r0}", "{r1}", "{r2}", "{r3}", "{r4}"]);
}

#[tokio::test]
async fn a_next_link_to_another_origin_gets_no_request() {
    let s = server().await;
    let elsewhere = server().await;
    Mock::given(path("/2.0/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"values": repos(0..1), "next": format!("{}/2.0/list?page=2", elsewhere.uri())}),
        ))
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let err = api
        .all_pages::<Value>(api.url(&["list"]), &PageQuery::new(), uuid_of)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::ForeignOrigin { .. }), "{err}");
    assert!(
        err.to_string().contains("refusing to send credentials"),
        "{err}"
    );
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "no request to the other origin"
    );
}

#[tokio::test]
async fn a_repeating_next_and_too_many_pages_stop_with_errors() {
    let s = server().await;
    let again = format!("{}/2.0/loop?c=same", s.uri());
    Mock::given(path("/2.0/loop"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"values": repos(0..1), "next": again})),
        )
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let err = api
        .all_pages::<Value>(api.url(&["loop"]), &PageQuery::new(), uuid_of)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::PageLoop { .. }), "{err}");
    assert!(s.received_requests().await.unwrap().len() <= 3);

    let s = server().await;
    let uri = s.uri();
    Mock::given(path("/2.0/endless"))
        .respond_with(move |r: &wiremock::Request| {
            let n: u32 = r.url.query_pairs().find(|(k, _)| k == "n").map_or(0, |(_, v)| v.parse().unwrap());
            ResponseTemplate::new(200).set_body_json(json!({"values": repos(n..n + 1), "next": format!("{uri}/2.0/endless?n={}", n + 1)}))
        })
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let err = api
        .all_pages::<Value>(api.url(&["endless"]), &PageQuery::new(), uuid_of)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::TooManyPages { max: 50 }), "{err}");
}

#[tokio::test]
async fn pagelen_is_dropped_when_refused() {
    let s = server().await;
    Mock::given(path("/2.0/capped"))
        .and(query_param("pagelen", "100"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"type": "error", "error": {"message": "Invalid pagelen"}})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(path("/2.0/capped"))
        .and(query_param_is_missing("pagelen"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"values": repos(0..2)})))
        .expect(1)
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let query = PageQuery::new().pagelen(100);
    let items: Vec<Value> = api
        .all_pages(api.url(&["capped"]), &query, uuid_of)
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn pages_stream_one_page_at_a_time() {
    use futures::TryStreamExt;
    let s = server().await;
    let next = |c: &str| format!("{}/2.0/s?c={c}", s.uri());
    Mock::given(path("/2.0/s"))
        .and(query_param_is_missing("c"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"values": repos(0..2), "next": next("b")})),
        )
        .mount(&s)
        .await;
    Mock::given(path("/2.0/s"))
        .and(query_param("c", "b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"values": repos(2..3)})))
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    let pages: Vec<Page<Value>> = api
        .pages(api.url(&["s"]), &PageQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.values.len()).collect::<Vec<_>>(),
        [2, 1]
    );
}
