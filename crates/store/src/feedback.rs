//! Customer feedback after a session: one anonymous answer per session (the session is the table's primary key,
//! so the database refuses a second one), linked to nothing but the session. Who may answer, and when, is the
//! server's rule; this module records the answer and reads it back.

use crate::{Millis, Store, StoreError};
use sqlx::Row;

/// One answer to the survey the device shows after a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedbackRecord {
    pub session: String,
    /// 1 to 5.
    pub rating: i64,
    /// `done`, `initiated` or `neither`.
    pub outcome: String,
    /// Optional free text, at most 500 characters.
    pub comment: Option<String>,
    /// The language the survey was answered in: `fi`, `sv` or `en`.
    pub language: String,
    pub answered_at: Millis,
}

impl Store {
    /// Records the session's answer. A second answer for the same session is `Conflict` (and the first stays);
    /// values outside the table's rules are a `Query` error (the server validates before).
    pub async fn record_feedback(&self, f: &FeedbackRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_feedback (session, rating, outcome, comment, language, answered_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&f.session)
        .bind(f.rating)
        .bind(&f.outcome)
        .bind(&f.comment)
        .bind(&f.language)
        .bind(f.answered_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "feedback", &f.session))?;
        Ok(())
    }

    /// The session's answer, if it has one.
    pub async fn feedback(&self, session: &str) -> Result<Option<FeedbackRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT session, rating, outcome, comment, language, answered_at FROM session_feedback WHERE session = $1",
        )
        .bind(session)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(FeedbackRecord {
                session: r.try_get("session")?,
                rating: r.try_get("rating")?,
                outcome: r.try_get("outcome")?,
                comment: r.try_get("comment")?,
                language: r.try_get("language")?,
                answered_at: r.try_get("answered_at")?,
            })
        })
        .transpose()
        .map_err(StoreError::Query)
    }
}
