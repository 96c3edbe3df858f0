//! Where a service is reached: an endpoint URL parsed once (never judged as a string), and
//! whether it is a server on this machine. (Whether two tables are one is not judged by where
//! they are reached: see `identity`.)

use url::{Host, Url};

/// An endpoint URL that cannot be used; the message names the setting that gave it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{setting} is empty: give an http:// or https:// URL, or leave it out for AWS")]
    Empty { setting: String },
    #[error("{setting}={value:?} is not a URL ({reason}): e.g. http://127.0.0.1:8000")]
    Invalid {
        setting: String,
        value: String,
        reason: String,
    },
    #[error("{setting}={value:?}: {reason}")]
    Unusable {
        setting: String,
        value: String,
        reason: &'static str,
    },
}

/// Checks that `value` (given by `setting`) is an http(s) URL with a host and nothing an
/// endpoint cannot have (user name, password, query, fragment). Returns it as given.
pub fn check(setting: &str, value: &str) -> Result<String, EndpointError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(EndpointError::Empty {
            setting: setting.to_owned(),
        });
    }
    let unusable = |reason| EndpointError::Unusable {
        setting: setting.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let url = Url::parse(trimmed).map_err(|e| EndpointError::Invalid {
        setting: setting.to_owned(),
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(unusable("expected an http:// or https:// URL"));
    }
    if url.host().is_none() {
        return Err(unusable("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(unusable(
            "an endpoint takes no user name or password (credentials come from the environment)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(unusable("an endpoint takes no query or fragment"));
    }
    Ok(trimmed.to_owned())
}

/// [`check`] for a command-line flag's value parser (the parser names the flag): the reason
/// alone.
pub fn parse_flag(value: &str) -> Result<String, String> {
    check("the endpoint", value).map_err(|e| match e {
        EndpointError::Empty { .. } => {
            "it is empty: give an http:// or https:// URL, or leave the flag out for AWS".to_owned()
        }
        EndpointError::Invalid { reason, .. } => {
            format!("not a URL ({reason}): e.g. http://127.0.0.1:8000")
        }
        EndpointError::Unusable { reason, .. } => reason.to_owned(),
    })
}

/// True when `endpoint` is an http(s) URL whose host is this machine (127.0.0.0/8, ::1,
/// localhost); `None` (AWS) and anything unparsable are not.
pub fn is_local(endpoint: Option<&str>) -> bool {
    endpoint
        .and_then(|e| Url::parse(e.trim()).ok())
        .is_some_and(|url| is_loopback(&url))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The place a client reaches, as a checkpoint records it: `host:port`, with every name of this
/// machine as `localhost` and AWS's endpoint (`None`) as its regional host name. Never used to
/// tell whether two tables are one (see `identity`).
pub fn place(endpoint: Option<&str>, region: Option<&str>) -> String {
    let aws = || {
        format!(
            "dynamodb.{}.amazonaws.com:443",
            region.unwrap_or("(default)")
        )
    };
    let Some(url) = endpoint.and_then(|e| Url::parse(e.trim()).ok()) else {
        return endpoint.map_or_else(aws, |e| e.trim().to_ascii_lowercase());
    };
    let port = url.port_or_known_default().unwrap_or(0);
    let host = match url.host() {
        _ if is_loopback(&url) => "localhost".to_owned(),
        Some(host) => host.to_string().to_ascii_lowercase(),
        None => String::new(),
    };
    format!("{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_is_judged_by_the_parsed_host() {
        for local in [
            "http://127.0.0.1:8000",
            "http://localhost:4567/",
            "http://LOCALHOST:4567",
            "https://[::1]:9000",
            "http://127.3.2.1",
        ] {
            assert!(is_local(Some(local)), "{local}");
        }
        for remote in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://10.0.0.5:8000",
            "http://127.0.0.1.example.com",
            "http://localhost:1@192.0.2.2:9101",
            "http://localhost@192.0.2.2",
            "http://192.0.2.2/localhost",
            "http://192.0.2.2#@localhost",
            "not a url",
            "",
        ] {
            assert!(!is_local(Some(remote)), "{remote}");
        }
        assert!(!is_local(None));
    }

    #[test]
    fn unusable_endpoints_name_the_setting_and_what_to_fix() {
        let err = check("--replica-endpoint-url", "").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--replica-endpoint-url is empty"),
            "{err}"
        );
        let err = check("--endpoint-url", "localhost:8000").unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        let err = check("X", "http://localhost:1@192.0.2.2:9101").unwrap_err();
        assert!(err.to_string().contains("no user name"), "{err}");
        let err = check("X", "http://").unwrap_err();
        assert!(err.to_string().starts_with("X=\"http://\""), "{err}");
        assert_eq!(
            check("X", " http://127.0.0.1:8000 ").unwrap(),
            "http://127.0.0.1:8000"
        );
    }
}
