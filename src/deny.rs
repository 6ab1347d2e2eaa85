//! The one mapping from a denial or an error to what the client sees.
//!
//! Every refusal, whether a policy's deny or a failure of sockguard itself, becomes a [`Denial`]:
//! an HTTP status, a reason code and a message. [`Denial::response`] renders it in the engine's own
//! error shape, `{"message": "sockguard: <message> (<code>, request <id>)"}`, which every Docker
//! client prints (the CLI after `Error response from daemon:`).

use crate::input::body::BodyError;
use crate::input::path::PathError;
use crate::reason::Reason;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use std::borrow::Cow;

/// The header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-sockguard-request-id";

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Set when sockguard, not a policy, produced the denial.
    pub reason: Option<Reason>,
}

impl Denial {
    /// A deny decided by the policy.
    pub fn by_policy(code: Option<String>, message: Option<String>, status: StatusCode) -> Denial {
        Denial {
            status,
            code: code.map_or(Cow::Borrowed("policy_denied"), Cow::Owned),
            message: message.unwrap_or_else(|| "the request was denied by the policy".to_owned()),
            reason: None,
        }
    }

    /// A denial produced by sockguard itself.
    pub fn because(reason: Reason, message: impl Into<String>) -> Denial {
        Denial {
            status: reason.status(),
            code: Cow::Borrowed(reason.code()),
            message: message.into(),
            reason: Some(reason),
        }
    }

    /// Whether the audit log records this as `error` (something is broken) rather than `deny`.
    pub fn is_error(&self) -> bool {
        matches!(
            self.reason,
            Some(
                Reason::PolicyUndefined
                    | Reason::PolicyError
                    | Reason::UpstreamUnreachable
                    | Reason::UpstreamTimeout
                    | Reason::ResponseTooLarge
                    | Reason::ResponseInvalid
                    | Reason::BundleUnverified
                    | Reason::InternalError
            )
        )
    }

    /// The text of the error body's `message`.
    pub fn client_message(&self, request_id: &str) -> String {
        format!("sockguard: {} ({}, request {request_id})", self.message, self.code)
    }

    /// The response in the engine's error shape.
    pub fn response(&self, request_id: &str) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "message": self.client_message(request_id) }).to_string();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert(REQUEST_ID_HEADER, id);
        }
        response
    }
}

impl From<PathError> for Denial {
    fn from(e: PathError) -> Denial {
        Denial::because(Reason::RequestPathAmbiguous, format!("{e}; the engine could route it differently"))
    }
}

impl From<BodyError> for Denial {
    fn from(e: BodyError) -> Denial {
        match e {
            BodyError::Invalid(_) => Denial::because(Reason::RequestBodyInvalid, e.to_string()),
            BodyError::Ambiguous(_) => Denial::because(Reason::RequestBodyAmbiguous, e.to_string()),
            BodyError::Schemas(_) => Denial::because(Reason::InternalError, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_the_engine_error_shape() {
        let d = Denial::by_policy(
            Some("privileged_container".into()),
            Some("privileged containers are not allowed".into()),
            StatusCode::FORBIDDEN,
        );
        let response = d.response("b3f1");
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "b3f1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["message"],
            "sockguard: privileged containers are not allowed (privileged_container, request b3f1)"
        );
    }

    #[test]
    fn each_input_error_maps_to_its_reason_and_status() {
        let cases: Vec<(Denial, &str, u16)> = vec![
            (PathError::DotSegment.into(), "request_path_ambiguous", 400),
            (BodyError::Invalid("x".into()).into(), "request_body_invalid", 400),
            (BodyError::Ambiguous("HostConfig".into()).into(), "request_body_ambiguous", 400),
            (BodyError::Schemas("x").into(), "internal_error", 500),
            (Denial::because(Reason::RequestBodyTooLarge, "big"), "request_body_too_large", 413),
            (Denial::because(Reason::UpstreamUnreachable, "down"), "upstream_unreachable", 502),
            (Denial::because(Reason::UpstreamTimeout, "slow"), "upstream_timeout", 504),
            (Denial::because(Reason::PolicyError, "bad"), "policy_error", 500),
            (Denial::by_policy(None, None, StatusCode::FORBIDDEN), "policy_denied", 403),
        ];
        for (denial, code, status) in cases {
            assert_eq!(denial.code, code);
            assert_eq!(denial.status.as_u16(), status, "{code}");
        }
    }

    #[test]
    fn errors_are_told_apart_from_denials() {
        assert!(Denial::because(Reason::PolicyError, "x").is_error());
        assert!(Denial::because(Reason::UpstreamUnreachable, "x").is_error());
        assert!(!Denial::because(Reason::RequestBodyAmbiguous, "x").is_error());
        assert!(!Denial::by_policy(None, None, StatusCode::FORBIDDEN).is_error());
    }
}
