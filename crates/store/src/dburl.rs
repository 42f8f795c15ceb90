//! Small, dependency-free helpers for database URLs: telling the backend apart, preparing SQLite file
//! URLs (create the parent directory, default to `mode=rwc`), swapping the database name of a
//! PostgreSQL URL, and removing passwords before a URL goes into an error message or a log line.

use crate::{Backend, StoreError};
use std::path::PathBuf;

/// What `Store::connect` needs to know about a URL before handing it to sqlx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite database file; `url` already carries a `mode` (`rwc` unless the caller chose one).
    SqliteFile {
        url: String,
        path: PathBuf,
    },
    /// A private in-memory SQLite database (`sqlite::memory:`), for quick tests only.
    SqliteMemory {
        url: String,
    },
    Postgres {
        url: String,
    },
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres { url: url.to_owned() });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            // sqlx treats `sqlite:foo.db` and `sqlite://foo.db` alike; so do we.
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (db, params) = match rest.split_once('?') {
                Some((db, params)) => (db, Some(params)),
                None => (rest, None),
            };
            let has_param =
                |key: &str| params.is_some_and(|p| p.split('&').any(|kv| kv.split('=').next() == Some(key)));
            let memory = db == ":memory:" || params.is_some_and(|p| p.split('&').any(|kv| kv == "mode=memory"));
            if memory {
                return Ok(Target::SqliteMemory { url: url.to_owned() });
            }
            if db.is_empty() {
                return Err(StoreError::UnsupportedUrl(redact(url)));
            }
            let path = PathBuf::from(percent_decode(db));
            // Without `mode=rwc` SQLite refuses to create a missing file; a fresh deployment should
            // simply start with an empty database.
            let url = if has_param("mode") {
                url.to_owned()
            } else if params.is_some() {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            return Ok(Target::SqliteFile { url, path });
        }
        Err(StoreError::UnsupportedUrl(redact(url)))
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Target::SqliteFile { .. } | Target::SqliteMemory { .. } => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }

    pub(crate) fn url(&self) -> &str {
        match self {
            Target::SqliteFile { url, .. } | Target::SqliteMemory { url } | Target::Postgres { url } => url,
        }
    }
}

/// Decodes `%XX` escapes (sqlx does the same to SQLite file names, so `?` and `#` can be in them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the password from `scheme://user:password@host/…` so URLs can be shown safely.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let after = &url[scheme_end + 3..];
    let authority_end = after.find(['/', '?']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => {
                format!("{}{}:***{}", &url[..scheme_end + 3], &authority[..colon], &url[scheme_end + 3 + at..])
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Splits a PostgreSQL URL into (everything before the path, database name, query string without `?`).
fn split_pg(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let after = &url[scheme_end..];
    let authority_end = after.find(['/', '?']).unwrap_or(after.len());
    let head = &url[..scheme_end + authority_end];
    let tail = &after[authority_end..];
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, q),
        None => (tail, ""),
    };
    Some((head, path.trim_start_matches('/'), query))
}

/// The database name a PostgreSQL URL points at (`dbname=` in the query wins, as it does in sqlx).
pub(crate) fn pg_database_name(url: &str) -> Option<String> {
    let (_, path, query) = split_pg(url)?;
    let from_query = query.split('&').find_map(|kv| kv.strip_prefix("dbname="));
    let name = from_query.unwrap_or(path);
    (!name.is_empty()).then(|| percent_decode(name))
}

/// The same PostgreSQL URL pointing at database `db` instead (any `dbname=` parameter is dropped,
/// because it would override the path).
pub(crate) fn pg_with_database(url: &str, db: &str) -> Option<String> {
    let (head, _, query) = split_pg(url)?;
    let query: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("dbname=")).collect();
    let mut out = format!("{head}/{db}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        match Target::parse("sqlite://data/v.db").unwrap() {
            Target::SqliteFile { url, path } => {
                assert_eq!(url, "sqlite://data/v.db?mode=rwc");
                assert_eq!(path, PathBuf::from("data/v.db"));
            }
            other => panic!("{other:?}"),
        }
        match Target::parse("sqlite:///tmp/a%20b.db?cache=shared").unwrap() {
            Target::SqliteFile { url, path } => {
                assert_eq!(url, "sqlite:///tmp/a%20b.db?cache=shared&mode=rwc");
                assert_eq!(path, PathBuf::from("/tmp/a b.db"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Target::parse("sqlite://x.db?mode=ro").unwrap(),
            Target::SqliteFile { url, .. } if url == "sqlite://x.db?mode=ro"));
        assert!(matches!(Target::parse("sqlite::memory:").unwrap(), Target::SqliteMemory { .. }));
        assert!(matches!(Target::parse("mysql://x/y"), Err(StoreError::UnsupportedUrl(_))));
    }

    #[test]
    fn postgres_urls() {
        let u = "postgres://postgres:pw@127.0.0.1:5433/postgres?sslmode=disable&dbname=other";
        assert_eq!(redact(u), "postgres://postgres:***@127.0.0.1:5433/postgres?sslmode=disable&dbname=other");
        assert_eq!(pg_database_name(u).as_deref(), Some("other"));
        assert_eq!(
            pg_with_database(u, "t1").as_deref(),
            Some("postgres://postgres:pw@127.0.0.1:5433/t1?sslmode=disable")
        );
        assert_eq!(pg_with_database("postgres://h", "t").as_deref(), Some("postgres://h/t"));
        assert_eq!(pg_database_name("postgres://u@h/db").as_deref(), Some("db"));
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
