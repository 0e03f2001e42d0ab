//! `auth-client`: `auth-check.check` passes the imported `auth.login` result through unchanged.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/auth-client",
    generate_all,
});

use exorun::apps::auth;
use exorun::apps::types::DomainError;
use exports::exorun::apps::auth_check::Guest;

struct Component;

impl Guest for Component {
    fn check(user: String, password: String) -> Result<String, DomainError> {
        auth::login(&user, &password)
    }
}

export!(Component);
