//! The Authentication API: token endpoint, login core, sign-up, keys and discovery.

pub mod dbconnections;
pub mod discovery;
pub mod login;
pub mod mint;
pub mod revoke;
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
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
}
