//! How a domain failure (`FailureReason::DomainSpecific(code, message)`) meets WIT.
//!
//! A function whose one result is `result<T, domain-error>`, where `domain-error` is a record
//! `{ code: u32, message: string }` (as `exorun:apps/types` declares it), raises a domain failure
//! by returning `err`. Over neorpc:
//!
//! - the server turns that `err` into a `Failure` frame carrying `DomainSpecific(code, message)`;
//! - `Client::call` returns it as `client::Error::Failed(DomainSpecific(code, message))`;
//! - a guest that imports the function remotely receives `err(domain-error)` with the same code
//!   and message, exactly as if the call had been local.
//!
//! Any other failure of a remote call (a trap, a timeout, a disconnect, a domain failure the
//! import's type cannot express) makes the importing guest trap.

use neorpc::FailureReason;
use neorpc::schema::{Field, Type};
use wasmtime::component::Val;

/// Whether `results` is exactly one `result<_, domain-error>`.
pub fn is_domain_result(results: &[Type]) -> bool {
    let [Type::Result { err: Some(err), .. }] = results else {
        return false;
    };
    let Type::Record(fields) = err.as_ref() else {
        return false;
    };
    matches!(fields.as_slice(), [
        Field { name: code, ty: Type::U32 },
        Field { name: message, ty: Type::String },
    ] if code == "code" && message == "message")
}

/// The domain failure a returned value raises, if it is `err(domain-error)`.
pub fn failure_of(results: &[Val]) -> Option<FailureReason> {
    let [Val::Result(Err(Some(err)))] = results else {
        return None;
    };
    let Val::Record(fields) = err.as_ref() else {
        return None;
    };
    let [(_, Val::U32(code)), (_, Val::String(message))] = fields.as_slice() else {
        return None;
    };
    Some(FailureReason::DomainSpecific(*code, message.clone()))
}

/// The value a guest receives for a domain failure: `err(domain-error { code, message })`.
pub fn err_value(code: u32, message: &str) -> Val {
    let record = Val::Record(vec![
        ("code".to_owned(), Val::U32(code)),
        ("message".to_owned(), Val::String(message.to_owned())),
    ]);
    Val::Result(Err(Some(Box::new(record))))
}
