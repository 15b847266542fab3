use gemnasium_bitbucket::api::{ApiError, PageQuery};
use gemnasium_bitbucket::sync::{RemoteError, RemoteErrorKind};
use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use super::support::{client, client_with, config, server, TOKEN};

async fn fetch(body: ResponseTemplate) -> ApiError {
    let s = server().await;
    Mock::given(path("/2.0/x"))
        .respond_with(body)
        .mount(&s)
        .await;
    let mut cfg = config(&s);
    cfg.max_body = 4096;
    let (api, _) = client_with(cfg);
    let err = api
        .get_json::<Vec<Value>>(api.url(&["x"]))
        .await
        .unwrap_err();
    assert!(
        !format!("{err} {err:?}").contains(TOKEN),
        "token leaked: {err:?}"
    );
    err
}

#[tokio::test]
async fn missing_scopes_name_granted_required_and_the_boxes() {
    let err = fetch(
        ResponseTemplate::new(403).set_body_json(json!({"type": "error", "error": {
        "message": "Your credentials lack one or more required privilege scopes.",
        "detail": {"granted": ["repository", "webhook"], "required": ["account"]}}})),
    )
    .await;
    let text = err.to_string();
    match &err {
        ApiError::MissingScopes { required, granted } => {
            assert_eq!(required, &["account"]);
            assert_eq!(granted, &["repository", "webhook"]);
        }
        other => panic!("expected MissingScopes, got {other:?}"),
    }
    assert!(
        text.contains("required account; granted repository webhook")
            && text.contains("consumer permissions to tick: Account: Read"),
        "{text}"
    );
    assert_eq!(err.missing_boxes(), ["Account: Read"]);
    assert_eq!(RemoteError::from(err).kind, RemoteErrorKind::MissingScopes);

    let err = fetch(
        ResponseTemplate::new(403)
            .set_body_json(json!({"type": "error", "error": {"message": "You must be an admin"}})),
    )
    .await;
    assert!(matches!(err, ApiError::Forbidden { .. }), "{err}");
    assert!(err.to_string().contains("You must be an admin"), "{err}");
    assert_eq!(
        RemoteError::from(err).kind,
        RemoteErrorKind::PermissionDenied
    );
}

#[tokio::test]
async fn retired_endpoints_say_so() {
    let err = fetch(ResponseTemplate::new(410).set_body_json(json!({"type": "error", "error": {
        "message": "CHANGE-2770 - Functionality has been deprecated",
        "detail": "Please read the changelog entry for more details.",
        "data": {"announcement_url": "https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770"}}}))).await;
    let text = err.to_string();
    assert!(matches!(err, ApiError::Retired { .. }), "{text}");
    assert!(
        text.contains("retired")
            && text.contains("CHANGE-2770")
            && text.contains("changelog#CHANGE-2770"),
        "{text}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors_with_an_excerpt() {
    let html = fetch(ResponseTemplate::new(200).set_body_raw(
        "<html><body>Maintenance\n\twindow</body></html>",
        "text/html",
    ))
    .await;
    assert!(
        matches!(html, ApiError::Malformed { status: 200, .. }),
        "{html}"
    );
    assert!(
        html.to_string().contains("text/html") && html.to_string().contains("Maintenance window"),
        "{html}"
    );

    let truncated =
        fetch(ResponseTemplate::new(200).set_body_raw(r#"[{"uuid": "{a}"#, "application/json"))
            .await;
    assert!(
        matches!(truncated, ApiError::Malformed { .. }),
        "{truncated}"
    );

    let wrong = fetch(ResponseTemplate::new(200).set_body_json(json!({"values": 5}))).await;
    assert!(matches!(wrong, ApiError::Malformed { .. }), "{wrong}");

    let huge =
        fetch(ResponseTemplate::new(200).set_body_raw("x".repeat(10_000), "application/json"))
            .await;
    assert!(matches!(huge, ApiError::TooLarge { limit: 4096 }), "{huge}");

    let not_found = fetch(ResponseTemplate::new(404).set_body_json(
        json!({"type": "error", "error": {"message": "No workspace with identifier 'x'."}}),
    ))
    .await;
    assert!(
        matches!(not_found, ApiError::NotFound { .. }),
        "{not_found}"
    );
    assert_eq!(RemoteError::from(not_found).kind, RemoteErrorKind::NotFound);
}

#[tokio::test]
async fn wrong_types_in_a_page() {
    let s = server().await;
    Mock::given(path("/2.0/p"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"values": [{"uuid": 5}]})))
        .mount(&s)
        .await;
    let (api, _) = client(&s);
    #[derive(serde::Deserialize)]
    struct Item {
        #[allow(dead_code)]
        uuid: String,
    }
    let err = api
        .all_pages::<Item>(api.url(&["p"]), &PageQuery::new(), |i| i.uuid.clone())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ApiError::Malformed { .. }), "{err}");
}
