//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every `/api/v1`
//! route. A test fails when a route in the route table is missing here, and
//! schemathesis (run by the test suite in CI) checks every answer against it.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn string_list() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn schemas() -> Value {
    let user = object(
        &["id", "email", "name", "role", "chapter_id", "pronouns", "time_zone", "disabled"],
        json!({
            "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": "string" },
            "role": { "enum": ["volunteer", "coordinator", "admin"] }, "chapter_id": nullable("string"),
            "pronouns": { "type": "string" }, "time_zone": { "type": "string" }, "disabled": { "type": "boolean" }
        }),
    );
    let application_props = json!({
        "id": { "type": "string" }, "name": { "type": "string" }, "email": { "type": "string" },
        "pronouns": { "type": "string" }, "time_zone": { "type": "string" }, "languages": string_list(),
        "chapter_id": nullable("string"), "heard_from": { "type": "string" }, "availability": string_list(),
        "locale": { "type": "string" }, "status": { "enum": ["new", "waitlisted", "accepted", "declined"] },
        "submissions": { "type": "integer" }, "user_id": nullable("string"), "created_at": { "type": "string" }
    });
    let application_required = [
        "id",
        "name",
        "email",
        "pronouns",
        "time_zone",
        "languages",
        "chapter_id",
        "heard_from",
        "availability",
        "locale",
        "status",
        "submissions",
        "user_id",
        "created_at",
    ];
    let mut detail_props = application_props.clone();
    detail_props["phone"] = json!({ "type": "string" });
    detail_props["why"] = json!({ "type": "string" });
    detail_props["decisions"] = json!({ "type": "array", "items": object(&["decision", "decided_by", "at"], json!({
        "decision": { "enum": ["waitlisted", "accepted", "declined"] }, "decided_by": { "type": "string" }, "at": { "type": "string" }
    })) });
    let mut detail_required: Vec<&str> = application_required.to_vec();
    detail_required.extend(["phone", "why", "decisions"]);
    let gap = object(
        &["module_id", "title", "expired_on"],
        json!({
            "module_id": { "type": "string" }, "title": { "type": "string" }, "expired_on": nullable("string")
        }),
    );
    let volunteer_props = json!({
        "id": { "type": "string" }, "name": { "type": "string" }, "email": { "type": "string" },
        "status": { "enum": ["applicant", "in_training", "cleared", "paused", "alumni"] },
        "cleared": { "type": "boolean" },
        "not_cleared_because": { "enum": ["account_inactive", "paused", "alumni", "training", null] },
        "missing": { "type": "array", "items": gap }, "chapter_id": nullable("string"),
        "languages": string_list(), "time_zone": { "type": "string" }
    });
    let volunteer_required = [
        "id",
        "name",
        "email",
        "status",
        "cleared",
        "not_cleared_because",
        "missing",
        "chapter_id",
        "languages",
        "time_zone",
    ];
    let qualification = object(
        &["id", "module_id", "starts_on", "expires_on", "source", "session_id"],
        json!({
            "id": { "type": "string" }, "module_id": { "type": "string" }, "starts_on": { "type": "string" },
            "expires_on": nullable("string"), "source": { "enum": ["session", "shadow_shift", "sign_off"] },
            "session_id": nullable("string")
        }),
    );
    let mut volunteer_detail_props = volunteer_props.clone();
    volunteer_detail_props["qualifications"] = json!({ "type": "array", "items": qualification.clone() });
    let mut volunteer_detail_required = volunteer_required.to_vec();
    volunteer_detail_required.push("qualifications");
    let module = object(
        &[
            "id",
            "title_en",
            "title_es",
            "description_en",
            "description_es",
            "position",
            "required",
            "completion",
            "validity_months",
            "renewal_window_days",
            "retired",
        ],
        json!({
            "id": { "type": "string" }, "title_en": { "type": "string" }, "title_es": { "type": "string" },
            "description_en": { "type": "string" }, "description_es": { "type": "string" },
            "position": { "type": "integer" }, "required": { "type": "boolean" },
            "completion": { "enum": ["session", "shadow_shift", "sign_off"] },
            "validity_months": nullable("integer"), "renewal_window_days": { "type": "integer" },
            "retired": { "type": "boolean" }
        }),
    );
    let session_props = json!({
        "id": { "type": "string" }, "module_id": { "type": "string" }, "starts_at": { "type": "string" },
        "ends_at": { "type": "string" }, "time_zone": { "type": "string" }, "capacity": { "type": "integer" },
        "signed_up": { "type": "integer" }, "trainer_id": nullable("string")
    });
    let session_required =
        ["id", "module_id", "starts_at", "ends_at", "time_zone", "capacity", "signed_up", "trainer_id"];
    let mut session_detail_props = session_props.clone();
    session_detail_props["signups"] = json!({ "type": "array", "items": object(&["user_id", "attended", "signed_up_at"], json!({
        "user_id": { "type": "string" }, "attended": nullable("boolean"), "signed_up_at": { "type": "string" }
    })) });
    json!({
        "Error": object(&["error"], json!({ "error": { "type": "string" } })),
        "InvalidInput": object(&["error", "fields"], json!({
            "error": { "type": "string" },
            "fields": { "type": "object", "additionalProperties": { "type": "string" } }
        })),
        "User": user,
        "Application": object(&application_required, application_props),
        "ApplicationDetail": object(&detail_required, detail_props),
        "Volunteer": object(&volunteer_required, volunteer_props),
        "VolunteerDetail": object(&volunteer_detail_required, volunteer_detail_props),
        "Qualification": qualification,
        "Module": module,
        "Session": object(&session_required, session_props),
        "SessionDetail": object(&session_required, session_detail_props),
    })
}

/// An operation: summary, the scope it needs, its request body (if any),
/// its success status and schema, and which error statuses it can answer.
fn operation(
    summary: &str,
    id: &str,
    params: &[&str],
    body: Option<Value>,
    ok: (&str, Value),
    errors: &[&str],
) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(
        ok.0.to_owned(),
        json!({ "description": "success", "content": { "application/json": { "schema": ok.1 } } }),
    );
    for e in errors {
        let schema = if *e == "422" { reference("InvalidInput") } else { reference("Error") };
        let description = match *e {
            "400" => "the request is malformed",
            "401" => "no valid bearer token",
            "403" => "the token's scope or its owner's role does not allow this",
            "404" => "no such object in the caller's scope",
            "409" => "the object cannot take this change now",
            "422" => "invalid values, by field",
            _ => "error",
        };
        responses.insert(
            (*e).to_owned(),
            json!({ "description": description, "content": { "application/json": { "schema": schema } } }),
        );
    }
    let mut op = json!({
        "summary": summary,
        "operationId": id,
        "security": [{ "bearer": [] }],
        "responses": responses,
    });
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if id == "listApplications" {
        parameters.push(json!({ "name": "status", "in": "query", "required": false, "schema": { "enum": ["new", "waitlisted", "accepted", "declined"] } }));
    }
    if !parameters.is_empty() {
        op["parameters"] = json!(parameters);
    }
    if let Some(b) = body {
        op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": b } } });
    }
    op
}

fn list_of(key: &str, item: &str) -> Value {
    object(&[key], json!({ key: { "type": "array", "items": reference(item) } }))
}

/// The whole document.
pub fn spec() -> Value {
    let read = ["401", "403"];
    let read_one = ["401", "403", "404"];
    let write = ["400", "401", "403", "404", "422"];
    let decision_body = object(
        &["decision"],
        json!({
            "decision": { "enum": ["accepted", "waitlisted", "declined"] },
            "note": { "type": "string", "maxLength": 2000 }
        }),
    );
    let grant_body = object(
        &["module_id", "completed_on"],
        json!({
            "module_id": { "type": "string" }, "completed_on": { "type": "string", "format": "date" }
        }),
    );
    let session_body = object(
        &["module_id", "starts_at", "ends_at", "time_zone", "capacity"],
        json!({
            "module_id": { "type": "string" }, "starts_at": { "type": "string", "format": "date-time" },
            "ends_at": { "type": "string", "format": "date-time" }, "time_zone": { "type": "string" },
            "capacity": { "type": "integer", "minimum": 1, "maximum": 500 },
            "video_link": { "type": "string" }, "trainer_id": { "type": "string" }
        }),
    );
    let attendance_body = object(
        &["marks"],
        json!({
            "marks": { "type": "array", "items": object(&["user_id", "present"], json!({
                "user_id": { "type": "string" }, "present": { "type": "boolean" }
            })) }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kiteline API",
            "version": kiteline_templates::VERSION,
            "description": "Bearer tokens (`Authorization: Bearer kl_…`) scoped read, write or admin; the same rules as the web pages."
        },
        "servers": [{ "url": "/" }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas()
        },
        "paths": {
            "/api/v1/openapi.json": { "get": {
                "summary": "This document", "operationId": "openapi", "security": [],
                "responses": { "200": { "description": "the OpenAPI document", "content": { "application/json": { "schema": { "type": "object" } } } } }
            } },
            "/api/v1/me": { "get": operation("The token's owner", "me", &[], None, ("200", reference("User")), &read) },
            "/api/v1/me/logout-everywhere": { "post": operation(
                "End every session of the token's owner", "logoutEverywhere", &[], None,
                ("200", object(&["ended"], json!({ "ended": { "type": "integer" } }))), &read) },
            "/api/v1/users": { "get": operation("Every account (admin)", "listUsers", &[], None, ("200", list_of("users", "User")), &read) },
            "/api/v1/applications": { "get": operation(
                "Applications in the caller's scope, oldest first", "listApplications", &[], None,
                ("200", list_of("applications", "Application")), &["400", "401", "403", "422"]) },
            "/api/v1/applications/{id}": { "get": operation(
                "One application, with its answers and decisions", "getApplication", &["id"], None,
                ("200", reference("ApplicationDetail")), &read_one) },
            "/api/v1/applications/{id}/decision": { "post": operation(
                "Accept, waitlist or decline an application", "decideApplication", &["id"], Some(decision_body),
                ("200", object(&["id", "status"], json!({ "id": { "type": "string" }, "status": { "type": "string" } }))),
                &["400", "401", "403", "404", "409", "422"]) },
            "/api/v1/volunteers": { "get": operation(
                "Volunteers in the caller's scope, with status and clearance", "listVolunteers", &[], None,
                ("200", list_of("volunteers", "Volunteer")), &read) },
            "/api/v1/volunteers/{id}": { "get": operation(
                "One volunteer, with their qualifications (audited)", "getVolunteer", &["id"], None,
                ("200", reference("VolunteerDetail")), &read_one) },
            "/api/v1/volunteers/{id}/qualifications": { "post": operation(
                "Record a coordinator's sign-off of a module", "grantQualification", &["id"], Some(grant_body),
                ("201", object(&["user_id", "module_id"], json!({ "user_id": { "type": "string" }, "module_id": { "type": "string" } }))),
                &write) },
            "/api/v1/training/modules": { "get": operation(
                "The training series", "listModules", &[], None, ("200", list_of("modules", "Module")), &read) },
            "/api/v1/training/sessions": {
                "get": operation("Sessions that have not ended", "listSessions", &[], None, ("200", list_of("sessions", "Session")), &read),
                "post": operation("Schedule a session", "scheduleSession", &[], Some(session_body),
                    ("201", object(&["id"], json!({ "id": { "type": "string" } }))), &["400", "401", "403", "422"])
            },
            "/api/v1/training/sessions/{id}": { "get": operation(
                "One session; its sign-ups for its trainer and coordinators", "getSession", &["id"], None,
                ("200", reference("SessionDetail")), &read_one) },
            "/api/v1/training/sessions/{id}/attendance": { "post": operation(
                "Mark who attended (the trainer or a coordinator)", "markAttendance", &["id"], Some(attendance_body),
                ("200", object(&["id", "marked"], json!({ "id": { "type": "string" }, "marked": { "type": "boolean" } }))), &write) }
        }
    })
}

pub async fn document() -> Response {
    Json(spec()).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_api_route_is_in_the_document() {
        let spec = super::spec();
        for (method, path) in crate::routes() {
            if !path.starts_with("/api/") {
                continue;
            }
            let op = &spec["paths"][path][method.to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} is missing from openapi.json");
        }
        let documented: usize = spec["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        let routed = crate::routes().iter().filter(|(_, p)| p.starts_with("/api/")).count();
        assert_eq!(documented, routed, "the document describes only routes that exist");
    }
}
