//! Database URL handling: which backend a URL means, what a SQLite URL points
//! at, and how to print a URL without leaking its password.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

use crate::{Backend, StoreError};

/// Splits `scheme:rest` and returns the scheme in lower case, or `None` when
/// the text before the first `:` is not a valid URL scheme (RFC 3986 §3.1).
fn scheme_of(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| (scheme.to_ascii_lowercase(), rest))
}

impl Backend {
    /// Tells which backend a URL selects, without connecting.
    ///
    /// Useful to a caller that wants to pick options or warn about a
    /// configuration before [`Store::connect`](crate::Store::connect) runs.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        match scheme_of(url) {
            Some((scheme, _)) if scheme == "sqlite" => Ok(Backend::Sqlite),
            Some((scheme, _)) if scheme == "postgres" || scheme == "postgresql" => {
                Ok(Backend::Postgres)
            }
            Some((scheme, _)) => Err(StoreError::UnsupportedUrl {
                scheme,
                url: redact_url(url),
            }),
            None => Err(StoreError::UnsupportedUrl {
                scheme: String::new(),
                url: redact_url(url),
            }),
        }
    }
}

/// Returns the URL with its scheme in lower case.
///
/// sqlx's SQLite parser strips only a lower-case `sqlite:` prefix, so a URL
/// written `SQLITE://x.db` would otherwise name a file called `SQLITE://x.db`.
pub(crate) fn normalize_scheme(url: &str) -> String {
    match scheme_of(url) {
        Some((scheme, rest)) => format!("{scheme}:{rest}"),
        None => url.to_owned(),
    }
}

/// Returns the URL with the password of its user-info part and any
/// `password=` query parameter replaced by `***`, so that it can be logged and
/// put in error messages.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(auth_start) = url.find("://").map(|i| i + 3) {
        let auth_end = url[auth_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| auth_start + i);
        let authority = &url[auth_start..auth_end];
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                out = format!(
                    "{}***{}",
                    &url[..auth_start + colon + 1],
                    &url[auth_start + at..]
                );
            }
        }
    }
    if let Some((base, query)) = out.split_once('?') {
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{base}?{query}");
    }
    out
}

/// What a `sqlite:` URL points at.
#[derive(Debug)]
pub(crate) enum SqliteTarget {
    /// A private in-memory database.
    Memory,
    /// A database file.
    File {
        /// sqlx's options for the URL, used for the one bootstrap connection.
        options: Box<SqliteConnectOptions>,
        /// The file, as sqlx will open it (percent-decoded, relative to the
        /// working directory when relative).
        path: PathBuf,
        /// The URL's `mode=` parameter, if any: when absent we create the
        /// file, when present the caller decided and we respect it.
        mode: Option<String>,
    },
}

impl SqliteTarget {
    /// Parses a `sqlite:` URL (already passed through [`normalize_scheme`]).
    pub(crate) fn parse(url: &str) -> Result<SqliteTarget, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (database, params) = match rest.split_once('?') {
            Some((database, params)) => (database, Some(params)),
            None => (rest, None),
        };
        let mode = params.and_then(|params| {
            params
                .split('&')
                .find_map(|pair| match pair.split_once('=') {
                    Some(("mode", value)) => Some(value.to_owned()),
                    _ => None,
                })
        });
        if database == ":memory:" || mode.as_deref() == Some("memory") {
            return Ok(SqliteTarget::Memory);
        }
        if database.is_empty() {
            return Err(StoreError::InvalidUrl {
                url: redact_url(url),
                reason: "no file path: use `sqlite://PATH` or `sqlite::memory:`".to_owned(),
            });
        }
        let options = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        let path = options.get_filename().to_path_buf();
        Ok(SqliteTarget::File {
            options: Box::new(options),
            path,
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite::memory:").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("SQLite://a.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        match Backend::from_url("mysql://u:secret@h/db") {
            Err(StoreError::UnsupportedUrl { scheme, url }) => {
                assert_eq!(scheme, "mysql");
                assert_eq!(url, "mysql://u:***@h/db");
            }
            other => panic!("expected UnsupportedUrl, got {other:?}"),
        }
        assert!(matches!(
            Backend::from_url("/var/lib/roomwire.db"),
            Err(StoreError::UnsupportedUrl { .. })
        ));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u:p:q@h/db?x=1"),
            "postgres://u:***@h/db?x=1"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p"),
            "postgres://h/db?user=u&password=***"
        );
        assert_eq!(redact_url("sqlite://data/a.db"), "sqlite://data/a.db");
    }

    #[test]
    fn sqlite_targets() {
        assert!(matches!(
            SqliteTarget::parse("sqlite::memory:"),
            Ok(SqliteTarget::Memory)
        ));
        assert!(matches!(
            SqliteTarget::parse("sqlite://?mode=memory"),
            Ok(SqliteTarget::Memory)
        ));
        assert!(matches!(
            SqliteTarget::parse("sqlite://"),
            Err(StoreError::InvalidUrl { .. })
        ));
        match SqliteTarget::parse("sqlite://data/my%20db.sqlite?mode=rwc") {
            Ok(SqliteTarget::File { path, mode, .. }) => {
                assert_eq!(path, PathBuf::from("data/my db.sqlite"));
                assert_eq!(mode.as_deref(), Some("rwc"));
            }
            other => panic!("expected a file, got {other:?}"),
        }
        match SqliteTarget::parse("sqlite:///tmp/x.db") {
            Ok(SqliteTarget::File { path, mode, .. }) => {
                assert_eq!(path, PathBuf::from("/tmp/x.db"));
                assert_eq!(mode, None);
            }
            other => panic!("expected a file, got {other:?}"),
        }
        assert_eq!(normalize_scheme("SQLITE://a.db"), "sqlite://a.db");
    }
}
