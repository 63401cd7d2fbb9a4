use std::error;
use std::fmt;

#[derive(Debug, Clone)]
pub struct ResponseContent<T> {
    pub status: reqwest::StatusCode,
    pub content: String,
    pub entity: Option<T>,
    /// tka: the answer's headers (Retry-After, ETag on a 412, X-Request-ID...).
    pub headers: reqwest::header::HeaderMap,
}

impl<T> ResponseContent<T> {
    /// tka: the RFC 9457 problem body of an error answer, whatever its status.
    pub fn problem(&self) -> Option<crate::models::Problem> {
        serde_json::from_str(&self.content).ok()
    }
}

impl<T> Error<T> {
    /// tka: the HTTP status of an error answer (None for transport and decoding errors).
    pub fn status(&self) -> Option<reqwest::StatusCode> {
        match self {
            Error::ResponseError(r) => Some(r.status),
            _ => None,
        }
    }

    /// tka: the RFC 9457 problem body of an error answer.
    pub fn problem(&self) -> Option<crate::models::Problem> {
        match self {
            Error::ResponseError(r) => r.problem(),
            _ => None,
        }
    }
}

/// tka: which answers are retried and how long to wait. Only GET/HEAD, and requests carrying an
/// `Idempotency-Key`, are ever retried: repeating anything else could apply a change twice.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retrying off).
    pub max_retries: u32,
    pub statuses: Vec<u16>,
    /// Wait when the answer has no Retry-After.
    pub default_delay: std::time::Duration,
    /// Never wait longer than this for one retry.
    pub max_delay: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            statuses: vec![429, 503],
            default_delay: std::time::Duration::from_millis(500),
            max_delay: std::time::Duration::from_secs(30),
        }
    }
}

/// tka: send a request, retrying it on the policy's statuses when that is safe.
pub(crate) async fn execute(configuration: &configuration::Configuration, req: reqwest::Request) -> Result<reqwest::Response, reqwest::Error> {
    let policy = &configuration.retry;
    let safe = matches!(*req.method(), reqwest::Method::GET | reqwest::Method::HEAD)
        || req.headers().contains_key("Idempotency-Key");
    let mut attempt = 0;
    let mut next = req;
    loop {
        let retry = if safe && attempt < policy.max_retries { next.try_clone() } else { None };
        let resp = configuration.client.execute(next).await?;
        let Some(again) = retry else { return Ok(resp) };
        if !policy.statuses.contains(&resp.status().as_u16()) {
            return Ok(resp);
        }
        let delay = resp.headers().get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs)
            .unwrap_or(policy.default_delay)
            .min(policy.max_delay);
        drop(resp);
        tokio::time::sleep(delay).await;
        attempt += 1;
        next = again;
    }
}

#[derive(Debug)]
pub enum Error<T> {
    Reqwest(reqwest::Error),
    Serde(serde_json::Error),
    Io(std::io::Error),
    ResponseError(ResponseContent<T>),
}

impl <T> fmt::Display for Error<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (module, e) = match self {
            Error::Reqwest(e) => ("reqwest", e.to_string()),
            Error::Serde(e) => ("serde", e.to_string()),
            Error::Io(e) => ("IO", e.to_string()),
            Error::ResponseError(e) => ("response", format!("status code {}", e.status)),
        };
        write!(f, "error in {}: {}", module, e)
    }
}

impl <T: fmt::Debug> error::Error for Error<T> {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        Some(match self {
            Error::Reqwest(e) => e,
            Error::Serde(e) => e,
            Error::Io(e) => e,
            Error::ResponseError(_) => return None,
        })
    }
}

impl <T> From<reqwest::Error> for Error<T> {
    fn from(e: reqwest::Error) -> Self {
        Error::Reqwest(e)
    }
}

impl <T> From<serde_json::Error> for Error<T> {
    fn from(e: serde_json::Error) -> Self {
        Error::Serde(e)
    }
}

impl <T> From<std::io::Error> for Error<T> {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

pub fn urlencode<T: AsRef<str>>(s: T) -> String {
    ::url::form_urlencoded::byte_serialize(s.as_ref().as_bytes()).collect()
}

pub fn parse_deep_object(prefix: &str, value: &serde_json::Value) -> Vec<(String, String)> {
    if let serde_json::Value::Object(object) = value {
        let mut params = vec![];

        for (key, value) in object {
            match value {
                serde_json::Value::Object(_) => params.append(&mut parse_deep_object(
                    &format!("{}[{}]", prefix, key),
                    value,
                )),
                serde_json::Value::Array(array) => {
                    for (i, value) in array.iter().enumerate() {
                        params.append(&mut parse_deep_object(
                            &format!("{}[{}][{}]", prefix, key, i),
                            value,
                        ));
                    }
                },
                serde_json::Value::String(s) => params.push((format!("{}[{}]", prefix, key), s.clone())),
                _ => params.push((format!("{}[{}]", prefix, key), value.to_string())),
            }
        }

        return params;
    }

    unimplemented!("Only objects are supported with style=deepObject")
}

/// Internal use only
/// A content type supported by this client.
#[allow(dead_code)]
enum ContentType {
    Json,
    Text,
    Unsupported(String)
}

impl From<&str> for ContentType {
    fn from(content_type: &str) -> Self {
        if content_type.starts_with("application") && content_type.contains("json") {
            return Self::Json;
        } else if content_type.starts_with("text/plain") {
            return Self::Text;
        } else {
            return Self::Unsupported(content_type.to_string());
        }
    }
}

pub mod alphabet_api;
pub mod beats_api;
pub mod commands_api;
pub mod events_api;
pub mod health_api;
pub mod pictures_api;
pub mod sequences_api;
pub mod status_api;

pub mod configuration;
