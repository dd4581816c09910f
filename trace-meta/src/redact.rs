//! What logs, errors and spans may show of a URL: never its credentials.
//!
//! One rule for the whole workspace: the scheme, host, port and path of a URL are shown;
//! the `user:password@` part, the query and the fragment (where API keys and tokens travel)
//! are not. Endpoints named in the environment (`OTEL_EXPORTER_OTLP_ENDPOINT`), in a
//! client's config (a remote server's `url`) or on the command line (`--base-url`) all go
//! through [`url`] before they reach a message.

/// `raw` without its user info, query and fragment; surrounding blanks are dropped.
///
/// ```
/// assert_eq!(
///     trace_meta::redact::url("https://user:secret@otel.example.com/v1/traces?token=x"),
///     "https://otel.example.com/v1/traces"
/// );
/// ```
pub fn url(raw: &str) -> String {
    let raw = raw.trim();
    let without_query = raw.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => without_query.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_query_and_fragment_are_dropped() {
        assert_eq!(
            url("https://user:secret@otel.example.com/v1/traces?token=x"),
            "https://otel.example.com/v1/traces"
        );
        assert_eq!(url(" http://127.0.0.1:4318 "), "http://127.0.0.1:4318");
        assert_eq!(url("http://k@h:1/p#frag"), "http://h:1/p");
        assert_eq!(url("http://a@b@host/x/y?q"), "http://host/x/y");
        assert_eq!(url("not a url?key=1"), "not a url");
    }
}
