//! `POST /api/sessions/{session}/feedback`: the customer's anonymous answer to the short survey the device
//! shows when a session ends. Only the device of the session's own room may answer, only once the session has
//! ended (or while it is ending: the room has already let it go), and only once: the database keeps one answer
//! per session. Nothing about the answer is logged but the session id; the free text never is.

use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::now_ms;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use vayla_domain::reports::Outcome;
use vayla_domain::{Role, RoomId};
use vayla_store::{FeedbackRecord, StoreError};

/// The longest free text, in characters (the database has the same limit).
pub const MAX_COMMENT_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    pub rating: i64,
    pub outcome: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub language: String,
}

#[derive(Serialize)]
pub struct FeedbackReply {
    pub session: String,
    pub rating: i64,
    pub outcome: String,
    pub language: String,
    pub has_comment: bool,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_feedback", message)
}

pub async fn submit(
    State(app): State<AppState>,
    caller: Caller,
    Path(session): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<(StatusCode, Json<FeedbackReply>), ApiError> {
    if caller.role() != Role::Device {
        return Err(ApiError::forbidden("only the session's device collects feedback"));
    }
    let unknown = || ApiError::not_found("unknown_session", format!("no session {session:?}"));
    let record = app.store.session(&session).await?.ok_or_else(unknown)?;
    if record.room != caller.0.sub.as_str() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_room", "a device collects feedback for its own room"));
    }
    if record.ended_at.is_none() {
        // Ending: the room has already let the session go and is recording its end. Still live: too early.
        let live = RoomId::new(record.room.as_str()).ok().and_then(|id| app.rooms.borrow().get(&id).cloned());
        let still_live = match live {
            Some(handle) => {
                handle.view().await.map(|v| v.session_id.as_deref() == Some(session.as_str())).unwrap_or(false)
            }
            None => false,
        };
        if still_live {
            return Err(ApiError::conflict("session_not_ended", "feedback is asked after the session has ended"));
        }
    }
    if !(1..=5).contains(&body.rating) {
        return Err(invalid(format!("rating must be 1 to 5, not {}", body.rating)));
    }
    let outcome = Outcome::parse(&body.outcome)
        .ok_or_else(|| invalid(format!("outcome must be done, initiated or neither, not {:?}", body.outcome)))?;
    if !["fi", "sv", "en"].contains(&body.language.as_str()) {
        return Err(invalid(format!("language must be fi, sv or en, not {:?}", body.language)));
    }
    let comment = body.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        let n = c.chars().count();
        if n > MAX_COMMENT_CHARS {
            return Err(invalid(format!("the comment is {n} characters; at most {MAX_COMMENT_CHARS}")));
        }
        if c.chars().any(|ch| ch.is_control() && ch != '\n' && ch != '\t') {
            return Err(invalid("the comment has control characters"));
        }
    }
    let f = FeedbackRecord {
        session: record.id.clone(),
        rating: body.rating,
        outcome: outcome.as_str().to_string(),
        comment,
        language: body.language,
        answered_at: now_ms() as i64,
    };
    match app.store.record_feedback(&f).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict("feedback_exists", "this session's feedback has already been given"));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(session = %f.session, "feedback recorded");
    Ok((
        StatusCode::CREATED,
        Json(FeedbackReply {
            session: f.session,
            rating: f.rating,
            outcome: f.outcome,
            language: f.language,
            has_comment: f.comment.is_some(),
        }),
    ))
}
