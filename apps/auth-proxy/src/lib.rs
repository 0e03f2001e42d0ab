//! `auth-proxy`: exports `auth` by forwarding every call to the imported `auth`, so that a
//! domain failure raised two hops away (client → proxy → server) can be checked for fidelity.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/auth-proxy",
    generate_all,
});

use exorun::apps::auth;
use exorun::apps::types::DomainError;
use exports::exorun::apps::auth::Guest;

struct Component;

impl Guest for Component {
    fn login(user: String, password: String) -> Result<String, DomainError> {
        auth::login(&user, &password)
    }
}

export!(Component);
