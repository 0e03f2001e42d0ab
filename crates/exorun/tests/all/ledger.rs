//! The Ledger: schemas read from components; contracts enforced at link time.

use exorun::bind;
use exorun::builder::{self, InstanceBuilder, Linkable};
use exorun::ledger::{self, Side};
use exorun::runtime::Runtime;
use neorpc::schema::{Field, SigMismatch, Type};

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
