//! The Ledger: schemas read from components; contracts enforced at link time.

use std::sync::Arc;

use exorun::bind;
use exorun::builder::{self, InstanceBuilder, Linkable};
use exorun::ledger::{self, Side};
use exorun::runtime::Runtime;
use neorpc::schema::{Field, FuncSig, SigMismatch, Type};
use wasmtime::component::Component;

use crate::support::{self, apps};

/// Links `client`'s import `interface` to an instance of `server` and returns the error.
async fn link_error(
    client: &str,
    interface: &str,
    server: &str,
) -> anyhow::Result<(Runtime, builder::Error)> {
    let rt = support::runtime()?;
    let target = support::instantiate(&rt, server).await?;
    let instances_before = rt.instance_ids();
    let linked = support::instantiate_linked(&rt, client, interface, Linkable::Local(target)).await;
    let Err(err) = linked else {
        anyhow::bail!("{client} linked to {server}");
    };
    assert_eq!(
        rt.instance_ids(),
        instances_before,
        "an instance was created"
    );
    let err = err.downcast::<builder::Error>()?;
    Ok((rt, err))
}

fn contract(err: builder::Error) -> anyhow::Result<(String, ledger::Error)> {
    let builder::Error::Bind {
        interface,
        cause: bind::Error::Contract(contract),
    } = err
    else {
        anyhow::bail!("expected a contract violation, got {err}");
    };
    Ok((interface, contract))
}

#[tokio::test]
async fn schemas_describe_imports_and_exports() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = rt.app(support::register(&rt, "calc-server")?)?;
    let calc = server.ledger.export(&apps("calc"))?;
    let greet = ledger::method(calc, "greet")?;
    let person = Type::Record(vec![
        Field {
            name: "name".to_owned(),
            ty: Type::String,
        },
        Field {
            name: "age".to_owned(),
            ty: Type::U8,
        },
    ]);
    assert_eq!(greet.params, vec![("p".to_owned(), person)]);
    assert_eq!(greet.results, vec![Type::String]);
    let client = rt.app(support::register(&rt, "calc-client")?)?;
    let required = client.ledger.import(&apps("calc"))?;
    let methods: Vec<&str> = required.schema.funcs.keys().map(String::as_str).collect();
    assert_eq!(methods, ["add", "greet", "sum"]);
    assert!(client.ledger.import(&apps("runner")).is_err());
    Ok(())
}

#[tokio::test]
async fn a_target_without_the_interface_is_rejected() -> anyhow::Result<()> {
    let (_rt, err) = link_error("calc-client", &apps("calc"), "auth-server").await?;
    let (interface, violation) = contract(err)?;
    assert_eq!(interface, apps("calc"));
    let expected = ledger::Error::InterfaceNotFound {
        interface: apps("calc"),
        side: Side::Export,
    };
    assert_eq!(violation, expected);
    Ok(())
}

#[tokio::test]
async fn linking_an_interface_the_app_does_not_import_is_rejected() -> anyhow::Result<()> {
    let (_rt, err) = link_error("calc-client", &apps("auth"), "auth-server").await?;
    let (_, violation) = contract(err)?;
    let expected = ledger::Error::InterfaceNotFound {
        interface: apps("auth"),
        side: Side::Import,
    };
    assert_eq!(violation, expected);
    Ok(())
}

#[tokio::test]
async fn a_target_missing_a_method_is_rejected() -> anyhow::Result<()> {
    let (_rt, err) = link_error("calc-client", &apps("calc"), "calc-lite").await?;
    let (_, violation) = contract(err)?;
    let expected = ledger::Error::MethodNotFound {
        interface: apps("calc"),
        method: "sum".to_owned(),
    };
    assert_eq!(violation, expected);
    Ok(())
}

#[tokio::test]
async fn a_signature_mismatch_names_method_and_parameter() -> anyhow::Result<()> {
    let (_rt, err) = link_error("calc-client", &apps("calc"), "calc-skew").await?;
    let (_, violation) = contract(err)?;
    let message = violation.to_string();
    let ledger::Error::SignatureMismatch {
        method, mismatch, ..
    } = violation
    else {
        anyhow::bail!("expected a signature mismatch, got {violation}");
    };
    assert_eq!(method, "add");
    let SigMismatch::Param { index, name, at } = *mismatch else {
        anyhow::bail!("expected a parameter mismatch, got {mismatch}");
    };
    assert_eq!((index, name.as_str()), (0, "a"));
    assert_eq!((at.expected.as_str(), at.found.as_str()), ("s32", "s64"));
    assert!(
        message.contains("`add`") && message.contains("`a`"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn resources_are_refused_on_a_remote_boundary() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let counters = apps("counters");
    let client = rt.app(support::register(&rt, "counter-client")?)?;
    let server = rt.app(support::register(&rt, "counter-server")?)?;
    let expected = ledger::Error::ResourceOnRemoteBoundary {
        interface: counters.clone(),
        method: "[constructor]counter".to_owned(),
        resource: "counter".to_owned(),
    };
    let import = client.ledger.check_remote_import(&counters).err();
    assert_eq!(import, Some(expected.clone()));
    let export = server.ledger.check_remote_export(&counters).err();
    assert_eq!(export, Some(expected));

    let calc = rt.app(support::register(&rt, "calc-client")?)?;
    assert!(calc.ledger.check_remote_import(&apps("calc")).is_ok());
    Ok(())
}

#[tokio::test]
async fn resources_are_refused_on_a_local_link_too() -> anyhow::Result<()> {
    let (_rt, err) = link_error("counter-client", &apps("counters"), "counter-server").await?;
    let builder::Error::Bind {
        cause: bind::Error::ResourceUnsupported { interface },
        ..
    } = err
    else {
        anyhow::bail!("expected ResourceUnsupported, got {err}");
    };
    assert_eq!(interface, apps("counters"));
    Ok(())
}

#[tokio::test]
async fn an_unlinked_import_fails_before_instantiation() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let app = support::register(&rt, "calc-client")?;
    let err = InstanceBuilder::new(&rt, app).instantiate().await.err();
    let Some(builder::Error::Unlinked { app, message }) = err else {
        anyhow::bail!("expected Unlinked, got {err:?}");
    };
    assert_eq!(app, "calc-client");
    assert!(message.contains(&apps("calc")), "{message}");
    Ok(())
}

/// The refusal above is where users look for it: the README and ARCHITECTURE.md say that a
/// local link refuses resources, not only a remote one.
#[test]
fn the_docs_say_resources_cross_no_link() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for doc in ["README.md", "ARCHITECTURE.md"] {
        let text = std::fs::read_to_string(root.join(doc))?;
        for needed in ["ResourceUnsupported", "ResourceOnRemoteBoundary"] {
            assert!(text.contains(needed), "{doc} does not mention {needed}");
        }
    }
    Ok(())
}

/// An interface named `name` declaring `resources`, with `funcs`, each taking one parameter of
/// the type given.
fn interface(name: &str, resources: &[&str], funcs: &[(&str, Type)]) -> ledger::Interface {
    let mut interface = ledger::Interface::default();
    interface.schema.name = name.to_owned();
    interface.resources = resources.iter().map(|r| (*r).to_owned()).collect();
    for (func, ty) in funcs {
        let sig = FuncSig {
            params: vec![("x".to_owned(), ty.clone())],
            results: Vec::new(),
        };
        interface.schema.funcs.insert((*func).to_owned(), sig);
    }
    interface
}

/// The resource a remote boundary refuses `interface` for, and the method it names.
fn refused_resource(interface: &ledger::Interface) -> anyhow::Result<(String, String)> {
    let refused = interface.check_remote();
    let Err(ledger::Error::ResourceOnRemoteBoundary {
        method, resource, ..
    }) = refused
    else {
        anyhow::bail!("expected a resource refusal, got {refused:?}");
    };
    Ok((method, resource))
}

/// An interface uses resources if it declares one or if a function takes or returns a handle
/// (one declared elsewhere, as `wasi:cli/stdout` returns a stream of `wasi:io/streams`).
#[test]
fn resources_declared_or_used_both_count() {
    let declared = interface("i", &["r"], &[]);
    assert!(declared.has_resources());
    let used = interface("i", &[], &[("f", Type::Own("stream".to_owned()))]);
    assert!(used.has_resources());
    let neither = interface("i", &[], &[("f", Type::U32)]);
    assert!(!neither.has_resources());
    assert_eq!(neither.check_remote(), Ok(()));
}

/// A refusal names the declared resource the method's name mentions (as its constructor or one
/// of its methods), else the only one declared, else the handle's own name.
#[test]
fn a_refusal_names_the_resource_the_method_belongs_to() -> anyhow::Result<()> {
    let two = ["apple", "pear"];
    let handle = || Type::Borrow("handle-7".to_owned());
    let constructor = interface("i", &two, &[("[constructor]pear", handle())]);
    let expected = ("[constructor]pear".to_owned(), "pear".to_owned());
    assert_eq!(refused_resource(&constructor)?, expected);
    let method = interface("i", &two, &[("[method]pear.peel", handle())]);
    let expected = ("[method]pear.peel".to_owned(), "pear".to_owned());
    assert_eq!(refused_resource(&method)?, expected);
    // `pearl` is not `pear`, and a name without `]` mentions nothing.
    for func in ["[method]pearl.shine", "pear.peel"] {
        let unmentioned = interface("i", &two, &[(func, handle())]);
        let expected = (func.to_owned(), "handle-7".to_owned());
        assert_eq!(refused_resource(&unmentioned)?, expected);
    }
    let only = interface("i", &["apple"], &[("make", handle())]);
    let expected = ("make".to_owned(), "apple".to_owned());
    assert_eq!(refused_resource(&only)?, expected);
    // A resource declared and never used is refused too, with no method to name.
    let unused = interface("i", &["apple"], &[("f", Type::U32)]);
    let expected = (String::new(), "apple".to_owned());
    assert_eq!(refused_resource(&unused)?, expected);
    Ok(())
}

#[test]
fn an_interface_not_found_says_on_which_side() {
    let missing = |side| ledger::Error::InterfaceNotFound {
        interface: "i".to_owned(),
        side,
    };
    assert_eq!(
        missing(Side::Import).to_string(),
        "interface `i` not found among the component's imports"
    );
    assert_eq!(
        missing(Side::Export).to_string(),
        "interface `i` not found among the component's exports"
    );
}

/// `Ledger::check_local` is the check a local link makes, on two ledgers: the importer's
/// interface against the target's export of it.
#[tokio::test]
async fn check_local_compares_an_import_with_a_target_export() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let ledger_of = |world| -> anyhow::Result<Arc<ledger::Ledger>> {
        Ok(rt.app(support::register(&rt, world)?)?.ledger)
    };
    let (client, server, lite) = (
        ledger_of("calc-client")?,
        ledger_of("calc-server")?,
        ledger_of("calc-lite")?,
    );
    let calc = apps("calc");
    assert_eq!(client.check_local(&calc, &server), Ok(()));
    let missing = ledger::Error::MethodNotFound {
        interface: calc.clone(),
        method: "sum".to_owned(),
    };
    assert_eq!(client.check_local(&calc, &lite), Err(missing));
    let not_exported = ledger::Error::InterfaceNotFound {
        interface: calc.clone(),
        side: Side::Export,
    };
    assert_eq!(client.check_local(&calc, &client), Err(not_exported));
    Ok(())
}

/// `imports` and `exports` list the interfaces on each side, sorted by name.
#[tokio::test]
async fn a_ledger_lists_its_imports_and_exports() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let client = rt.app(support::register(&rt, "calc-client")?)?;
    let names = |interfaces: Vec<&ledger::Interface>| -> Vec<String> {
        interfaces.iter().map(|i| i.name().to_owned()).collect()
    };
    let imports = names(client.ledger.imports().collect());
    assert!(imports.contains(&apps("calc")), "{imports:?}");
    assert!(imports.is_sorted(), "{imports:?}");
    let exports = names(client.ledger.exports().collect());
    assert!(exports.contains(&apps("runner")), "{exports:?}");
    assert!(!exports.contains(&apps("calc")), "{exports:?}");
    Ok(())
}

/// A component whose world imports a resource and a function, and exports a function, outside
/// any interface.
const WORLD_LEVEL_ITEMS: &str = r#"
(component
  (import "res" (type $res (sub resource)))
  (import "log" (func $log (param "m" u32)))
  (core module $m (func (export "f") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (export "f" (func $f))
)
"#;

/// Functions and resources outside any interface are kept under [`ledger::ROOT`].
#[test]
fn world_level_items_are_kept_under_the_root_name() -> anyhow::Result<()> {
    let engine = wasmtime::Engine::default();
    let bytes = wat::parse_str(WORLD_LEVEL_ITEMS)?;
    let component = Component::new(&engine, bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let ledger = ledger::Ledger::from_component(&engine, &component);
    let imported = ledger.import(ledger::ROOT)?;
    assert_eq!(imported.resources, ["res"]);
    let log = ledger::method(imported, "log")?;
    assert_eq!(log.params, [("m".to_owned(), Type::U32)]);
    let exported = ledger.export(ledger::ROOT)?;
    assert!(exported.resources.is_empty());
    assert_eq!(ledger::method(exported, "f")?.results, [Type::U32]);
    Ok(())
}
