//! The Authentication API: token endpoint, keys and discovery; `/authorize`, login sessions
//! and logout (the hosted pages: `crate::pages`).

pub mod authorize;
pub mod discovery;
pub mod login;
pub mod logout;
pub mod session;
pub mod signup;
pub mod token;

use axum::{
    Router,
    routing::{get, post},
};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token::post_token))
        .route("/authorize", get(authorize::get_authorize))
        .route("/v2/logout", get(logout::v2_logout))
        .route("/oidc/logout", get(logout::oidc_logout))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
}
