//! The Authentication API: token endpoint, login core, sign-up, keys and discovery;
//! `/authorize`, login sessions and logout (the hosted pages: `crate::pages`).

pub mod authorize;
pub mod dbconnections;
pub mod discovery;
pub mod login;
pub mod logout;
pub mod mfa_api;
pub mod mint;
pub mod revoke;
pub mod session;
pub mod signup;
pub mod token;
pub mod userinfo;

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
        .route("/oauth/revoke", post(revoke::post_revoke))
        .route(
            "/userinfo",
            get(userinfo::get_userinfo).post(userinfo::post_userinfo),
        )
        .route("/dbconnections/signup", post(dbconnections::post_signup))
        .route(
            "/dbconnections/change_password",
            post(dbconnections::post_change_password),
        )
        .route("/mfa/authenticators", get(mfa_api::list_authenticators))
        .route(
            "/mfa/authenticators/{id}",
            axum::routing::delete(mfa_api::delete_authenticator),
        )
        .route("/mfa/associate", post(mfa_api::associate))
        .route("/mfa/challenge", post(mfa_api::challenge))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
}
