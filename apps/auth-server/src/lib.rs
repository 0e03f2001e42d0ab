//! `auth-server`: a fixed user table behind `exorun:apps/auth`, one user per error code.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/auth-server",
    generate_all,
});

use exorun::apps::types::DomainError;
use exports::exorun::apps::auth::Guest;

struct Component;

impl Guest for Component {
    fn login(user: String, password: String) -> Result<String, DomainError> {
        match user.as_str() {
            "alice" => login_alice(&password),
            "bob" => Err(domain_error(423, "account bob is locked".into())),
            _ => Err(domain_error(404, format!("no such user: {user}"))),
        }
    }
}

fn login_alice(password: &str) -> Result<String, DomainError> {
    if password != "wonderland" {
        return Err(domain_error(401, "bad password for alice".into()));
    }
    Ok("token-alice".into())
}

fn domain_error(code: u32, message: String) -> DomainError {
    DomainError { code, message }
}

export!(Component);
