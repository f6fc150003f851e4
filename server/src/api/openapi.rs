//! `GET /api/v1/openapi.json`: the JSON API described as OpenAPI 3.1, generated from
//! the code. Each handler carries its `#[utoipa::path]` and is routed through
//! `utoipa_axum::routes!` (see [`super::routes`]), so the router and the document are
//! built from the same declarations; the wire types describe themselves (the
//! `openapi` feature of `homelab-protocol` and `homelab-core`). This module adds what
//! no handler says: the title and version, the two ways to authenticate, and the
//! error answers routes list.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Response,
    ResponseBuilder, Tag,
};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use crate::http::ErrorBody;

/// The security scheme of `Authorization: Bearer <api token>`.
const API_TOKEN: &str = "api_token";
/// The security scheme of the dashboard's session cookie.
const SESSION: &str = "session";

/// The document every answer of [`openapi_json`] sends, made once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&super::document()).expect("an OpenAPI document serializes to JSON")
});

/// Makes the document now, so a fault in it stops the start-up rather than a request.
pub(super) fn prepare() {
    LazyLock::force(&DOCUMENT);
}

/// This document: every `/api/v1` route, its parameters, bodies and answers.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object),
        Always,
    ),
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// What the document says before the routes add their paths and schemas.
pub(super) fn base() -> OpenApi {
    let mut openapi = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("homelab-cmd JSON API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Automation over the same service layer as the dashboard: servers, \
                     their packages and settings, actions through the remediation engine, \
                     fleet runs, schedules and webhooks. Bodies are `application/json`; \
                     errors are `{\"code\", \"message\"}` with the matching status.",
                ))
                .license(Some(LicenseBuilder::new().name("MIT").build()))
                .build(),
        )
        .security(Some([
            SecurityRequirement::new(API_TOKEN, Vec::<String>::new()),
            SecurityRequirement::new(SESSION, Vec::<String>::new()),
        ]))
        .tags(Some(
            [
                (
                    "servers",
                    "Managed machines: their settings, packages and tags",
                ),
                ("tokens", "JSON API tokens"),
                (
                    "actions",
                    "The remediation engine: create, approve, reject, cancel",
                ),
                (
                    "runs",
                    "Fleet runs: one action kind over many servers, in batches",
                ),
                ("schedules", "Fleet runs started from a cron line"),
                ("webhooks", "Notifications"),
                ("meta", "This document and the Prometheus metrics"),
            ]
            .map(|(name, description)| {
                let mut tag = Tag::new(name);
                tag.description = Some(description.to_owned());
                tag
            }),
        ))
        .build();
    let components = openapi.components.get_or_insert_default();
    components.add_security_scheme(
        API_TOKEN,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token from `homelab-cmd api-token create NAME` or \
                     `POST /api/v1/tokens`",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::auth::COOKIE_NAME,
            "The dashboard's session; writes carried by it are accepted only from the \
             dashboard's own origin",
        ))),
    );
    let (name, schema) = (ErrorBody::name(), ErrorBody::schema());
    components.schemas.insert(name.into_owned(), schema);
    openapi
}

/// An error answer: the [`ErrorBody`] schema, with what the status means here.
fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .into()
}

/// Defines groups of error answers that routes list in their `responses(...)`.
macro_rules! error_responses {
    ($( $(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? } )+) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$( ($status.to_owned(), error($description)) ),+])
            }
        }
    )+};
}

error_responses! {
    /// What any route may answer.
    Always {
        "400" => "The request cannot be read: a path with dot segments, a path or query \
                  parameter that does not parse, a body that is not JSON",
        "401" => "No API token or session, or an unknown or revoked one",
        "500" => "Our fault, logged; the message says only \"internal error\"",
    }
    /// What a route that changes something may answer.
    Write {
        "403" => "A write carried by the session cookie from another origin",
    }
    /// What a route that reads a JSON body may answer.
    JsonBody {
        "413" => "The body is larger than the limit",
        "415" => "The body is not declared `Content-Type: application/json`",
        "422" => "JSON with a missing, unknown or refused field; the message names it",
    }
    /// A route about one thing that may not exist.
    NotFound {
        "404" => "No such thing: the message names what is missing",
    }
    /// A route whose request may clash with the current state.
    Conflict {
        "409" => "The current state does not allow it (`CONFLICT`); the message says why",
    }
    /// A route whose query or header may hold a refused value.
    Invalid {
        "422" => "A refused value; the message names the parameter",
    }
}
