//! The home page: the organization's public face for visitors, and for a
//! signed-in person what needs doing now. Volunteers see their next steps;
//! coordinators and admins also see their people, the invitations not yet
//! accepted, and (admins) recent activity. Later areas add their cards.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kiteline_core::Role;
use kiteline_templates::Tr;
use kiteline_templates::pages::{Card, DashboardPage, HomePage, Link, TrainingCard};

use crate::AppState;
use crate::error::AppError;
use crate::format;
use crate::routes::html;
use crate::security::{Auth, Page, Stage};

/// How many unaccepted invitations the dashboard lists.
const PENDING_SHOWN: usize = 6;

pub async fn home(
    State(state): State<AppState>,
    Page(c): Page,
    axum::Extension(auth): axum::Extension<Auth>,
) -> Result<Response, AppError> {
    let s = match auth {
        Auth::Anonymous => return html(StatusCode::OK, HomePage { c }),
        Auth::Signed(s) => s,
    };
    match s.stage {
        Stage::NeedsCode => return Ok(Redirect::to("/login/2fa").into_response()),
        Stage::NeedsEnrolment => return Ok(Redirect::to("/account/2fa").into_response()),
        Stage::Full => {}
    }
    let tr = c.tr;
    let user = &s.user;
    let staff = user.role >= Role::Coordinator;
    let admin = user.role == Role::Admin;
    let mut next_steps = Vec::new();
    if state.store.user_phone(&user.id).await?.is_none() {
        next_steps.push(Link::new("/account#phone", tr.t("dashboard-step-phone")));
    }
    if !user.totp_enabled {
        next_steps.push(Link::new("/account/2fa", tr.t("dashboard-step-2fa")));
    }
    let (mut counts, mut pending) = (Vec::new(), Vec::new());
    if staff {
        let people = crate::people::visible(&state, &s.user).await?;
        let zone = format::zone_of(user);
        let count = |f: &dyn Fn(&kiteline_store::User) -> bool| people.iter().filter(|u| f(u)).count();
        counts = vec![
            (
                tr.t("dashboard-count-active"),
                count(&|u| u.has_password && u.disabled_at.is_none()),
                "/admin/users?status=active".to_owned(),
            ),
            (
                tr.t("dashboard-count-invited"),
                count(&|u| !u.has_password && u.disabled_at.is_none()),
                "/admin/users?status=invited".to_owned(),
            ),
            (
                tr.t("dashboard-count-disabled"),
                count(&|u| u.disabled_at.is_some()),
                "/admin/users?status=disabled".to_owned(),
            ),
        ];
        let mut waiting: Vec<_> = people.iter().filter(|u| !u.has_password && u.disabled_at.is_none()).collect();
        waiting.sort_by_key(|u| std::cmp::Reverse(u.created_at));
        pending = waiting
            .into_iter()
            .take(PENDING_SHOWN)
            .map(|u| Card {
                title: u.name.clone(),
                href: Some(format!("/admin/users/{}", u.id)),
                meta: format!(
                    "{} · {} {}",
                    format::role(tr, u.role),
                    tr.t("person-invited-on"),
                    format::moment(u.created_at, &zone, tr).text
                ),
                tags: vec![format::account_status(tr, u)],
            })
            .collect();
        if people.len() <= 1 {
            next_steps.push(Link::new("/admin/users#invite", tr.t("dashboard-step-invite")));
        }
    }
    let mut recent = Vec::new();
    if admin {
        if state.store.chapters().await?.is_empty() {
            next_steps.push(Link::new("/admin/chapters", tr.t("dashboard-step-chapter")));
        }
        let profile = state.store.org_profile().await?;
        if profile.name.is_empty() && profile.description_en.is_empty() && profile.description_es.is_empty() {
            next_steps.push(Link::new("/admin/settings", tr.t("dashboard-step-profile")));
        }
        recent = crate::audit_log::recent(&state, vec![], 8, user, tr).await?;
    }
    let training = if user.role == Role::Volunteer { Some(training_card(&state, user, tr).await?) } else { None };
    html(
        StatusCode::OK,
        DashboardPage {
            training,
            name: user.name.clone(),
            banner: None,
            next_steps,
            staff,
            admin,
            counts,
            pending,
            recent,
            mail_sent: state.config.mail_sent,
            c,
        },
    )
}

/// A volunteer's training: cleared or why not, the next step (their next
/// session, or the next module to sign up for), and what they hold.
async fn training_card(state: &AppState, user: &kiteline_store::User, tr: Tr) -> Result<TrainingCard, AppError> {
    let lang = tr.lang().code();
    let now = Timestamp::now();
    let zone = format::zone_of(user);
    let today = crate::clearance::today_for(user, now);
    let modules = state.store.modules().await?;
    let held = state.store.qualifications_of(&user.id).await?;
    let standing = state.store.standing(&user.id).await?;
    let clearance = crate::clearance::evaluate(user, standing, &modules, &held, today, lang);
    let mine: Vec<_> = state.store.signups_of(&user.id).await?.into_iter().map(|s| s.session_id).collect();
    let upcoming = state.store.sessions_from(now).await?;
    let title = |id: &kiteline_store::Id| {
        modules.iter().find(|m| &m.id == id).map(|m| m.title(lang).to_owned()).unwrap_or_default()
    };
    let (next, next_text) = if let Some(s) = upcoming.iter().find(|s| mine.contains(&s.id) && s.starts_at > now) {
        let when = format::moment(s.starts_at, &zone, tr).text;
        (
            Some(Link::new(format!("/training/sessions/{}", s.id), tr.t("nav-training"))),
            tr.t_with("dashboard-next-session", &[("module", &title(&s.module_id)), ("when", &when)]),
        )
    } else if let Some(m) = modules
        .iter()
        .filter(|m| m.required && !m.retired)
        .find(|m| !held.iter().any(|q| q.module_id == m.id && q.held().valid_on(today)))
    {
        (
            Some(Link::new("/training#sessions", tr.t("dashboard-find-session"))),
            tr.t_with("dashboard-next-module", &[("module", m.title(lang))]),
        )
    } else {
        (None, String::new())
    };
    let held_rows = modules
        .iter()
        .filter_map(|m| {
            // The longest-lasting valid one: forever (no expiry) beats any date.
            let best = held
                .iter()
                .filter(|q| q.module_id == m.id && q.held().valid_on(today))
                .max_by_key(|q| q.expires_on.map_or((1, jiff::civil::Date::MIN), |d| (0, d)))?;
            let until = best.expires_on.map_or_else(
                || tr.t("module-forever"),
                |d| tr.t_with("qualification-until", &[("date", &d.to_string())]),
            );
            Some((m.title(lang).to_owned(), until))
        })
        .collect();
    Ok(TrainingCard {
        cleared: crate::clearance::tag(tr, &clearance),
        reasons: crate::clearance::reasons(tr, &clearance),
        next,
        next_text,
        held: held_rows,
    })
}
