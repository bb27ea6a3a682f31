//! Who may use the registry, and for what (HTTP Basic authentication).
//!
//! Two kinds of callers: the **operator** (user [`OPERATOR`], its password
//! a setting; `rfq up` makes one at start and hands it to its own
//! components) may do everything; a **partner** (user: its name; password:
//! its registry secret from `rfq partners add`, checked by its SHA-256
//! digest through a [`PartnerDirectory`]) may register and read only the
//! subjects its [`Door`] holds, read schemas by id and the global level,
//! and set no level. Everything else is refused before a handler runs:
//! no or wrong credentials with 401 (`WWW-Authenticate: Basic`), another
//! partner's subject with 403 whether it exists or not (so existence does
//! not leak), a level with 403. Lists (`GET /subjects`, the subjects of an
//! id) show a partner its own subjects only.

use crate::RegistryError;
use axum::{
    extract::{RawPathParams, Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use rfq_core::{
    Door,
    auth::{ApiKey, KeyDigest, partners::PartnerDirectory},
};
use std::sync::Arc;

/// The operator's user name: not a valid partner name (it has a `-`), so
/// no partner can take it.
pub const OPERATOR: &str = "rfq-operator";

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator: everything.
    Operator,
    /// A partner: its door's subjects.
    Partner(Door),
}

impl Caller {
    /// Whether the caller may see and change `subject`.
    pub fn holds(&self, subject: &str) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Partner(door) => door.holds(subject),
        }
    }
}

/// The credentials the registry accepts.
#[derive(Clone)]
pub struct Access {
    /// The digest of the operator's password.
    operator: KeyDigest,
    /// Where partners' registry digests are looked up (cached by the
    /// caller: `rfq_core::auth::partners::CachedPartners`, so a rotated
    /// password works within a second and the old one stops then).
    partners: Arc<dyn PartnerDirectory>,
}

impl Access {
    /// The operator with `operator_password`, and the partners of `partners`.
    pub fn new(operator_password: &ApiKey, partners: Arc<dyn PartnerDirectory>) -> Access {
        Access {
            operator: operator_password.digest(),
            partners,
        }
    }

    /// The caller whose credentials `headers` carry.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, RegistryError> {
        let unauthorized = |why: &str| RegistryError::Unauthorized(why.to_owned());
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("this registry needs HTTP Basic credentials"));
        };
        let invalid = || unauthorized("the credentials are not valid");
        let value = value.to_str().map_err(|_| invalid())?;
        let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(invalid)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(invalid());
        }
        let decoded = B64.decode(encoded.trim()).map_err(|_| invalid())?;
        let text = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (user, password) = text.split_once(':').ok_or_else(invalid)?;
        let digest = ApiKey::parse(password).map_err(|_| invalid())?.digest();
        if user == OPERATOR {
            return match digest == self.operator {
                true => Ok(Caller::Operator),
                false => Err(invalid()),
            };
        }
        let known = self
            .partners
            .registry_password_is(user, &digest)
            .await
            .map_err(RegistryError::Unavailable)?;
        match (known, rfq_core::PartnerName::parse(user)) {
            (true, Ok(name)) => Ok(Caller::Partner(name.door())),
            _ => Err(invalid()),
        }
    }
}

/// What a partner may not do on a path (`route`), if anything.
fn refusal(caller: &Caller, method: &Method, route: &str, subject: Option<&str>) -> Option<String> {
    let Caller::Partner(door) = caller else {
        return None;
    };
    if route.starts_with("/config") && method != Method::GET {
        return Some("compatibility levels are set by the operator only".to_owned());
    }
    match subject {
        Some(subject) if !door.holds(subject) => Some(format!(
            "partner {} may use the subjects under {} only",
            door.partner(),
            door.prefix()
        )),
        _ => None,
    }
}

/// The middleware of a guarded router: authenticates, refuses what the
/// caller may not do, and hands the [`Caller`] to the handlers.
pub(crate) async fn guard(
    State(access): State<Access>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match access.caller(request.headers()).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let route = request.uri().path().to_owned();
    let subject = params
        .iter()
        .find(|(name, _)| *name == "subject")
        .map(|(_, value)| value);
    if let Some(why) = refusal(&caller, request.method(), &route, subject) {
        return RegistryError::Forbidden(why).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests;
