//! What a server offers, and how its methods are named on the wire.
//!
//! A server sends its [`Offer`] (the schemas of the interfaces it exposes, by target name) in
//! its `Hello`; a caller reads it back ([`offer_of`]) to check its contracts before the first
//! call: a remote link once, a session on every connection. A `Call` names its method
//! `interface#function` ([`method_name`]).

use std::collections::BTreeMap;

use neopack::{Decoder, Encoder};
use neorpc::schema::{self, InterfaceSchema};

use crate::client::PeerHello;

/// The method name a `Call` frame carries: `interface#function`.
pub fn method_name(interface: &str, function: &str) -> String {
    format!("{interface}#{function}")
}

/// The interface a method name ([`method_name`]) belongs to; the whole name if it has no `#`.
pub(crate) fn interface_of(method: &str) -> &str {
    method
        .split_once('#')
        .map_or(method, |(interface, _)| interface)
}

/// What a server exposes, by target name: sent in `Hello`, so that a caller can check its
/// contract before the first call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    pub targets: BTreeMap<String, Vec<InterfaceSchema>>,
}

impl Offer {
    /// The offer as one neopack value: `list[target, interfaces, target, interfaces, ...]`.
    pub fn encode(&self) -> Result<Vec<u8>, neorpc::Error> {
        let mut enc = Encoder::new();
        enc.list_begin()?;
        for (target, interfaces) in &self.targets {
            enc.str(target)?;
            schema::encode_interfaces(&mut enc, interfaces)?;
        }
        enc.list_end()?;
        Ok(enc.into_bytes()?)
    }

    /// Reads an offer from a peer's `Hello`; the bytes are hostile.
    pub fn decode(bytes: &[u8]) -> Result<Offer, neorpc::Error> {
        let mut dec = Decoder::new(bytes);
        let seq = dec.list()?;
        let mut targets = BTreeMap::new();
        for _ in 0..seq.count / 2 {
            let target = dec.str()?.to_owned();
            let interfaces = schema::decode_interfaces(dec.skip()?)?;
            targets.insert(target, interfaces);
        }
        dec.end(seq)?;
        dec.finish()?;
        Ok(Offer { targets })
    }

    /// The schema of `interface` as served under `target`.
    pub fn interface(&self, target: &str, interface: &str) -> Option<&InterfaceSchema> {
        self.targets
            .get(target)?
            .iter()
            .find(|i| i.name == interface)
    }
}

/// The offer in a peer's `Hello`, if we speak its protocol version and it decodes.
pub(crate) fn offer_of(hello: &PeerHello) -> Result<Offer, String> {
    neorpc::frame::check_version(hello.version).map_err(|e| e.to_string())?;
    Offer::decode(&hello.offer).map_err(|e| format!("malformed offer: {e}"))
}
