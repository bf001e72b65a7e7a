//! The audit log, readable: names instead of ids (the id on hover and on
//! the person's page), actions in words, times in the viewer's zone. A
//! search by name or e-mail address is posted, resolved here to account
//! ids, and only the ids go into the address bar. Views of the log itself
//! are folded to one an hour per viewer and hidden unless asked for.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use kiteline_core::EmailAddress;
use kiteline_core::audit::ChainedEntry;
use kiteline_store::{Action, AuditFilter, Id, User};
use kiteline_templates::Tr;
use kiteline_templates::pages::{AuditPage, AuditRow, FieldError, Link};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::format;
use crate::routes::html;
use crate::security::{Admin, Page};

/// Who is who, for naming actors and objects.
pub struct Names {
    users: HashMap<String, String>,
    chapters: HashMap<String, String>,
}

impl Names {
    pub async fn load(state: &AppState) -> Result<Names, AppError> {
        let users = state.store.list_users().await?.into_iter().map(|u| (u.id.to_string(), u.name)).collect();
        let chapters = state.store.chapters().await?.into_iter().map(|c| (c.id.to_string(), c.name)).collect();
        Ok(Names { users, chapters })
    }

    pub fn user(&self, id: &str) -> Option<&str> {
        self.users.get(id).map(String::as_str)
    }
}

/// Entries as rows: who by name, what in words, when in `zone`.
pub fn rows(entries: Vec<ChainedEntry>, names: &Names, zone: &TimeZone, tr: Tr) -> Vec<AuditRow> {
    entries
        .into_iter()
        .map(|e| {
            let at = Timestamp::from_microsecond(e.at_micros).unwrap_or(Timestamp::UNIX_EPOCH);
            let actor = (!e.actor.is_empty()).then(|| {
                let label = names.user(&e.actor).map_or_else(|| tr.t("audit-object-user"), str::to_owned);
                Link::new(format!("/admin/users/{}", e.actor), label)
            });
            let (object, object_href) = match e.object_type.as_str() {
                "user" => match names.user(&e.object_id) {
                    Some(n) => (n.to_owned(), Some(format!("/admin/users/{}", e.object_id))),
                    None => (format::object_type(tr, "user"), None),
                },
                "chapter" => match names.chapters.get(&e.object_id) {
                    Some(n) => (n.clone(), Some("/admin/chapters".to_owned())),
                    None => (format::object_type(tr, "chapter"), None),
                },
                other => (format::object_type(tr, other), None),
            };
            AuditRow {
                seq: e.seq,
                at: format::moment(at, zone, tr),
                actor,
                actor_id: e.actor,
                action: format::action(tr, &e.action),
                action_code: e.action,
                object,
                object_href,
                object_id: e.object_id,
            }
        })
        .collect()
}

/// The newest entries by or about `people` (all if empty), views left out.
pub async fn recent(
    state: &AppState,
    people: Vec<String>,
    limit: u32,
    viewer: &User,
    tr: Tr,
) -> Result<Vec<AuditRow>, AppError> {
    let filter = AuditFilter { people, hide_views: true, limit, ..AuditFilter::default() };
    let entries = state.store.audit_entries(&filter).await?;
    let names = Names::load(state).await?;
    Ok(rows(entries, &names, &format::zone_of(viewer), tr))
}

const PAGE: u32 = 50;

/// The filters, as the address bar carries them: ids and dates only.
#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    /// Account ids, comma-separated.
    #[serde(default)]
    people: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    views: String,
    before: Option<i64>,
}

impl AuditQuery {
    fn query_string(&self, before: Option<i64>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("people", &self.people),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
            ("views", &self.views),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some(b) = before {
            q.append_pair("before", &b.to_string());
        }
        q.finish()
    }

    fn is_filtered(&self) -> bool {
        !(self.people.is_empty()
            && self.action.is_empty()
            && self.since.is_empty()
            && self.until.is_empty()
            && self.views.is_empty())
    }
}

/// What the search form posts: the person as typed.
#[derive(Deserialize, Default)]
pub struct AuditSearch {
    #[serde(default)]
    person: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    views: String,
}

/// A day (`2026-11-21`) as the start of that day in `zone`.
fn day(s: &str, zone: &TimeZone) -> Result<Option<Timestamp>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let date: jiff::civil::Date = s.parse().map_err(|_| ())?;
    date.to_zoned(zone.clone()).map(|z| Some(z.timestamp())).map_err(|_| ())
}

/// Checks the dates, each error naming its field; From after Until is one too.
fn dates(since: &str, until: &str, zone: &TimeZone, tr: Tr) -> (Option<Timestamp>, Option<Timestamp>, Vec<FieldError>) {
    let mut errors = Vec::new();
    let since_t = day(since, zone).unwrap_or_else(|_| {
        errors.push(FieldError { field: "since", message: tr.t("error-date-since") });
        None
    });
    let until_t = day(until, zone).unwrap_or_else(|_| {
        errors.push(FieldError { field: "until", message: tr.t("error-date-until") });
        None
    });
    if let (Some(a), Some(b)) = (since_t, until_t)
        && a > b
    {
        errors.push(FieldError { field: "since", message: tr.t("error-date-order") });
    }
    // Until is inclusive: the whole of that day.
    (since_t, until_t.map(|u| u + SignedDuration::from_hours(24)), errors)
}

/// The people a search names: a full e-mail address, or part of a name
/// (any case). Only accounts the viewer could see; here, admins see all.
fn find_people(users: &[User], needle: &str) -> Vec<Id> {
    let needle = needle.trim();
    if let Some(email) = EmailAddress::parse(needle) {
        return users.iter().filter(|u| u.email == email.as_str()).map(|u| u.id.clone()).collect();
    }
    let lower = needle.to_lowercase();
    users.iter().filter(|u| u.name.to_lowercase().contains(&lower)).map(|u| u.id.clone()).collect()
}

fn actions(tr: Tr, selected: &str) -> Vec<(&'static str, String, bool)> {
    let mut list: Vec<_> =
        Action::ALL.iter().map(|a| (a.as_str(), format::action(tr, a.as_str()), a.as_str() == selected)).collect();
    list.sort_by(|a, b| a.1.cmp(&b.1));
    list
}

struct Shown {
    person: String,
    query: AuditQuery,
}

async fn page(
    state: &AppState,
    c: kiteline_templates::pages::Chrome,
    me: &User,
    shown: Shown,
    mut errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(me);
    let q = &shown.query;
    let (since, until, date_errors) = dates(&q.since, &q.until, &zone, tr);
    errors.extend(date_errors);
    let people: Vec<String> = q.people.split(',').filter(|p| Id::parse(p).is_some()).map(str::to_owned).collect();
    let action = Action::ALL.iter().find(|a| a.as_str() == q.action).map(|a| a.as_str().to_owned());
    let filter = AuditFilter {
        action,
        since,
        until,
        before_seq: q.before,
        people: people.clone(),
        hide_views: q.views != "on",
        limit: PAGE,
        ..AuditFilter::default()
    };
    let entries = if errors.is_empty() { state.store.audit_entries(&filter).await? } else { vec![] };
    // Looking is itself audited, at most once an hour per viewer.
    state.store.record_audit_view(&me.id, Timestamp::now()).await?;
    let next_href = (entries.len() as u32 == PAGE)
        .then(|| format!("/admin/audit?{}", q.query_string(entries.last().map(|e| e.seq))));
    let names = Names::load(state).await?;
    let people_links = people
        .iter()
        .map(|id| Link::new(format!("/admin/users/{id}"), names.user(id).unwrap_or(id).to_owned()))
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        AuditPage {
            entries: rows(entries, &names, &zone, tr),
            actions: actions(tr, &q.action),
            f_person: shown.person,
            people: people_links,
            f_since: q.since.clone(),
            f_until: q.until.clone(),
            f_views: q.views == "on",
            zone: format::zone_name(&zone),
            next_href,
            filtered: q.is_filtered(),
            errors,
            c,
        },
    )
}

pub async fn list(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    page(&state, c, &me.user, Shown { person: String::new(), query: q }, vec![]).await
}

/// The search form: resolves the person typed to account ids and sends
/// the browser to the list with only ids and dates in its address.
pub async fn find(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Form(form): Form<AuditSearch>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(&me.user);
    let mut errors = Vec::new();
    let people = if form.person.trim().is_empty() {
        vec![]
    } else {
        let found = find_people(&state.store.list_users().await?, &form.person);
        if found.is_empty() {
            errors.push(FieldError { field: "person", message: tr.t("error-person-unknown") });
        }
        found
    };
    let query = AuditQuery {
        people: people.iter().map(Id::to_string).collect::<Vec<_>>().join(","),
        action: form.action,
        since: form.since.trim().to_owned(),
        until: form.until.trim().to_owned(),
        views: if form.views == "on" { "on".into() } else { String::new() },
        before: None,
    };
    errors.extend(dates(&query.since, &query.until, &zone, tr).2);
    if !errors.is_empty() {
        // Shown again with what was typed, each problem at its field.
        let shown = Shown { person: form.person.trim().to_owned(), query };
        let errors_only: Vec<FieldError> = errors.into_iter().filter(|e| e.field == "person").collect();
        return page(&state, c, &me.user, shown, errors_only).await;
    }
    let qs = query.query_string(None);
    let to = if qs.is_empty() { "/admin/audit".to_owned() } else { format!("/admin/audit?{qs}") };
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_per_field_and_in_order() {
        let tr = Tr::new(kiteline_templates::Lang::En);
        let utc = TimeZone::UTC;
        let (_, _, e) = dates("2026-13-01", "soon", &utc, tr);
        assert_eq!(e.iter().map(|e| e.field).collect::<Vec<_>>(), ["since", "until"]);
        assert_ne!(e[0].message, e[1].message, "each message names its field");
        let (_, _, e) = dates("2026-11-22", "2026-11-21", &utc, tr);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, tr.t("error-date-order"));
        let (a, b, e) = dates("2026-11-21", "2026-11-21", &utc, tr);
        assert!(e.is_empty());
        assert_eq!(b.unwrap().duration_since(a.unwrap()), SignedDuration::from_hours(24), "until covers its whole day");
    }
}
