//! The Ledger: every interface a component imports or exports, with each function's parameter
//! and result types as [`neorpc::schema`] types, read once from the compiled component's type.
//!
//! Contracts are checked here, at link time and before any I/O: an importer's required
//! interface against what a target offers ([`check_contract`], which needs only schemas, so a
//! remote peer's schema from its `Hello` works as well as a local component's), and an interface
//! against the rules of a remote boundary ([`Interface::check_remote`]: no resources).

use std::collections::BTreeMap;
use std::fmt;

use neorpc::schema::{FuncSig, InterfaceSchema, SigMismatch};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentInstance, ComponentItem};

/// The name under which functions imported or exported directly by the world (outside any
/// interface) are kept.
pub const ROOT: &str = "";

/// Which side of a component an interface was looked up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Import,
    Export,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Side::Import => f.write_str("import"),
            Side::Export => f.write_str("export"),
        }
    }
}

/// A contract violation, found at link time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The component has no such interface on that side.
    #[error("interface `{interface}` not found among the component's {side}s")]
    InterfaceNotFound { interface: String, side: Side },
    /// The target's interface lacks a method the importer requires.
    #[error("interface `{interface}` has no method `{method}`")]
    MethodNotFound { interface: String, method: String },
    /// The target's method has a different signature than the importer requires.
    #[error("method `{method}` of `{interface}` does not match: {mismatch}")]
    SignatureMismatch {
        interface: String,
        method: String,
        mismatch: Box<SigMismatch>,
    },
    /// A resource type would cross a remote boundary.
    #[error(
        "interface `{interface}` cannot cross a remote boundary: method `{method}` uses resource `{resource}`"
    )]
    ResourceOnRemoteBoundary {
        interface: String,
        method: String,
        resource: String,
    },
    /// A method uses a type neorpc cannot describe (future, stream, ...).
    #[error("method `{method}` of `{interface}` is unsupported: {reason}")]
    Unsupported {
        interface: String,
        method: String,
        reason: String,
    },
}

/// One interface of a component.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    /// The fully qualified name and every function with a describable signature, sorted.
    pub schema: InterfaceSchema,
    /// The resource types the interface declares, sorted.
    pub resources: Vec<String>,
    /// Functions whose signature uses a type the schema cannot describe, with the reason.
    pub unsupported: BTreeMap<String, String>,
}

impl Interface {
    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// Whether the interface declares or uses resource types.
    pub fn has_resources(&self) -> bool {
        !self.resources.is_empty() || self.first_resource_use().is_some()
    }

    /// Refuses an interface that cannot cross a remote boundary: one whose functions take or
    /// return resources, or that declares resources (their constructors and methods), or whose
    /// functions use types the wire cannot carry.
    pub fn check_remote(&self) -> Result<(), Error> {
        if let Some((method, resource)) = self.first_resource_use() {
            return Err(Error::ResourceOnRemoteBoundary {
                interface: self.schema.name.clone(),
                method: method.to_owned(),
                resource: self.resource_named(method, resource),
            });
        }
        if let Some((method, reason)) = self.unsupported.iter().next() {
            return Err(Error::Unsupported {
                interface: self.schema.name.clone(),
                method: method.clone(),
                reason: reason.clone(),
            });
        }
        let Some(resource) = self.resources.first() else {
            return Ok(());
        };
        Err(Error::ResourceOnRemoteBoundary {
            interface: self.schema.name.clone(),
            method: String::new(),
            resource: resource.clone(),
        })
    }

    fn first_resource_use(&self) -> Option<(&str, &str)> {
        let mut funcs = self.schema.funcs.iter();
        funcs.find_map(|(name, sig)| Some((name.as_str(), sig.resource_name()?)))
    }

    /// The declared resource a method's handle most likely refers to: the one its name
    /// mentions (`[method]counter.incr`), else the only one declared, else the handle's name.
    fn resource_named(&self, method: &str, handle: &str) -> String {
        let mentioned = self.resources.iter().find(|r| mentions(method, r));
        let only = match self.resources.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        mentioned
            .or(only)
            .map_or_else(|| handle.to_owned(), Clone::clone)
    }
}

fn mentions(method: &str, resource: &str) -> bool {
    let Some((_, rest)) = method.split_once(']') else {
        return false;
    };
    rest == resource || rest.starts_with(&format!("{resource}."))
}

/// Checks that `offered` satisfies every function of `required`. Only the functions the
/// importer requires matter: a target may offer more.
pub fn check_contract(required: &InterfaceSchema, offered: &InterfaceSchema) -> Result<(), Error> {
    for (method, want) in &required.funcs {
        let Some(have) = offered.funcs.get(method) else {
            return Err(Error::MethodNotFound {
                interface: required.name.clone(),
                method: method.clone(),
            });
        };
        if let Some(mismatch) = want.mismatch(have) {
            return Err(Error::SignatureMismatch {
                interface: required.name.clone(),
                method: method.clone(),
                mismatch: Box::new(mismatch),
            });
        }
    }
    Ok(())
}

/// Every interface a component imports and exports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ledger {
    imports: BTreeMap<String, Interface>,
    exports: BTreeMap<String, Interface>,
}

impl Ledger {
    /// Reads the ledger from a compiled component's type.
    pub fn from_component(engine: &Engine, component: &Component) -> Ledger {
        let ty = component.component_type();
        let mut ledger = Ledger::default();
        for (name, item) in ty.imports(engine) {
            add_item(&mut ledger.imports, engine, name, &item.ty);
        }
        for (name, item) in ty.exports(engine) {
            add_item(&mut ledger.exports, engine, name, &item.ty);
        }
        ledger
    }

    /// The imported interface `name`.
    pub fn import(&self, name: &str) -> Result<&Interface, Error> {
        self.imports
            .get(name)
            .ok_or_else(|| Error::InterfaceNotFound {
                interface: name.to_owned(),
                side: Side::Import,
            })
    }

    /// The exported interface `name`.
    pub fn export(&self, name: &str) -> Result<&Interface, Error> {
        self.exports
            .get(name)
            .ok_or_else(|| Error::InterfaceNotFound {
                interface: name.to_owned(),
                side: Side::Export,
            })
    }

    /// Imported interfaces, sorted by name.
    pub fn imports(&self) -> impl Iterator<Item = &Interface> {
        self.imports.values()
    }

    /// Exported interfaces, sorted by name.
    pub fn exports(&self) -> impl Iterator<Item = &Interface> {
        self.exports.values()
    }

    /// Checks that `target` exports what this component's import `interface` requires.
    pub fn check_local(&self, interface: &str, target: &Ledger) -> Result<(), Error> {
        let required = self.import(interface)?;
        let offered = target.export(interface)?;
        check_contract(&required.schema, &offered.schema)
    }

    /// Checks that this component's import `interface` may be served by a remote peer.
    pub fn check_remote_import(&self, interface: &str) -> Result<&Interface, Error> {
        let required = self.import(interface)?;
        required.check_remote()?;
        Ok(required)
    }

    /// Checks that this component's export `interface` may be served to remote peers.
    pub fn check_remote_export(&self, interface: &str) -> Result<&Interface, Error> {
        let offered = self.export(interface)?;
        offered.check_remote()?;
        Ok(offered)
    }
}

fn add_item(
    side: &mut BTreeMap<String, Interface>,
    engine: &Engine,
    name: &str,
    item: &ComponentItem,
) {
    match item {
        ComponentItem::ComponentInstance(instance) => {
            let interface = read_interface(engine, name, instance);
            side.insert(name.to_owned(), interface);
        }
        ComponentItem::ComponentFunc(func) => {
            let root = side.entry(ROOT.to_owned()).or_default();
            add_func(root, name, func);
        }
        ComponentItem::Resource(_) => {
            let root = side.entry(ROOT.to_owned()).or_default();
            root.resources.push(name.to_owned());
        }
        _ => {}
    }
}

fn read_interface(engine: &Engine, name: &str, instance: &ComponentInstance) -> Interface {
    let mut interface = Interface::default();
    interface.schema.name = name.to_owned();
    for (item_name, item) in instance.exports(engine) {
        match &item.ty {
            ComponentItem::ComponentFunc(func) => add_func(&mut interface, item_name, func),
            ComponentItem::Resource(_) => interface.resources.push(item_name.to_owned()),
            _ => {}
        }
    }
    interface.resources.sort();
    interface
}

fn add_func(
    interface: &mut Interface,
    name: &str,
    func: &wasmtime::component::types::ComponentFunc,
) {
    match neorpc::codec::func_sig(func) {
        Ok(sig) => {
            interface.schema.funcs.insert(name.to_owned(), sig);
        }
        Err(e) => {
            interface.unsupported.insert(name.to_owned(), e.to_string());
        }
    }
}

/// The signature of `method` in `interface`, for callers that already hold an [`Interface`].
pub fn method<'a>(interface: &'a Interface, method: &str) -> Result<&'a FuncSig, Error> {
    interface
        .schema
        .funcs
        .get(method)
        .ok_or_else(|| Error::MethodNotFound {
            interface: interface.schema.name.clone(),
            method: method.to_owned(),
        })
}
