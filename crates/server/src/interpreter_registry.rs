//! The interpreter registry over REST: who interprets which languages (BCP 47, sign languages included) at
//! which competence level, in which modalities, for which provider organisation, and how to reach them.
//!
//! - The registry is seeded from the rooms-config (`crate::interpreting::seed_registry`); an edit through this
//!   API wins over the seed until it is reverted (`DELETE`), the calendar model's rule (`source`: `seed` or
//!   `api`).
//! - Availability is not kept here: it is the calendar model's (`/api/calendar/availability/interpreter/{id}`),
//!   and each entry links to it.
//! - **Contact details** are returned only to admins, schedulers and the interpreter themself (their own entry).
//!   For every other role the `contact` field is absent, not empty: experts, advisors and other interpreters
//!   never receive a phone number or an e-mail address; devices may not read the registry at all.
//! - Matching reads the registry per request, so an edit counts from the next offer on.

use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::interpreting::seed_entry;
use crate::now_ms;
use crate::rooms_config::{Person, RoomsConfig};
use crate::scheduling::{config, iso, require, require_staff, unprocessable};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use vayla_domain::interpreting::{Competence, LanguageTag, Modality};
use vayla_domain::{Role, SubjectId};
use vayla_store::{
    CalendarSource, InterpreterContactRecord, InterpreterProviderRecord, InterpreterRecord, LanguageLevel,
};

/// At most this many languages per interpreter.
const MAX_LANGUAGES: usize = 50;

// ---------------------------------------------------------------------------------------------------------
// Views

/// One language of an interpreter on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageView {
    /// BCP 47 (`fi`, `sv-FI`, `fse`).
    pub language: String,
    /// `basic`, `professional` or `certified`.
    pub level: Competence,
    /// Whether `language` is a sign language (output only; ignored on input).
    #[serde(default, skip_deserializing)]
    pub sign_language: bool,
}

/// How to reach an interpreter.
#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub updated_at: String,
}

/// The provider as an entry names it.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderRef {
    pub id: String,
    /// `None` if the provider id has no provider entry.
    pub name: Option<String>,
}

/// An interpreter's registry entry.
#[derive(Debug, Clone, Serialize)]
pub struct InterpreterView {
    pub id: String,
    /// The name shown in calls (the rooms-config's); `None` for someone no longer in the rooms-config.
    pub name: Option<String>,
    pub provider: ProviderRef,
    pub languages: Vec<LanguageView>,
    /// `remote_video`, `phone`, `on_site`.
    pub modalities: Vec<Modality>,
    /// Inactive interpreters are never matched.
    pub active: bool,
    /// `seed` (follows the rooms-config) or `api` (edited; wins until reverted).
    pub source: CalendarSource,
    /// Where their availability is kept (the calendar model).
    pub availability: String,
    /// Only for admins, schedulers and the interpreter themself; absent for everyone else. `null` when none is
    /// recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Option<ContactView>>,
    pub updated_by: String,
    pub updated_at: String,
}

/// An interpreter provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub business_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The registry's interpreters (ids) this provider dispatches.
    pub interpreters: Vec<String>,
    pub updated_by: String,
    pub updated_at: String,
}

fn at(ms: i64) -> String {
    iso(ms.max(0) as u64)
}

fn contact_view(c: &InterpreterContactRecord) -> ContactView {
    ContactView { name: c.name.clone(), phone: c.phone.clone(), email: c.email.clone(), updated_at: at(c.updated_at) }
}

/// Whether the caller may see this interpreter's contact details: admins, schedulers, and the interpreter
/// themself. Nobody else, ever.
fn sees_contact(caller: &Caller, interpreter: &str) -> bool {
    match caller.role() {
        Role::Admin | Role::Scheduler => true,
        Role::Interpreter => caller.0.sub == interpreter,
        _ => false,
    }
}

fn view(
    config: &RoomsConfig,
    i: &InterpreterRecord,
    providers: &HashMap<String, String>,
    contact: Option<Option<ContactView>>,
) -> InterpreterView {
    let name = SubjectId::new(i.id.as_str()).ok().and_then(|id| config.person(&id)).map(|p| p.name.clone());
    let languages = i
        .languages
        .iter()
        .filter_map(|l| {
            let level = Competence::from_level(u8::try_from(l.level).ok()?)?;
            let sign_language = LanguageTag::new(&l.language).is_ok_and(|t| t.is_sign_language());
            Some(LanguageView { language: l.language.clone(), level, sign_language })
        })
        .collect();
    let modalities =
        [(i.remote_video, Modality::RemoteVideo), (i.phone, Modality::Phone), (i.on_site, Modality::OnSite)]
            .into_iter()
            .filter_map(|(on, m)| on.then_some(m))
            .collect();
    InterpreterView {
        id: i.id.clone(),
        name,
        provider: ProviderRef { id: i.provider.clone(), name: providers.get(&i.provider).cloned() },
        languages,
        modalities,
        active: i.active,
        source: i.source,
        availability: format!("/api/calendar/availability/interpreter/{}", i.id),
        contact,
        updated_by: i.updated_by.clone(),
        updated_at: at(i.updated_at),
    }
}

async fn provider_names(app: &AppState) -> Result<HashMap<String, String>, ApiError> {
    Ok(app.store.interpreter_providers().await?.into_iter().map(|p| (p.id, p.name)).collect())
}

/// One entry as the caller may see it.
async fn one(app: &AppState, caller: &Caller, id: &str) -> Result<InterpreterView, ApiError> {
    let i = app.store.get_interpreter(id).await?.ok_or_else(|| unknown_interpreter(id))?;
    let contact = if sees_contact(caller, id) {
        Some(app.store.interpreter_contact(id).await?.as_ref().map(contact_view))
    } else {
        None
    };
    Ok(view(&config(app), &i, &provider_names(app).await?, contact))
}

fn unknown_interpreter(id: &str) -> ApiError {
    ApiError::not_found("unknown_interpreter", format!("no interpreter {id:?} in the registry"))
}

fn unknown_provider(id: &str) -> ApiError {
    ApiError::not_found("unknown_provider", format!("no interpreter provider {id:?}"))
}

/// The configured interpreter behind `id`: only they can be edited (the rooms-config is who exists and signs
/// in; the registry describes them).
fn configured<'c>(config: &'c RoomsConfig, id: &str) -> Result<&'c Person, ApiError> {
    SubjectId::new(id)
        .ok()
        .and_then(|s| config.person(&s))
        .filter(|p| p.role == Role::Interpreter)
        .ok_or_else(|| unknown_interpreter(id))
}

// ---------------------------------------------------------------------------------------------------------
// Interpreters

/// `GET /api/interpreters`: the whole registry, by id (active or not). Staff; contact details only as
/// [`sees_contact`] allows.
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<InterpreterView>>, ApiError> {
    require_staff(&caller)?;
    let config = config(&app);
    let providers = provider_names(&app).await?;
    let all_contacts = matches!(caller.role(), Role::Admin | Role::Scheduler);
    let mut contacts: HashMap<String, InterpreterContactRecord> = if all_contacts {
        app.store.interpreter_contacts().await?.into_iter().map(|c| (c.interpreter_id.clone(), c)).collect()
    } else if caller.role() == Role::Interpreter {
        app.store.interpreter_contact(&caller.0.sub).await?.into_iter().map(|c| (c.interpreter_id.clone(), c)).collect()
    } else {
        HashMap::new()
    };
    let out = app
        .store
        .list_interpreters()
        .await?
        .iter()
        .map(|i| {
            let contact = sees_contact(&caller, &i.id).then(|| contacts.remove(&i.id).as_ref().map(contact_view));
            view(&config, i, &providers, contact)
        })
        .collect();
    Ok(Json(out))
}

/// `GET /api/interpreters/{id}`: one entry. Staff.
pub async fn get_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InterpreterView>, ApiError> {
    require_staff(&caller)?;
    Ok(Json(one(&app, &caller, &id).await?))
}

/// The body of `PUT /api/interpreters/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutInterpreter {
    pub provider: String,
    pub languages: Vec<LanguageView>,
    pub modalities: Vec<Modality>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// `PUT /api/interpreters/{id}`: replace a configured interpreter's languages, levels, modalities, provider and
/// whether they are matched. Schedulers and admins. The edit wins over the rooms-config until reverted.
pub async fn put(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PutInterpreter>,
) -> Result<Json<InterpreterView>, ApiError> {
    require(&caller, &[Role::Scheduler, Role::Admin])?;
    configured(&config(&app), &id)?;
    if app.store.interpreter_provider(&body.provider).await?.is_none() {
        return Err(unprocessable(
            "unknown_provider",
            format!(
                "provider: no interpreter provider {:?}; add it with PUT /api/interpreter-providers/{{id}}",
                body.provider
            ),
        ));
    }
    if body.languages.is_empty() || body.languages.len() > MAX_LANGUAGES {
        return Err(unprocessable("invalid_registry", format!("languages: 1 to {MAX_LANGUAGES} entries")));
    }
    let mut languages = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, l) in body.languages.iter().enumerate() {
        let tag = LanguageTag::new(l.language.trim()).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_language",
                format!("languages[{n}]: {:?} is not a BCP 47 language tag such as \"sv\" or \"fse\"", l.language),
            )
        })?;
        if !seen.insert(tag.clone()) {
            return Err(unprocessable("invalid_registry", format!("languages[{n}]: {tag} is listed twice")));
        }
        languages.push(LanguageLevel { language: tag.to_string(), level: i64::from(l.level.level()) });
    }
    languages.sort_by(|a, b| a.language.cmp(&b.language));
    let modalities: BTreeSet<Modality> = body.modalities.iter().copied().collect();
    if modalities.is_empty() {
        return Err(unprocessable("invalid_registry", "modalities: at least one of remote_video, phone, on_site"));
    }
    let signs = seen.iter().any(|t| t.is_sign_language());
    if signs && !modalities.iter().any(|m| m.carries_sign_language()) {
        return Err(unprocessable(
            "sign_language_needs_video",
            "a sign-language interpreter needs remote_video or on_site among the modalities",
        ));
    }
    let record = InterpreterRecord {
        id: id.clone(),
        provider: body.provider.clone(),
        languages,
        remote_video: modalities.contains(&Modality::RemoteVideo),
        phone: modalities.contains(&Modality::Phone),
        on_site: modalities.contains(&Modality::OnSite),
        active: body.active,
        source: CalendarSource::Api,
        updated_by: caller.0.sub.clone(),
        updated_at: now_ms() as i64,
    };
    app.store.put_interpreter(&record).await?;
    Ok(Json(one(&app, &caller, &id).await?))
}

/// `DELETE /api/interpreters/{id}`: undo API edits of the entry: the rooms-config's version is in force again
/// and follows it from now on. The interpreter is not removed (who exists is the rooms-config's). Schedulers and
/// admins.
pub async fn revert(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InterpreterView>, ApiError> {
    require(&caller, &[Role::Scheduler, Role::Admin])?;
    let config = config(&app);
    let person = configured(&config, &id)?;
    app.store.put_interpreter(&seed_entry(person, &caller.0.sub, now_ms())).await?;
    Ok(Json(one(&app, &caller, &id).await?))
}

/// The body of `PUT /api/interpreters/{id}/contact`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutContact {
    /// Defaults to the rooms-config's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `PUT /api/interpreters/{id}/contact`: replace how to reach the interpreter. Admins, schedulers and the
/// interpreter themself. The audit entry names only the interpreter.
pub async fn put_contact(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PutContact>,
) -> Result<Json<ContactView>, ApiError> {
    if !sees_contact(&caller, &id) {
        return Err(ApiError::forbidden(format!(
            "role {} may not change this interpreter's contact details",
            caller.role()
        )));
    }
    let config = config(&app);
    let person = configured(&config, &id)?;
    let clean = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let name = clean(&body.name).unwrap_or_else(|| person.name.clone());
    let phone = clean(&body.phone);
    let email = clean(&body.email);
    if name.chars().count() > 200 {
        return Err(unprocessable("invalid_contact", "name: at most 200 characters"));
    }
    if let Some(p) = &phone {
        let ok = p.len() <= 50
            && p.chars().any(|c| c.is_ascii_digit())
            && p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
        if !ok {
            return Err(unprocessable("invalid_contact", "phone: digits, spaces, + - ( ), at most 50 characters"));
        }
    }
    if let Some(e) = &email {
        let ok = e.len() <= 254
            && !e.contains(char::is_whitespace)
            && e.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !ok {
            return Err(unprocessable("invalid_contact", "email: an address such as name@example.fi"));
        }
    }
    let record = InterpreterContactRecord {
        interpreter_id: id.clone(),
        name,
        phone,
        email,
        updated_by: caller.0.sub.clone(),
        updated_at: now_ms() as i64,
    };
    app.store.put_interpreter_contact(&record).await?;
    Ok(Json(contact_view(&record)))
}

// ---------------------------------------------------------------------------------------------------------
// Providers

fn provider_view(p: &InterpreterProviderRecord, interpreters: &[InterpreterRecord]) -> ProviderView {
    ProviderView {
        id: p.id.clone(),
        name: p.name.clone(),
        business_id: p.business_id.clone(),
        phone: p.phone.clone(),
        email: p.email.clone(),
        interpreters: interpreters.iter().filter(|i| i.provider == p.id).map(|i| i.id.clone()).collect(),
        updated_by: p.updated_by.clone(),
        updated_at: at(p.updated_at),
    }
}

/// `GET /api/interpreter-providers`: every provider with the interpreters it dispatches. Staff.
pub async fn list_providers(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<ProviderView>>, ApiError> {
    require_staff(&caller)?;
    let interpreters = app.store.list_interpreters().await?;
    let out = app.store.interpreter_providers().await?.iter().map(|p| provider_view(p, &interpreters)).collect();
    Ok(Json(out))
}

/// `GET /api/interpreter-providers/{id}`. Staff.
pub async fn get_provider(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProviderView>, ApiError> {
    require_staff(&caller)?;
    let p = app.store.interpreter_provider(&id).await?.ok_or_else(|| unknown_provider(&id))?;
    Ok(Json(provider_view(&p, &app.store.list_interpreters().await?)))
}

/// The body of `PUT /api/interpreter-providers/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutProvider {
    pub name: String,
    #[serde(default)]
    pub business_id: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `PUT /api/interpreter-providers/{id}`: add or replace a provider. Schedulers and admins.
pub async fn put_provider(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PutProvider>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    require(&caller, &[Role::Scheduler, Role::Admin])?;
    if SubjectId::new(id.as_str()).is_err() {
        return Err(ApiError::bad_request(format!(
            "provider id {id:?}: use 1 to 64 characters of a-z, 0-9 and '-', not starting with '-'"
        )));
    }
    let clean = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(unprocessable("invalid_registry", "name: 1 to 200 characters"));
    }
    let business_id = clean(&body.business_id);
    if let Some(b) = &business_id {
        let ok =
            b.len() == 9 && b.as_bytes()[7] == b'-' && b.bytes().enumerate().all(|(i, c)| i == 7 || c.is_ascii_digit());
        if !ok {
            return Err(unprocessable("invalid_registry", "business_id: a Finnish business id such as 1234567-8"));
        }
    }
    let (phone, email) = (clean(&body.phone), clean(&body.email));
    if phone.as_ref().is_some_and(|p| p.len() > 50) || email.as_ref().is_some_and(|e| e.len() > 254 || !e.contains('@'))
    {
        return Err(unprocessable("invalid_registry", "phone: at most 50 characters; email: an address"));
    }
    let existed = app.store.interpreter_provider(&id).await?.is_some();
    let record = InterpreterProviderRecord {
        id: id.clone(),
        name,
        business_id,
        phone,
        email,
        updated_by: caller.0.sub.clone(),
        updated_at: now_ms() as i64,
    };
    app.store.put_interpreter_provider(&record).await?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(provider_view(&record, &app.store.list_interpreters().await?))))
}
