//! The registry of reason codes that sockguard itself produces.
//!
//! A reason code is the snake_case word that names why a request was denied or failed. The same
//! word appears in the error body the client sees, in the audit log and (later) as a metrics
//! label, so there is exactly one table of them: this one. Codes chosen by a policy (for example
//! `privileged_container`) are free-form strings checked by [`is_valid_code`]; the codes below
//! are the ones the proxy emits on its own, each with the HTTP status it answers with.

use http::StatusCode;

/// A reason produced by sockguard, not by a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The policy's decision was undefined (no rule produced it).
    PolicyUndefined,
    /// The policy failed to evaluate, timed out, or returned a malformed decision.
    PolicyError,
    /// The request body exceeds the cap for its action.
    RequestBodyTooLarge,
    /// The request body could not be parsed (invalid JSON or encoding).
    RequestBodyInvalid,
    /// The request body holds two keys that the engine would read as one field.
    RequestBodyAmbiguous,
    /// The request path or query could be routed differently by the engine than it was read.
    RequestPathAmbiguous,
    /// A JSON response that must be redacted is larger than the redaction cap.
    ResponseTooLarge,
    /// A JSON response that must be redacted could not be parsed.
    ResponseInvalid,
    /// The upstream engine could not be reached.
    UpstreamUnreachable,
    /// The upstream engine did not answer in time.
    UpstreamTimeout,
    /// The request was throttled by a rate limit.
    RateLimited,
    /// The image named by the request failed the image-trust check.
    ImageUntrusted,
    /// The policy bundle failed signature verification.
    BundleUnverified,
    /// The resource is hidden from this caller by a visibility filter.
    ResourceHidden,
    /// An unexpected internal failure; the request was not forwarded.
    InternalError,
}

impl Reason {
    /// Every reason, for documentation and tests.
    pub const ALL: [Reason; 15] = [
        Reason::PolicyUndefined,
        Reason::PolicyError,
        Reason::RequestBodyTooLarge,
        Reason::RequestBodyInvalid,
        Reason::RequestBodyAmbiguous,
        Reason::RequestPathAmbiguous,
        Reason::ResponseTooLarge,
        Reason::ResponseInvalid,
        Reason::UpstreamUnreachable,
        Reason::UpstreamTimeout,
        Reason::RateLimited,
        Reason::ImageUntrusted,
        Reason::BundleUnverified,
        Reason::ResourceHidden,
        Reason::InternalError,
    ];

    /// The stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::PolicyUndefined => "policy_undefined",
            Reason::PolicyError => "policy_error",
            Reason::RequestBodyTooLarge => "request_body_too_large",
            Reason::RequestBodyInvalid => "request_body_invalid",
            Reason::RequestBodyAmbiguous => "request_body_ambiguous",
            Reason::RequestPathAmbiguous => "request_path_ambiguous",
            Reason::ResponseTooLarge => "response_too_large",
            Reason::ResponseInvalid => "response_invalid",
            Reason::UpstreamUnreachable => "upstream_unreachable",
            Reason::UpstreamTimeout => "upstream_timeout",
            Reason::RateLimited => "rate_limited",
            Reason::ImageUntrusted => "image_untrusted",
            Reason::BundleUnverified => "bundle_unverified",
            Reason::ResourceHidden => "resource_hidden",
            Reason::InternalError => "internal_error",
        }
    }

    /// The HTTP status a request denied for this reason gets.
    ///
    /// Client mistakes are 4xx, a broken policy or proxy is 500, an unavailable engine 502/504:
    /// the status tells an operator where to look before the message does.
    pub const fn status(self) -> StatusCode {
        match self {
            Reason::RequestBodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::RequestBodyInvalid | Reason::RequestBodyAmbiguous | Reason::RequestPathAmbiguous => {
                StatusCode::BAD_REQUEST
            }
            Reason::ImageUntrusted => StatusCode::FORBIDDEN,
            Reason::ResourceHidden => StatusCode::NOT_FOUND,
            Reason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reason::UpstreamUnreachable | Reason::ResponseInvalid => StatusCode::BAD_GATEWAY,
            Reason::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::PolicyUndefined
            | Reason::PolicyError
            | Reason::ResponseTooLarge
            | Reason::BundleUnverified
            | Reason::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Look a code up by its name.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether `code` is a well-formed reason code: lowercase ASCII letters, digits and `_`,
/// starting with a letter, at most 64 characters.
pub fn is_valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    matches!(chars.next(), Some('a'..='z'))
        && code.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_valid_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert!(is_valid_code(reason.code()), "{reason}");
            assert!(seen.insert(reason.code()), "duplicate {reason}");
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
        }
    }

    #[test]
    fn statuses_follow_the_fault() {
        assert_eq!(Reason::RequestBodyTooLarge.status(), 413);
        assert_eq!(Reason::RequestBodyAmbiguous.status(), 400);
        assert_eq!(Reason::RequestPathAmbiguous.status(), 400);
        assert_eq!(Reason::RequestBodyInvalid.status(), 400);
        assert_eq!(Reason::PolicyError.status(), 500);
        assert_eq!(Reason::PolicyUndefined.status(), 500);
        assert_eq!(Reason::UpstreamUnreachable.status(), 502);
        assert_eq!(Reason::UpstreamTimeout.status(), 504);
        assert_eq!(Reason::RateLimited.status(), 429);
        assert_eq!(Reason::ResourceHidden.status(), 404);
    }

    #[test]
    fn code_validation() {
        assert!(is_valid_code("privileged_container"));
        assert!(!is_valid_code("Privileged"));
        assert!(!is_valid_code("_x"));
        assert!(!is_valid_code(""));
        assert!(!is_valid_code("has space"));
        assert!(!is_valid_code(&"a".repeat(65)));
    }
}
