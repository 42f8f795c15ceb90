//! `/api/reports/…`: the reports for agencies and service points, the billing export and the interpreters'
//! records for invoicing, as JSON and CSV. This module reads the raw rows from the store, turns them into the
//! domain's facts and lets `vayla_domain::reports` compute every figure, so that a figure has one definition
//! (docs/reports.md) whichever format it is read in.
//!
//! Who sees what: admins everything; a service point's advisor the summary of their own service point only
//! (the filter is forced to it); nobody else anything. Billing and the interpreters' records name money and
//! people's working time, so they are for admins only.

use crate::api::Caller;
use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use vayla_domain::reports::{
    billing, billing_csv, invoicing, summarize, AppointmentFact, FeedbackFact, Filter, InterpreterStayFact, Outcome,
    Period, SessionFact, SessionKind, Span, TicketFact,
};
use vayla_domain::Role;

/// The period and filters of a report: `year`, then `month` (1–12) or `quarter` (1–4) or neither (the whole
/// year); `service_point` and `agency` narrow the summary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    pub year: i32,
    pub month: Option<u32>,
    pub quarter: Option<u32>,
    pub service_point: Option<String>,
    pub agency: Option<String>,
}

type Params = Result<Query<ReportParams>, QueryRejection>;

fn params(p: Params) -> Result<(ReportParams, Period), ApiError> {
    let Query(p) = p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_period", e.body_text()))?;
    let period = Period::new(p.year, p.month, p.quarter)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_period", e.to_string()))?;
    Ok((p, period))
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.role() == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("role {} may not read this report", caller.role())))
    }
}

/// The summary's filter for this caller: as asked for an admin; an advisor's own service point, whatever else.
fn filter_for(app: &AppState, caller: &Caller, p: &ReportParams) -> Result<Filter, ApiError> {
    let empty = |x: &Option<String>| x.clone().filter(|s| !s.is_empty());
    let mut filter = Filter { service_point: empty(&p.service_point), agency: empty(&p.agency) };
    match caller.role() {
        Role::Admin => {}
        Role::Advisor => {
            let own = app.rooms_config.borrow().person(&caller.subject()).and_then(|p| p.service_point.clone());
            let Some(own) = own else {
                return Err(ApiError::forbidden("an advisor without a service point has no reports"));
            };
            if filter.service_point.as_ref().is_some_and(|sp| *sp != own) {
                return Err(ApiError::forbidden("advisors see their own service point's reports only"));
            }
            filter.service_point = Some(own);
        }
        r => return Err(ApiError::forbidden(format!("role {r} may not read reports"))),
    }
    Ok(filter)
}

/// Everything the reports of one period are computed from.
struct Facts {
    sessions: Vec<SessionFact>,
    stays: Vec<InterpreterStayFact>,
    tickets: Vec<TicketFact>,
    appointments: Vec<AppointmentFact>,
}

fn ms(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

/// Reads the period's rows (sessions from 1 January, for the year to date) and makes them facts.
async fn facts(app: &AppState, period: &Period) -> Result<Facts, ApiError> {
    let (ytd_from, to) = period.year_to_date();
    let (from, _) = period.bounds();
    let rows = app.store.report_sessions(ytd_from as i64, to as i64).await?;
    let tickets = app.store.report_tickets(from as i64, to as i64).await?;
    let appointments = app.store.report_appointments(from as i64, to as i64).await?;
    let mut sessions = Vec::with_capacity(rows.len());
    let mut stays = Vec::new();
    for r in rows {
        let mut agencies = r.agencies.clone();
        agencies.sort();
        agencies.dedup();
        let ended = ms(r.ended_at);
        let mut interpreter_ms = None;
        for s in &r.interpreter_stays {
            let (joined, left) = (ms(s.joined_at), s.left_at.map(ms).unwrap_or(ended));
            *interpreter_ms.get_or_insert(0) += left.saturating_sub(joined);
            stays.push(InterpreterStayFact {
                interpreter: s.interpreter.clone(),
                provider: s.provider.clone(),
                session: r.id.clone(),
                appointment: r.appointment_id.clone(),
                service_point: r.service_point.clone(),
                joined_at: joined,
                left_at: left,
            });
        }
        let kind = if r.appointment_id.is_some() {
            SessionKind::Appointment
        } else if r.from_ticket {
            SessionKind::QueuedWalkIn
        } else {
            SessionKind::DirectWalkIn
        };
        let feedback = r.feedback.as_ref().and_then(|(rating, outcome)| {
            Some(FeedbackFact { rating: u8::try_from(*rating).ok()?, outcome: Outcome::parse(outcome)? })
        });
        sessions.push(SessionFact {
            id: r.id,
            service_point: r.service_point,
            agencies,
            opened_at: ms(r.opened_at),
            ended_at: ended,
            kind,
            interpreter_ms,
            feedback,
        });
    }
    Ok(Facts {
        sessions,
        stays,
        tickets: tickets
            .into_iter()
            .map(|t| TicketFact {
                service_point: t.service_point,
                agency: t.agency,
                created_at: ms(t.created_at),
                accepted_at: t.accepted_at.map(ms),
            })
            .collect(),
        appointments: appointments
            .into_iter()
            .map(|a| AppointmentFact {
                id: a.id,
                agency: a.agency,
                service_point: a.service_point,
                start: ms(a.start_ms),
                created_at: ms(a.created_at),
                status: a.status,
                interpreters: a.interpreters,
            })
            .collect(),
    })
}

/// A CSV download: `text/csv; charset=utf-8`, saved as `name`.
fn csv(name: String, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

async fn summary_of(app: &AppState, caller: &Caller, p: Params) -> Result<vayla_domain::reports::Report, ApiError> {
    let (p, period) = params(p)?;
    let filter = filter_for(app, caller, &p)?;
    let f = facts(app, &period).await?;
    Ok(summarize(&period, &filter, &f.sessions, &f.tickets, &f.appointments))
}

/// `GET /api/reports/summary`: every figure of the period (see docs/reports.md), as JSON.
pub async fn summary(State(app): State<AppState>, caller: Caller, p: Params) -> Result<Response, ApiError> {
    Ok(Json(summary_of(&app, &caller, p).await?).into_response())
}

/// `GET /api/reports/summary.csv`: the same figures, one per row.
pub async fn summary_csv(State(app): State<AppState>, caller: Caller, p: Params) -> Result<Response, ApiError> {
    let report = summary_of(&app, &caller, p).await?;
    let mut name = format!("vayla-report-{}", report.period.label);
    for part in [&report.filter.service_point, &report.filter.agency].into_iter().flatten() {
        name.push('-');
        name.push_str(part);
    }
    Ok(csv(format!("{name}.csv"), report.csv()))
}

async fn billing_of(
    app: &AppState,
    caller: &Caller,
    p: Params,
) -> Result<Vec<vayla_domain::reports::BillingRow>, ApiError> {
    admin_only(caller)?;
    let (_, period) = params(p)?;
    if !matches!(period.span, Span::Quarter(_)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_period",
            "billing is per quarter: give year and quarter",
        ));
    }
    let f = facts(app, &period).await?;
    let prep = invoicing(&period, &f.stays, &f.sessions, &f.appointments).preparations;
    let agencies = app.store.active_agency_ids().await?;
    Ok(billing(&period, &agencies, &f.sessions, &f.appointments, &prep, &app.config.prices()))
}

/// `GET /api/reports/billing`: per agency × task of a quarter: count, unit price, total. Admins only.
pub async fn billing_json(State(app): State<AppState>, caller: Caller, p: Params) -> Result<Response, ApiError> {
    Ok(Json(billing_of(&app, &caller, p).await?).into_response())
}

/// `GET /api/reports/billing.csv`: the same as CSV. Admins only.
pub async fn billing_csv_file(State(app): State<AppState>, caller: Caller, p: Params) -> Result<Response, ApiError> {
    let rows = billing_of(&app, &caller, p).await?;
    let label = rows.first().map(|r| r.period.clone()).unwrap_or_default();
    Ok(csv(format!("vayla-billing-{label}.csv"), billing_csv(&rows)))
}

async fn invoicing_of(
    app: &AppState,
    caller: &Caller,
    p: Params,
) -> Result<vayla_domain::reports::InvoicingReport, ApiError> {
    admin_only(caller)?;
    let (_, period) = params(p)?;
    let f = facts(app, &period).await?;
    Ok(invoicing(&period, &f.stays, &f.sessions, &f.appointments))
}

/// `GET /api/reports/interpreters`: the interpreters' stays, preparations and totals. Admins only.
pub async fn interpreters(State(app): State<AppState>, caller: Caller, p: Params) -> Result<Response, ApiError> {
    Ok(Json(invoicing_of(&app, &caller, p).await?).into_response())
}

/// `GET /api/reports/interpreters.csv`: the same as CSV. Admins only.
pub async fn interpreters_csv(State(app): State<AppState>, caller: Caller, p: Params) -> Result<Response, ApiError> {
    let report = invoicing_of(&app, &caller, p).await?;
    Ok(csv(format!("vayla-interpreters-{}.csv", report.period), report.csv()))
}
