//! `GET /api/v1/openapi.json`: the document names every `/api/v1` route and method
//! the router answers and no other, it is valid OpenAPI 3.1, and what the API really
//! answers fits the schemas it documents.

use std::collections::BTreeSet;

use axum::body::Body;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, test_router};

/// The methods probed on every path.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// The OpenAPI 3.1 schema (`tests/data/README.md` says where it comes from: the
/// OpenAPI Initiative's, Apache-2.0).
const OPENAPI_3_1_SCHEMA: &str = include_str!("../data/openapi-3.1-schema.json");

/// Each documented operation as (path, METHOD).
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                operations.insert((path.clone(), method.to_owned()));
            }
        }
    }
    operations
}

/// `path` with each `{parameter}` replaced by a value that names nothing.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "999999"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_is_served_as_json_to_callers_of_the_api_only() {
    let app = test_router().await;
    let answer = app.get_with_token("/api/v1/openapi.json").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), "application/json");
    let document = answer.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        document["components"]["securitySchemes"]["api_token"]["scheme"],
        "bearer"
    );
    assert_eq!(
        app.get_with_session("/api/v1/openapi.json").await.status,
        200
    );
    // Like every API route (DESIGN.md: "every ... API route needs a session or a
    // token").
    let stranger = app.get_anonymous("/api/v1/openapi.json").await;
    assert_eq!(stranger.status, 401);
    assert_eq!(stranger.json()["code"], "UNAUTHORIZED");
}

/// Every path the router routes is tried with every method: whatever does not answer
/// the API's 405 (or its 404 for unknown paths) is a route, and must be documented;
/// every documented operation must be such a route. So a route added without its
/// documentation fails here, and so does documentation of a route that is gone.
#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_answers() {
    let app = test_router().await;
    let document = app.get_with_token("/api/v1/openapi.json").await.json();
    let documented = operations(&document);
    let documented_paths: BTreeSet<String> =
        documented.iter().map(|(path, _)| path.clone()).collect();
    let routed: BTreeSet<String> = app
        .routed_paths()
        .into_iter()
        .filter(|path| path.starts_with("/api/v1/"))
        .collect();
    // The router's paths were found at all (see `routed_paths`).
    for known in ["/api/v1/servers", "/api/v1/actions/{id}/approve"] {
        assert!(routed.contains(known), "{known} not in {routed:?}");
    }

    let mut missing = Vec::new();
    let mut phantom = Vec::new();
    for path in routed.union(&documented_paths) {
        for method in METHODS {
            let request = app
                .request(method, &concrete(path))
                .header("authorization", format!("Bearer {}", app.api_token))
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let answer = app.send(request).await;
            let unknown_path = answer.status == 404
                && answer.json()["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no endpoint"));
            let exists = answer.status != 405 && !unknown_path;
            let operation = (path.clone(), method.to_owned());
            if exists && !documented.contains(&operation) {
                missing.push(format!("{method} {path} ({})", answer.status));
            }
            if !exists && documented.contains(&operation) {
                phantom.push(format!("{method} {path} ({})", answer.status));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes not in the document: {missing:?}"
    );
    assert!(
        phantom.is_empty(),
        "documented, but not routed: {phantom:?}"
    );
    // Beside the API, only `/metrics` is documented.
    let others: Vec<_> = documented_paths.difference(&routed).collect();
    assert_eq!(others, ["/metrics"]);
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_and_every_reference_resolves() {
    let app = test_router().await;
    let document = app.get_with_token("/api/v1/openapi.json").await.json();

    let schema: Value = serde_json::from_str(OPENAPI_3_1_SCHEMA).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the OpenAPI schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema does refuse what is not OpenAPI 3.1.
    for wrong in [
        json!({"openapi": "3.0.3", "info": document["info"], "paths": {}}),
        json!({"openapi": "3.1.0", "paths": {}}),
        json!({"openapi": "3.1.0", "info": document["info"], "paths": {"/x": {"get": {"responses": 1}}}}),
    ] {
        assert!(!validator.is_valid(&wrong), "{wrong}");
    }

    let operation_ids: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let unique: BTreeSet<&str> = operation_ids.iter().copied().collect();
    assert_eq!(unique.len(), operation_ids.len(), "{operation_ids:?}");

    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(references.len() > 50, "{references:?}");
    for reference in &references {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local"));
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} names nothing"
        );
    }

    // Descriptions come from doc comments: none may show readers a Rust link.
    let mut texts = Vec::new();
    collect_descriptions(&document, &mut texts);
    let rusty: Vec<&String> = texts.iter().filter(|t| t.contains("[`")).collect();
    assert!(rusty.is_empty(), "{rusty:#?}");

    // Each schema is itself a valid JSON Schema (2020-12, OpenAPI 3.1's dialect).
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        assert!(
            jsonschema::meta::is_valid(&schema_of(&document, schema)),
            "{name}: {schema}"
        );
    }
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => into.push(reference.clone()),
                    _ => collect_references(value, into),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|v| collect_references(v, into)),
        _ => {}
    }
}

fn collect_descriptions(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("description" | "summary", Value::String(text)) => into.push(text.clone()),
                    _ => collect_descriptions(value, into),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|v| collect_descriptions(v, into)),
        _ => {}
    }
}

/// `schema` as a JSON Schema of its own: 2020-12, with the document's components
/// beside it for its `$ref`s (`#/components/schemas/...`).
fn schema_of(document: &Value, schema: &Value) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": document["components"],
    })
}

/// Checks `body`, answered with `status` by `method path`, against the schema the
/// document gives for that answer.
fn assert_fits(document: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let response =
        &document["paths"][path][method.to_ascii_lowercase()]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path}: no JSON schema documented for {status}"
    );
    let validator = jsonschema::draft202012::new(&schema_of(document, schema))
        .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not fit its schema: {errors:#?}\n{body:#}"
    );
}

/// A heartbeat from a machine with a security update, an ordinary one and a held one.
fn heartbeat() -> Value {
    let package = |name: &str, security: Option<&str>, held: bool| {
        json!({
            "name": name, "current_version": "1:1.0-1", "new_version": "1:1.1-1+deb12u1",
            "repository": if security.is_some() { "bookworm-security" } else { "bookworm-updates" },
            "is_security": security.is_some(), "security_version": security,
            "held": held, "kept_back": false
        })
    };
    json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "hostname": "nas",
        "metrics": {"cpu_percent": 12.5, "memory_percent": 40.0, "disk_percent": 71.2,
                    "load_1": 0.5, "load_5": 0.4, "load_15": 0.3, "uptime_s": 86400},
        "reboot_required": true,
        "reboot_required_pkgs": ["linux-image-amd64"],
        "boot_id": "6f1d7c2e-8a41-4c1b-9a7e-2f5d3c4b1a00",
        "packages": [
            package("openssl", Some("1:1.1-1+deb12u1"), false),
            package("curl", None, false),
            package("libc6:amd64", None, false),
            package("nginx", None, true),
        ]
    })
}

/// Sends `method path` with the test's API token and `body`; checks the status.
async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
    let mut request = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(&app.api_token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let got = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
}

/// The test's server and the document it serves.
struct Checked {
    app: TestApp,
    document: Value,
}

impl Checked {
    /// Sends `method path` (the documented path is `route`) and checks that the answer
    /// has `status` and fits the schema documented for it; returns the answer.
    async fn answer(
        &self,
        method: &str,
        path: &str,
        route: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let answer = call(&self.app, method, path, body, status).await;
        assert_fits(&self.document, method, route, status, &answer);
        answer
    }
}

/// What the API answers, read back: servers, packages, actions, runs, schedules,
/// webhooks and errors each fit the schema documented for that answer, so the
/// schemas say what goes on the wire, not only something well-formed.
#[tokio::test]
async fn real_answers_fit_their_documented_schemas() {
    let app = spawn_app().await;
    let (status, document) = app.api_get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let api = Checked { app, document };

    let nas = json!({"id": "nas", "name": "NAS"});
    let added = api
        .answer("POST", "/api/v1/servers", "/api/v1/servers", Some(nas), 201)
        .await;
    let agent_token = added["agent_token"].as_str().unwrap();
    let (status, body) = api
        .app
        .post_json("/agent/v1/heartbeat", Some(agent_token), &heartbeat())
        .await;
    assert_eq!(status, 200, "{body}");
    api.app.add_server("web-01", "Web").await;

    let server = "/api/v1/servers/{id}";
    let tags = json!({"tags": ["lab", "nas"]});
    let tagged = "/api/v1/servers/{id}/tags";
    api.answer("PUT", "/api/v1/servers/nas/tags", tagged, Some(tags), 200)
        .await;
    api.answer("GET", "/api/v1/servers", "/api/v1/servers", None, 200)
        .await;
    let detail = api
        .answer("GET", "/api/v1/servers/nas", server, None, 200)
        .await;
    assert!(detail["metrics"].is_object() && detail["packages"]["total"] == 3);
    api.answer("GET", "/api/v1/servers/web-01", server, None, 200)
        .await;
    let packages = "/api/v1/servers/{id}/packages";
    api.answer("GET", "/api/v1/servers/nas/packages", packages, None, 200)
        .await;
    let paused = Some(json!({"paused": true}));
    let maintenance = "/api/v1/servers/{id}/maintenance";
    api.answer(
        "PUT",
        "/api/v1/servers/nas/maintenance",
        maintenance,
        paused,
        200,
    )
    .await;
    let ask = Some(json!({"approval_policy": "always_ask"}));
    let policy = "/api/v1/servers/{id}/approval-policy";
    api.answer(
        "PUT",
        "/api/v1/servers/nas/approval-policy",
        policy,
        ask,
        200,
    )
    .await;

    let (create, actions) = (
        "/api/v1/servers/{id}/actions",
        "/api/v1/servers/nas/actions",
    );
    let restart = json!({"action_type": "restart_service", "parameters": {"unit": "nginx"}});
    let restart = api
        .answer("POST", actions, create, Some(restart), 201)
        .await;
    let upgrade = json!({"action_type": "apt_upgrade_security"});
    let upgrade = api
        .answer("POST", actions, create, Some(upgrade), 201)
        .await;
    let duplicate = json!({"action_type": "apt_update"});
    let conflict = api
        .answer("POST", actions, create, Some(duplicate), 409)
        .await;
    assert_eq!(conflict["existing_action_id"], upgrade["id"]);
    let refused = json!({"action_type": "clear_logs", "parameters": {"vacuum_time": "forever"}});
    api.answer("POST", actions, create, Some(refused), 422)
        .await;
    let (restart, upgrade) = (&restart["id"], &upgrade["id"]);
    let action = |id: &Value, then: &str| format!("/api/v1/actions/{id}{then}");
    let reason = Some(json!({"reason": "not now"}));
    for (method, path, route, body, status) in [
        (
            "GET",
            action(upgrade, ""),
            "/api/v1/actions/{id}",
            None,
            200,
        ),
        (
            "POST",
            action(upgrade, "/preview"),
            "/api/v1/actions/{id}/preview",
            None,
            202,
        ),
        (
            "POST",
            action(restart, "/reject"),
            "/api/v1/actions/{id}/reject",
            reason,
            200,
        ),
        (
            "POST",
            action(restart, "/approve"),
            "/api/v1/actions/{id}/approve",
            None,
            409,
        ),
        (
            "POST",
            action(upgrade, "/cancel"),
            "/api/v1/actions/{id}/cancel",
            None,
            200,
        ),
        (
            "GET",
            action(restart, ""),
            "/api/v1/actions/{id}",
            None,
            200,
        ),
        (
            "GET",
            "/api/v1/actions/999999".to_owned(),
            "/api/v1/actions/{id}",
            None,
            404,
        ),
        (
            "GET",
            "/api/v1/actions/first".to_owned(),
            "/api/v1/actions/{id}",
            None,
            400,
        ),
        (
            "GET",
            "/api/v1/actions?limit=1".to_owned(),
            "/api/v1/actions",
            None,
            200,
        ),
        (
            "GET",
            "/api/v1/actions?status=sideways".to_owned(),
            "/api/v1/actions",
            None,
            422,
        ),
    ] {
        api.answer(method, &path, route, body, status).await;
    }

    let servers = "/api/v1/servers";
    let bad_id = json!({"id": "Not A Slug", "name": "x"});
    api.answer("POST", servers, servers, Some(bad_id), 422)
        .await;
    let again = json!({"id": "nas", "name": "again"});
    api.answer("POST", servers, servers, Some(again), 409).await;

    let runs = "/api/v1/runs";
    let run = json!({"action_type": "apt_update", "tag": "lab", "batch_size": 2});
    let run = api.answer("POST", runs, runs, Some(run), 201).await;
    let run = format!("/api/v1/runs/{}", run["id"]);
    api.answer("GET", runs, runs, None, 200).await;
    api.answer("GET", &run, "/api/v1/runs/{id}", None, 200)
        .await;
    let cancel = format!("{run}/cancel");
    api.answer("POST", &cancel, "/api/v1/runs/{id}/cancel", None, 200)
        .await;

    let schedules = "/api/v1/schedules";
    let nightly = json!({
        "name": "Nightly", "cron": "0 3 * * SUN", "timezone": "Europe/London",
        "action_type": "apt_upgrade_all", "servers": ["nas", "web-01"],
        "reboot_if_required": true
    });
    let schedule = api
        .answer("POST", schedules, schedules, Some(nightly), 201)
        .await;
    let weekly = json!({
        "name": "Weekly", "cron": "@weekly", "timezone": "UTC", "action_type": "clear_logs",
        "parameters": {"vacuum_time": "2d"}, "tag": "lab"
    });
    let schedule = format!("/api/v1/schedules/{}", schedule["id"]);
    let route = "/api/v1/schedules/{id}";
    api.answer("PUT", &schedule, route, Some(weekly), 200).await;
    api.answer("GET", schedules, schedules, None, 200).await;

    let webhooks = "/api/v1/webhooks";
    let phone = json!({
        "name": "Phone", "url": "https://ntfy.example/homelab-secret-topic", "format": "json",
        "events": ["action.failed", "run.finished"]
    });
    let webhook = api
        .answer("POST", webhooks, webhooks, Some(phone), 201)
        .await;
    let webhook = format!("/api/v1/webhooks/{}", webhook["id"]);
    let test = format!("{webhook}/test");
    api.answer("POST", &test, "/api/v1/webhooks/{id}/test", None, 202)
        .await;
    api.answer("GET", webhooks, webhooks, None, 200).await;
    api.answer("GET", &webhook, "/api/v1/webhooks/{id}", None, 200)
        .await;

    let tokens = "/api/v1/tokens";
    api.answer("POST", tokens, tokens, Some(json!({"name": "ci"})), 201)
        .await;
    api.answer("GET", tokens, tokens, None, 200).await;
    let rotate = "/api/v1/servers/{id}/agent-token";
    api.answer(
        "POST",
        "/api/v1/servers/web-01/agent-token",
        rotate,
        None,
        200,
    )
    .await;

    // A body that is not declared JSON is refused in the documented shape too.
    let response = api
        .app
        .client
        .post(api.app.url(tokens))
        .bearer_auth(&api.app.api_token)
        .header("content-type", "text/plain")
        .body("name=ci")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await.unwrap();
    assert_fits(&api.document, "POST", tokens, 415, &body);
}
