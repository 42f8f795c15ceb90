//! Busy time from experts' own calendars: the task that reads each registered external calendar
//! periodically, and the same sync on demand (`POST /api/calendar/external/{expert}/sync`).
//!
//! A calendar is either an **ICS URL** (a plain `GET`; VEVENTs or VFREEBUSY) or a **CalDAV collection**, asked
//! with a `calendar-query` REPORT over the sync window with `expand`, so the server itself turns recurring
//! events into occurrences (RFC 4791 §7.8, §9.6.5). What is read (see `ics::read_busy`) replaces the expert's
//! stored intervals whole; slot search and booking take them through `scheduling::busy_time`.
//!
//! Failure keeps the last good data: the store records when and why (never the URL), the log says which
//! expert and host. Calendar URLs are secrets (private ICS links carry a token, CalDAV URLs may carry
//! credentials), so only the host ever reaches a log line or an API answer, and reqwest's errors are reduced to
//! their kind because their text names the URL.
//!
//! The server fetches URLs that users give it, so it guards against being turned against its own network:
//! only `http`/`https`, no loopback, private, link-local or unspecified address literals and no `localhost`
//! unless `calendar_allow_private_hosts` is set (tests, or a CalDAV server on the same host), the same check on
//! every redirect, a time limit and a size limit; and nothing fetched is ever shown to the caller, only a
//! count. (A host *name* that resolves to a private address is not caught; a firewall rule is the place for
//! that.)

use crate::ics::{caldav_calendar_data, read_busy, BusyRead, IcsError};
use crate::now_ms;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::watch;
use vayla_store::{ExternalCalendarKind, ExternalCalendarRecord, Store, StoreError};

/// One fetch may take this long, connection and body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest calendar read; a year of a busy person's calendar is well under a megabyte.
const MAX_BYTES: usize = 4 * 1024 * 1024;
/// The sync window: from a day back (an appointment may be rescheduled to later today) to as far ahead as any
/// booking horizon can reach (the domain's longest date range).
const WINDOW_PAST_MS: i64 = 24 * 3600 * 1000;
const WINDOW_FUTURE_MS: i64 = vayla_domain::calendar::MAX_DAYS as i64 * 24 * 3600 * 1000;
/// Most intervals kept per expert; the nearest ones are kept.
const MAX_INTERVALS: usize = 5_000;
const MAX_REDIRECTS: usize = 5;

/// Why a URL is not accepted as an external calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error("not an absolute http or https URL")]
    Invalid,
    #[error("the URL is longer than 2000 characters")]
    TooLong,
    #[error("the URL points at a loopback, private or link-local address, which this server does not fetch")]
    PrivateHost,
}

/// Why a sync failed. The messages never contain the URL.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("URL refused: {0}")]
    Url(#[from] UrlProblem),
    #[error("the calendar server answered HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Fetch(&'static str),
    #[error("the calendar is larger than {} MiB", MAX_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("the answer is not a CalDAV multistatus")]
    NotMultistatus,
    #[error("{0}")]
    Calendar(#[from] IcsError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("the registration changed while it was being read; the new one is read next time")]
    Replaced,
}

/// Checks a calendar URL: absolute http(s), not too long, and (unless allowed) not a private host.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, UrlProblem> {
    if url.len() > 2000 {
        return Err(UrlProblem::TooLong);
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| UrlProblem::Invalid)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(UrlProblem::Invalid);
    }
    if !allow_private && is_private_host(&parsed) {
        return Err(UrlProblem::PrivateHost);
    }
    Ok(parsed)
}

fn is_private_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return true };
    // IPv6 literals come bracketed; anything that does not parse as an address is a host name.
    let ip = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            return d == "localhost" || d.ends_with(".localhost");
        }
    };
    match ip {
        IpAddr::V4(a) => {
            a.is_loopback() || a.is_private() || a.is_link_local() || a.is_unspecified() || a.is_broadcast()
        }
        IpAddr::V6(a) => {
            let seg = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
    }
}

/// The part of a calendar URL that may be shown: its host.
pub fn host_of(url: &str) -> String {
    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// Reads external calendars. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct Syncer {
    client: reqwest::Client,
    store: Store,
    allow_private: bool,
}

impl Syncer {
    pub fn new(store: Store, allow_private: bool) -> Syncer {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if check_url(attempt.url().as_str(), allow_private).is_err() {
                attempt.error("redirect to a refused URL")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(policy)
            .user_agent(concat!("Vayla/", env!("CARGO_PKG_VERSION"), " (calendar sync)"))
            .build()
            .expect("a plain rustls client builds");
        Syncer { client, store, allow_private }
    }

    /// Whether private hosts may be fetched (the API checks URLs with the same rule).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Reads one calendar now and stores its busy time; the number of intervals stored. A failure is
    /// recorded in the store and logged, and the last good intervals stay.
    pub async fn sync(&self, cal: &ExternalCalendarRecord) -> Result<usize, SyncError> {
        let now = now_ms() as i64;
        let result = self.read(cal, now).await;
        let outcome = match result {
            Ok(read) => {
                let mut busy = read.busy;
                if busy.len() > MAX_INTERVALS {
                    tracing::warn!(expert = %cal.expert, kept = MAX_INTERVALS, read = busy.len(),
                        "external calendar has more busy intervals than are kept; the nearest are kept");
                    busy.truncate(MAX_INTERVALS);
                }
                if read.skipped > 0 || read.recurring > 0 {
                    tracing::info!(expert = %cal.expert, skipped = read.skipped, recurring = read.recurring,
                        "external calendar: unreadable events skipped, recurring events counted once");
                }
                match self.store.replace_external_busy(&cal.expert, &cal.url, &busy, now_ms() as i64).await {
                    Ok(true) => Ok(busy.len()),
                    Ok(false) => Err(SyncError::Replaced),
                    Err(e) => Err(SyncError::Store(e)),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::warn!(expert = %cal.expert, host = %host_of(&cal.url), error = %e,
                "external calendar sync failed; the last good busy time stays");
            if !matches!(e, SyncError::Store(_) | SyncError::Replaced) {
                let _ = self
                    .store
                    .record_external_sync_failure(&cal.expert, &cal.url, &e.to_string(), now_ms() as i64)
                    .await;
            }
        } else {
            tracing::debug!(expert = %cal.expert, host = %host_of(&cal.url), "external calendar synced");
        }
        outcome
    }

    /// Syncs every registered calendar once, one after another (each fetch is bounded by its timeout).
    pub async fn sync_all(&self) {
        let calendars = match self.store.external_calendars().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot list external calendars");
                return;
            }
        };
        for cal in &calendars {
            let _ = self.sync(cal).await;
        }
    }

    /// The periodic sync: every `period`, until shutdown.
    pub async fn run(self, period: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(period.max(Duration::from_secs(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            // A sync in progress is abandoned at shutdown; each store write is one transaction, done or not.
            tokio::select! {
                _ = self.sync_all() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }

    async fn read(&self, cal: &ExternalCalendarRecord, now: i64) -> Result<BusyRead, SyncError> {
        let url = check_url(&cal.url, self.allow_private)?;
        let (from, to) = (now - WINDOW_PAST_MS, now + WINDOW_FUTURE_MS);
        match cal.kind {
            ExternalCalendarKind::Ics => {
                let request = self.client.get(url).header(reqwest::header::ACCEPT, "text/calendar, */*;q=0.5");
                let body = self.fetch(request).await?;
                Ok(read_busy(&body, from, to)?)
            }
            ExternalCalendarKind::Caldav => {
                let method = reqwest::Method::from_bytes(b"REPORT").expect("a valid method name");
                let request = self
                    .client
                    .request(method, url)
                    .header("Depth", "1")
                    .header(reqwest::header::CONTENT_TYPE, "application/xml; charset=utf-8")
                    .body(calendar_query(from, to));
                let body = self.fetch(request).await?;
                if !body.contains("multistatus") {
                    return Err(SyncError::NotMultistatus);
                }
                let mut all = BusyRead::default();
                for text in caldav_calendar_data(&body) {
                    all.extend(read_busy(&text, from, to)?);
                }
                Ok(all.finish())
            }
        }
    }

    /// Sends the request and reads a successful answer's body, at most [`MAX_BYTES`].
    async fn fetch(&self, request: reqwest::RequestBuilder) -> Result<String, SyncError> {
        let mut response = request.send().await.map_err(|e| SyncError::Fetch(kind_of(&e)))?;
        if !response.status().is_success() {
            return Err(SyncError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(SyncError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| SyncError::Fetch(kind_of(&e)))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(SyncError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// What went wrong with a request, without the URL that reqwest's own messages carry.
fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "the calendar server did not answer in time"
    } else if e.is_redirect() {
        "the calendar server redirected too often or to a refused address"
    } else if e.is_connect() {
        "could not connect to the calendar server"
    } else if e.is_body() || e.is_decode() {
        "the calendar server's answer broke off"
    } else {
        "the request to the calendar server failed"
    }
}

/// A CalDAV `calendar-query` (RFC 4791 §7.8) for the VEVENTs overlapping `[from, to)`, asking the server to
/// expand recurring events into their occurrences within the window.
fn calendar_query(from: i64, to: i64) -> String {
    let (start, end) = (crate::ics::utc_stamp(from), crate::ics::utc_stamp(to));
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <C:calendar-data>
      <C:expand start="{start}" end="{end}"/>
    </C:calendar-data>
  </D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{start}" end="{end}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:5232/x",
            "http://localhost/x",
            "https://10.1.2.3/cal.ics",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
        ] {
            assert_eq!(check_url(url, false), Err(UrlProblem::PrivateHost), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://calendar.example.fi/private-abc/basic.ics", false).is_ok());
        for url in ["ftp://example.fi/x", "not a url", "file:///etc/passwd", "/relative.ics"] {
            assert_eq!(check_url(url, true), Err(UrlProblem::Invalid), "{url}");
        }
        assert_eq!(check_url(&format!("https://e.fi/{}", "a".repeat(2000)), true), Err(UrlProblem::TooLong));
    }

    #[test]
    fn only_the_host_of_a_url_is_shown() {
        assert_eq!(host_of("https://user:secret@cal.example.fi/private-token/basic.ics"), "cal.example.fi");
    }
}
